"""Roles and the permission registry: custom roles, built-ins, least privilege, scope."""

from __future__ import annotations

import uuid

import httpx
from admin_helpers import API, audit_rows, create_role, create_user, locs, login_as
from conftest import Org, login

from relaydesk.kit.db import Database

PW = "a long enough password"


async def test_permission_registry(client: httpx.AsyncClient, org_a: Org) -> None:
    r = await client.get(f"{API}/permissions", headers=await login(client, org_a, "supervisor"))
    assert r.status_code == 200
    items = {p["name"]: p["description"] for p in r.json()["items"]}
    assert items["users.manage"].startswith("Create, change")
    assert "customers.pii.view" in items
    assert r.json()["next_cursor"] is None
    r = await client.get(f"{API}/permissions", headers=await login(client, org_a, "agent"))
    assert r.status_code == 403


async def test_builtin_roles_are_listed_and_read_only(
    client: httpx.AsyncClient, org_a: Org
) -> None:
    owner = await login(client, org_a, "owner")
    r = await client.get(f"{API}/roles", headers=owner)
    roles = {x["name"]: x for x in r.json()["items"]}
    assert set(roles) == {"owner", "admin", "supervisor", "agent", "read-only"}
    assert all(x["builtin"] for x in roles.values())
    assert roles["owner"]["permissions"] == ["*"]
    agent_id = roles["agent"]["id"]
    assert (await client.get(f"{API}/roles/{agent_id}", headers=owner)).json()["name"] == "agent"

    for body in ({"name": "helper"}, {"permissions": ["users.read"]}):
        r = await client.patch(f"{API}/roles/{agent_id}", headers=owner, json=body)
        assert r.status_code == 409
        assert "built-in" in r.json()["error"]["message"]
    r = await client.delete(f"{API}/roles/{agent_id}", headers=owner)
    assert r.status_code == 409


async def test_custom_role_lifecycle_is_audited(
    client: httpx.AsyncClient, db: Database, org_a: Org
) -> None:
    admin = await login(client, org_a, "admin")
    role = await create_role(client, admin, "billing", ["customers.read", "conversations.read"])
    assert role["builtin"] is False
    assert role["scope"] == "tenant"
    [created] = await audit_rows(db, org_a.id, "role.created")
    assert created.details["added"] == ["conversations.read", "customers.read"]
    assert created.target_id == role["id"]

    r = await client.patch(
        f"{API}/roles/{role['id']}", headers=admin,
        json={"name": "billing-team", "permissions": ["customers.read", "customers.write"]},
    )
    assert r.status_code == 200, r.text
    assert r.json()["permissions"] == ["customers.read", "customers.write"]
    [updated] = await audit_rows(db, org_a.id, "role.updated")
    assert updated.details["added"] == ["customers.write"]
    assert updated.details["removed"] == ["conversations.read"]
    assert updated.details["name"] == {"before": "billing", "after": "billing-team"}

    dup = await client.post(
        f"{API}/roles", headers=admin, json={"name": "billing-team", "permissions": []}
    )
    assert dup.status_code == 409

    # a role still held by someone cannot go away
    await create_user(client, admin, "bill@acme.example.com", PW, ["billing-team"])
    r = await client.delete(f"{API}/roles/{role['id']}", headers=admin)
    assert r.status_code == 409
    assert "1 user" in r.json()["error"]["message"]
    bill = (await client.get(f"{API}/users?q=bill@", headers=admin)).json()["items"][0]
    await client.patch(f"{API}/users/{bill['id']}", headers=admin, json={"roles": []})
    assert (await client.delete(f"{API}/roles/{role['id']}", headers=admin)).status_code == 204
    assert (await client.get(f"{API}/roles/{role['id']}", headers=admin)).status_code == 404
    [deleted] = await audit_rows(db, org_a.id, "role.deleted")
    assert deleted.details["removed"] == ["customers.read", "customers.write"]


async def test_unknown_permissions_are_listed(client: httpx.AsyncClient, org_a: Org) -> None:
    r = await client.post(
        f"{API}/roles", headers=await login(client, org_a, "owner"),
        json={"name": "odd", "permissions": ["users.read", "users.fly", "teleport"]},
    )
    assert r.status_code == 422
    assert "users.fly" in r.json()["error"]["message"]
    assert "teleport" in r.json()["error"]["message"]
    assert locs(r) == [["body", "permissions", 1], ["body", "permissions", 2]]
    r = await client.post(
        f"{API}/roles", headers=await login(client, org_a, "owner"),
        json={"name": "odd", "permissions": [], "scope": "galaxy"},
    )
    assert r.status_code == 422
    assert locs(r) == [["body", "scope"]]


