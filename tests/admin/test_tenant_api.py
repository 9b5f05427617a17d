"""GET/PATCH /tenant: the organisation's settings and its IP allow-list."""

from __future__ import annotations

import httpx
from admin_helpers import API, audit_rows, locs
from conftest import Org, login

from relaydesk.kit.db import Database


async def test_read_own_organisation(client: httpx.AsyncClient, org_a: Org, org_b: Org) -> None:
    r = await client.get(f"{API}/tenant", headers=await login(client, org_a, "read-only"))
    assert r.status_code == 200
    body = r.json()
    assert body["id"] == str(org_a.id)
    assert body["slug"] == "acme"
    assert body["name"] == "Org acme"
    assert body["ip_allowlist"] == []
    assert body["created_at"]
    other = await client.get(f"{API}/tenant", headers=await login(client, org_b, "admin"))
    assert other.json()["slug"] == "globex"


async def test_agent_cannot_read_settings(client: httpx.AsyncClient, org_a: Org) -> None:
    r = await client.get(f"{API}/tenant", headers=await login(client, org_a, "agent"))
    assert r.status_code == 403
    assert r.json()["error"]["details"] == {"missing": ["tenant.read"]}


async def test_admin_renames_and_sets_allowlist(
    client: httpx.AsyncClient, db: Database, org_a: Org
) -> None:
    admin = await login(client, org_a, "admin")
    r = await client.patch(
        f"{API}/tenant", headers=admin,
        json={"name": "Acme Support", "ip_allowlist": ["127.0.0.0/8", "10.1.2.3", "10.9.9.9/16"]},
    )
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "Acme Support"
    # normalised: bare addresses become host networks, host bits are cleared
    assert r.json()["ip_allowlist"] == ["127.0.0.0/8", "10.1.2.3/32", "10.9.0.0/16"]
    assert (await client.get(f"{API}/tenant", headers=admin)).json()["name"] == "Acme Support"

    [row] = await audit_rows(db, org_a.id, "tenant.updated")
    assert (row.actor_type, row.actor_id) == ("user", str(org_a.users["admin"]))
    assert row.details["ip_allowlist"] == {
        "before": [], "after": ["127.0.0.0/8", "10.1.2.3/32", "10.9.0.0/16"]
    }
    assert row.details["name"] == {"before": "Org acme", "after": "Acme Support"}

    # clearing the list allows every address again
    r = await client.patch(f"{API}/tenant", headers=admin, json={"ip_allowlist": []})
    assert r.json()["ip_allowlist"] == []
    rows = await audit_rows(db, org_a.id, "tenant.updated")
    assert rows[-1].details["ip_allowlist"]["after"] == []


async def test_invalid_cidrs_are_located(client: httpx.AsyncClient, org_a: Org) -> None:
    admin = await login(client, org_a, "admin")
    r = await client.patch(
        f"{API}/tenant", headers=admin,
        json={"ip_allowlist": ["127.0.0.1/32", "not-an-ip", "300.1.1.1/8"]},
    )
    assert r.status_code == 422
    assert locs(r) == [["body", "ip_allowlist", 1], ["body", "ip_allowlist", 2]]
    assert "not-an-ip" in r.json()["error"]["message"]


async def test_allowlist_that_locks_out_the_caller_is_refused(
    client: httpx.AsyncClient, db: Database, org_a: Org
) -> None:
    admin = await login(client, org_a, "admin")
    r = await client.patch(f"{API}/tenant", headers=admin, json={"ip_allowlist": ["10.0.0.0/8"]})
    assert r.status_code == 422
    message = r.json()["error"]["message"]
    assert "lock you out" in message and "127.0.0.1" in message
    assert locs(r) == [["body", "ip_allowlist"]]
    assert (await client.get(f"{API}/tenant", headers=admin)).json()["ip_allowlist"] == []
    assert await audit_rows(db, org_a.id, "tenant.updated") == []


async def test_allowlist_takes_effect(client: httpx.AsyncClient, org_a: Org) -> None:
    admin = await login(client, org_a, "admin")
    r = await client.patch(f"{API}/tenant", headers=admin, json={"ip_allowlist": ["127.0.0.1"]})
    assert r.status_code == 200
    # the caller's address is allowed, so their session keeps working
    assert (await client.get(f"{API}/tenant", headers=admin)).status_code == 200


async def test_only_tenant_managers_change_settings(client: httpx.AsyncClient, org_a: Org) -> None:
    sup = await login(client, org_a, "supervisor")
    r = await client.patch(f"{API}/tenant", headers=sup, json={"name": "Hijacked"})
    assert r.status_code == 403
    r = await client.patch(
        f"{API}/tenant", headers=await login(client, org_a, "admin"), json={"slug": "other"}
    )
    assert r.status_code == 422
    assert locs(r) == [["body", "slug"]]
