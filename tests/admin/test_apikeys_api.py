"""API keys: created with a subset of the creator's permissions, shown once, revocable."""

from __future__ import annotations

import datetime as dt
import uuid

import httpx
from admin_helpers import API, audit_rows, locs
from conftest import Org, login

from relaydesk.kit.db import Database


async def test_key_is_shown_once_and_works_with_exactly_its_permissions(
    client: httpx.AsyncClient, db: Database, org_a: Org
) -> None:
    admin = await login(client, org_a, "admin")
    r = await client.post(
        f"{API}/api-keys", headers=admin,
        json={"name": "CRM sync", "permissions": ["users.read", "teams.read"]},
    )
    assert r.status_code == 201, r.text
    created = r.json()
    key = created["key"]
    assert key.startswith("rdk_")
    assert key.startswith(created["prefix"] + "_")
    assert len(created["prefix"]) == len("rdk_") + 8
    assert created["permissions"] == ["teams.read", "users.read"]
    assert created["created_by"] == str(org_a.users["admin"])
    assert created["revoked_at"] is None

    listing = await client.get(f"{API}/api-keys", headers=admin)
    assert listing.status_code == 200
    [item] = listing.json()["items"]
    assert item["id"] == created["id"] and item["prefix"] == created["prefix"]
    assert "key" not in item and "key_hash" not in item
    assert key not in listing.text
    assert key.split("_", 2)[2] not in listing.text

    for headers in ({"Authorization": f"Bearer {key}"}, {"X-API-Key": key}):
        assert (await client.get(f"{API}/users", headers=headers)).status_code == 200
        assert (await client.get(f"{API}/teams", headers=headers)).status_code == 200
        assert (await client.get(f"{API}/roles", headers=headers)).status_code == 403
        r = await client.post(f"{API}/users", headers=headers, json={
            "email": "bot@acme.example.com", "display_name": "Bot", "password": "x" * 12})
        assert r.status_code == 403
    me = await client.get(f"{API}/auth/me", headers={"X-API-Key": key})
    assert me.json()["kind"] == "api_key"
    assert me.json()["permissions"] == ["teams.read", "users.read"]
    used = (await client.get(f"{API}/api-keys", headers=admin)).json()["items"][0]
    assert used["last_used_at"] is not None and used["last_used_ip"] == "127.0.0.1"

    [row] = await audit_rows(db, org_a.id, "apikey.created")
    assert row.target_id == created["id"]
    assert row.details["permissions"] == ["teams.read", "users.read"]
    assert key not in str(row.details)

    revoke_url = f"{API}/api-keys/{created['id']}"
    assert (await client.delete(revoke_url, headers=admin)).status_code == 204
    for headers in ({"Authorization": f"Bearer {key}"}, {"X-API-Key": key}):
        r = await client.get(f"{API}/users", headers=headers)
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "invalid_api_key"
    revoked = (await client.get(f"{API}/api-keys", headers=admin)).json()["items"][0]
    assert revoked["revoked_at"] is not None
    assert len(await audit_rows(db, org_a.id, "apikey.revoked")) == 1
    # revoking twice is harmless and not audited again
    assert (await client.delete(revoke_url, headers=admin)).status_code == 204
    assert len(await audit_rows(db, org_a.id, "apikey.revoked")) == 1


async def test_key_cannot_exceed_its_creator(
    client: httpx.AsyncClient, db: Database, org_a: Org
) -> None:
    admin = await login(client, org_a, "admin")
    r = await client.post(f"{API}/api-keys", headers=admin, json={
        "name": "peek", "permissions": ["customers.read", "customers.pii.view"]})
    assert r.status_code == 403
    assert r.json()["error"]["details"] == {"missing": ["customers.pii.view"]}
    r = await client.post(f"{API}/api-keys", headers=await login(client, org_a, "owner"),
                          json={"name": "god", "permissions": ["users.read", "*"]})
    assert r.status_code == 422
    assert locs(r) == [["body", "permissions", 1]]
    assert await audit_rows(db, org_a.id, "apikey.created") == []


async def test_key_creation_needs_apikeys_manage(client: httpx.AsyncClient, org_a: Org) -> None:
    sup = await login(client, org_a, "supervisor")
    r = await client.post(f"{API}/api-keys", headers=sup,
                          json={"name": "mine", "permissions": ["users.read"]})
    assert r.status_code == 403
    assert (await client.get(f"{API}/api-keys", headers=sup)).status_code == 403


async def test_key_with_apikeys_manage_cannot_widen_itself(
    client: httpx.AsyncClient, org_a: Org
) -> None:
    admin = await login(client, org_a, "admin")
    r = await client.post(f"{API}/api-keys", headers=admin,
                          json={"name": "provisioner", "permissions": ["apikeys.manage"]})
    key = r.json()["key"]
    r = await client.post(f"{API}/api-keys", headers={"X-API-Key": key},
                          json={"name": "child", "permissions": ["users.read"]})
    assert r.status_code == 403
    r = await client.post(f"{API}/api-keys", headers={"X-API-Key": key},
                          json={"name": "clone", "permissions": ["apikeys.manage"]})
    assert r.status_code == 201
    assert r.json()["created_by"] is None


async def test_key_validation_names_fields(client: httpx.AsyncClient, org_a: Org) -> None:
    admin = await login(client, org_a, "admin")
    r = await client.post(f"{API}/api-keys", headers=admin,
                          json={"name": "", "permissions": ["users.read", "users.dance"]})
    assert r.status_code == 422
    assert locs(r) == [["body", "name"]]
    r = await client.post(f"{API}/api-keys", headers=admin,
                          json={"name": "k", "permissions": ["users.read", "users.dance"]})
    assert r.status_code == 422
    assert locs(r) == [["body", "permissions", 1]]
    r = await client.post(f"{API}/api-keys", headers=admin, json={
        "name": "k", "permissions": ["users.read"], "expires_at": "2030-01-01T00:00:00"})
    assert r.status_code == 422
    assert locs(r) == [["body", "expires_at"]]
    past = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).isoformat()
    r = await client.post(f"{API}/api-keys", headers=admin,
                          json={"name": "k", "permissions": ["users.read"], "expires_at": past})
    assert r.status_code == 422
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).isoformat()
    r = await client.post(f"{API}/api-keys", headers=admin,
                          json={"name": "k", "permissions": ["users.read"], "expires_at": future})
    assert r.status_code == 201
    assert r.json()["expires_at"] is not None


async def test_other_tenants_keys_are_not_found(
    client: httpx.AsyncClient, org_a: Org, org_b: Org
) -> None:
    r = await client.post(f"{API}/api-keys", headers=await login(client, org_b, "admin"),
                          json={"name": "globex", "permissions": ["users.read"]})
    foreign_id, foreign_key = r.json()["id"], r.json()["key"]
    admin = await login(client, org_a, "admin")
    assert (await client.delete(f"{API}/api-keys/{foreign_id}", headers=admin)).status_code == 404
    assert (await client.delete(f"{API}/api-keys/{uuid.uuid4()}", headers=admin)).status_code == 404
    assert (await client.get(f"{API}/api-keys", headers=admin)).json()["items"] == []
    # globex's key still works, and only ever sees globex
    r = await client.get(f"{API}/users", headers={"X-API-Key": foreign_key})
    assert r.status_code == 200
    assert {u["email"].split("@")[1] for u in r.json()["items"]} == {"globex.example.com"}
    r = await client.get(f"{API}/users/{org_a.users['agent']}", headers={"X-API-Key": foreign_key})
    assert r.status_code == 404