async def test_least_privilege_on_roles(
    client: httpx.AsyncClient, db: Database, org_a: Org
) -> None:
    admin = await login(client, org_a, "admin")
    r = await client.post(
        f"{API}/roles", headers=admin,
        json={"name": "peeker", "permissions": ["customers.read", "customers.pii.view"]},
    )
    assert r.status_code == 403
    assert r.json()["error"]["details"] == {"missing": ["customers.pii.view"]}
    owner_made = await create_role(
        client, await login(client, org_a, "owner"), "privacy", ["customers.pii.view"]
    )
    # admin can neither widen a role beyond their own permissions nor touch one that already is
    r = await client.patch(
        f"{API}/roles/{owner_made['id']}", headers=admin, json={"permissions": []}
    )
    assert r.status_code == 403
    r = await client.delete(f"{API}/roles/{owner_made['id']}", headers=admin)
    assert r.status_code == 403
    assert len(await audit_rows(db, org_a.id, "role.created")) == 1


async def test_only_role_managers_write_roles(client: httpx.AsyncClient, org_a: Org) -> None:
    sup = await login(client, org_a, "supervisor")
    assert (await client.get(f"{API}/roles", headers=sup)).status_code == 200
    r = await client.post(f"{API}/roles", headers=sup, json={"name": "x", "permissions": []})
    assert r.status_code == 403
    assert (await client.get(f"{API}/roles", headers=await login(client, org_a, "agent"))
            ).status_code == 403


async def test_other_tenants_roles_are_not_found(
    client: httpx.AsyncClient, org_a: Org, org_b: Org
) -> None:
    foreign = await create_role(client, await login(client, org_b, "owner"), "globex-only", [])
    owner = await login(client, org_a, "owner")
    url = f"{API}/roles/{foreign['id']}"
    assert (await client.get(url, headers=owner)).status_code == 404
    assert (await client.patch(url, headers=owner, json={"name": "mine"})).status_code == 404
    assert (await client.delete(url, headers=owner)).status_code == 404
    assert (await client.get(f"{API}/roles/{uuid.uuid4()}", headers=owner)).status_code == 404
    # nor can another tenant's role be assigned by name
    r = await client.patch(
        f"{API}/users/{org_a.users['agent']}", headers=owner, json={"roles": ["globex-only"]}
    )
    assert r.status_code == 422
    assert locs(r) == [["body", "roles", 0]]


async def test_department_scoped_role_sees_only_its_department(
    client: httpx.AsyncClient, org_a: Org
) -> None:
    owner = await login(client, org_a, "owner")
    north = (await client.post(f"{API}/departments", headers=owner, json={"name": "North"})).json()
    south = (await client.post(f"{API}/departments", headers=owner, json={"name": "South"})).json()
    await create_role(client, owner, "team-lead", ["users.read", "users.manage", "roles.manage",
                                                    "customers.read"], scope="department")
    lead = await create_user(client, owner, "lead@acme.example.com", PW, ["team-lead"],
                             department_id=north["id"])
    mate = await create_user(client, owner, "mate@acme.example.com", PW, [],
                             department_id=north["id"])
    other = await create_user(client, owner, "other@acme.example.com", PW, [],
                              department_id=south["id"])
    headers = await login_as(client, "acme", "lead@acme.example.com", PW)

    r = await client.get(f"{API}/users", headers=headers)
    assert r.status_code == 200
    assert sorted(u["id"] for u in r.json()["items"]) == sorted([lead["id"], mate["id"]])
    assert (await client.get(f"{API}/users/{other['id']}", headers=headers)).status_code == 404
    r = await client.patch(f"{API}/users/{other['id']}", headers=headers,
                           json={"display_name": "x"})
    assert r.status_code == 404

    # users they create land in their department, never elsewhere
    r = await client.post(f"{API}/users", headers=headers, json={
        "email": "n2@acme.example.com", "display_name": "N2", "password": PW,
        "department_id": south["id"]})
    assert r.status_code == 403
    # they may hand out department roles within their permissions, never organisation-wide ones
    await create_role(client, owner, "viewer", ["users.read"], scope="tenant")
    await create_role(client, owner, "north-viewer", ["users.read"], scope="department")
    r = await client.patch(f"{API}/users/{mate['id']}", headers=headers, json={"roles": ["viewer"]})
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "least_privilege"
    assert "organisation-wide" in r.json()["error"]["message"]
    r = await client.patch(
        f"{API}/users/{mate['id']}", headers=headers, json={"roles": ["north-viewer"]}
    )
    assert r.status_code == 200
    assert r.json()["roles"] == ["north-viewer"]

    # nor widen their own role to the whole organisation
    own = (await client.get(f"{API}/roles", headers=owner)).json()["items"]
    lead_role = next(x for x in own if x["name"] == "team-lead")
    r = await client.patch(f"{API}/roles/{lead_role['id']}", headers=headers,
                           json={"scope": "tenant"})
    assert r.status_code == 403
    assert len((await client.get(f"{API}/users", headers=headers)).json()["items"]) == 2
    # an e-mail taken in another department is still taken (409, not a crash)
    r = await client.post(f"{API}/users", headers=headers, json={
        "email": "other@acme.example.com", "display_name": "O", "password": PW,
        "department_id": north["id"]})
    assert r.status_code == 409
