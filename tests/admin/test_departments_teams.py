"""Departments and teams: CRUD, tenant isolation, parent rules, membership."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from admin_helpers import API, audit_rows, locs
from conftest import Org, login

from relaydesk.kit.db import Database


async def _dept(
    client: httpx.AsyncClient, headers: dict[str, str], name: str, parent: str | None = None
) -> dict[str, Any]:
    r = await client.post(
        f"{API}/departments", headers=headers, json={"name": name, "parent_id": parent}
    )
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_department_lifecycle(client: httpx.AsyncClient, db: Database, org_a: Org) -> None:
    admin = await login(client, org_a, "admin")
    sales = await _dept(client, admin, "Sales")
    emea = await _dept(client, admin, "Sales EMEA", sales["id"])
    assert emea["parent_id"] == sales["id"]

    listing = await client.get(f"{API}/departments", headers=await login(client, org_a, "agent"))
    assert listing.status_code == 200
    assert [d["name"] for d in listing.json()["items"]] == ["Sales EMEA", "Sales"]
    children = await client.get(f"{API}/departments?parent_id={sales['id']}", headers=admin)
    assert [d["id"] for d in children.json()["items"]] == [emea["id"]]

    r = await client.patch(
        f"{API}/departments/{emea['id']}", headers=admin, json={"name": "EMEA", "parent_id": None}
    )
    assert r.status_code == 200
    assert (r.json()["name"], r.json()["parent_id"]) == ("EMEA", None)
    assert (await client.get(f"{API}/departments/{emea['id']}", headers=admin)).json()[
        "name"
    ] == "EMEA"

    url = f"{API}/departments/{emea['id']}"
    assert (await client.delete(url, headers=admin)).status_code == 204
    assert (await client.get(url, headers=admin)).status_code == 404
    counts = {
        a: len(await audit_rows(db, org_a.id, a))
        for a in ("department.created", "department.updated", "department.deleted")
    }
    assert counts == {"department.created": 2, "department.updated": 1, "department.deleted": 1}


async def test_department_rules(client: httpx.AsyncClient, org_a: Org, org_b: Org) -> None:
    admin = await login(client, org_a, "admin")
    top = await _dept(client, admin, "Support")
    mid = await _dept(client, admin, "Support L2", top["id"])
    low = await _dept(client, admin, "Support L3", mid["id"])

    dup = await client.post(f"{API}/departments", headers=admin, json={"name": "Support"})
    assert dup.status_code == 409

    cycle = await client.patch(
        f"{API}/departments/{top['id']}", headers=admin, json={"parent_id": low["id"]}
    )
    assert cycle.status_code == 422
    assert locs(cycle) == [["body", "parent_id"]]
    self_parent = await client.patch(
        f"{API}/departments/{top['id']}", headers=admin, json={"parent_id": top["id"]}
    )
    assert self_parent.status_code == 422

    foreign = await _dept(client, await login(client, org_b, "admin"), "Globex Support")
    r = await client.post(
        f"{API}/departments", headers=admin, json={"name": "X", "parent_id": foreign["id"]}
    )
    assert r.status_code == 422
    assert locs(r) == [["body", "parent_id"]]

    # a department with users or sub-departments cannot be deleted
    r = await client.patch(
        f"{API}/users/{org_a.users['agent']}", headers=admin, json={"department_id": low["id"]}
    )
    assert r.status_code == 200
    assert (await client.delete(f"{API}/departments/{low['id']}", headers=admin)).status_code == 409
    assert (await client.delete(f"{API}/departments/{top['id']}", headers=admin)).status_code == 409


async def test_other_tenants_departments_are_invisible(
    client: httpx.AsyncClient, org_a: Org, org_b: Org
) -> None:
    foreign = await _dept(client, await login(client, org_b, "admin"), "Globex Only")
    admin = await login(client, org_a, "admin")
    url = f"{API}/departments/{foreign['id']}"
    assert (await client.get(url, headers=admin)).status_code == 404
    assert (await client.patch(url, headers=admin, json={"name": "Mine"})).status_code == 404
    assert (await client.delete(url, headers=admin)).status_code == 404
    listing = await client.get(f"{API}/departments", headers=admin)
    assert listing.json()["items"] == []


async def test_agent_cannot_manage_structure(client: httpx.AsyncClient, org_a: Org) -> None:
    agent = await login(client, org_a, "agent")
    r = await client.post(f"{API}/departments", headers=agent, json={"name": "Shadow"})
    assert r.status_code == 403
    r = await client.post(f"{API}/teams", headers=agent, json={"name": "Shadow"})
    assert r.status_code == 403


async def test_team_lifecycle_and_members(
    client: httpx.AsyncClient, db: Database, org_a: Org
) -> None:
    admin = await login(client, org_a, "admin")
    dept = await _dept(client, admin, "Care")
    r = await client.post(
        f"{API}/teams", headers=admin,
        json={"name": "Night shift", "description": "22-06", "department_id": dept["id"]},
    )
    assert r.status_code == 201, r.text
    team = r.json()
    assert team["department_id"] == dept["id"]

    r = await client.patch(f"{API}/teams/{team['id']}", headers=admin, json={"name": "Nights"})
    assert r.json()["name"] == "Nights"
    filtered = await client.get(f"{API}/teams?department_id={dept['id']}", headers=admin)
    assert [t["name"] for t in filtered.json()["items"]] == ["Nights"]

    members = [str(org_a.users["agent"]), str(org_a.users["supervisor"])]
    r = await client.put(
        f"{API}/teams/{team['id']}/members", headers=admin, json={"user_ids": members}
    )
    assert r.status_code == 200, r.text
    assert r.json()["user_ids"] == members
    r = await client.get(
        f"{API}/teams/{team['id']}/members", headers=await login(client, org_a, "agent")
    )
    assert sorted(m["email"] for m in r.json()["items"]) == [
        "agent@acme.example.com", "supervisor@acme.example.com"
    ]
    [row] = await audit_rows(db, org_a.id, "team.members_changed")
    assert sorted(row.details["added"]) == sorted(members)

    # replacing the membership
    r = await client.put(
        f"{API}/teams/{team['id']}/members", headers=admin,
        json={"user_ids": [str(org_a.users["agent"])]},
    )
    r = await client.get(f"{API}/teams/{team['id']}/members", headers=admin)
    assert [m["id"] for m in r.json()["items"]] == [str(org_a.users["agent"])]

    assert (await client.delete(f"{API}/teams/{team['id']}", headers=admin)).status_code == 204
    assert (await client.get(f"{API}/teams/{team['id']}", headers=admin)).status_code == 404


async def test_team_members_must_belong_to_the_tenant(
    client: httpx.AsyncClient, org_a: Org, org_b: Org
) -> None:
    admin = await login(client, org_a, "admin")
    r = await client.post(f"{API}/teams", headers=admin, json={"name": "Escalations"})
    team = r.json()
    stranger, ghost = str(org_b.users["agent"]), str(uuid.uuid4())
    r = await client.put(
        f"{API}/teams/{team['id']}/members", headers=admin,
        json={"user_ids": [str(org_a.users["agent"]), stranger, ghost]},
    )
    assert r.status_code == 422
    assert locs(r) == [["body", "user_ids", 1], ["body", "user_ids", 2]]
    assert stranger in r.json()["error"]["message"] and ghost in r.json()["error"]["message"]
    members = await client.get(f"{API}/teams/{team['id']}/members", headers=admin)
    assert members.json()["items"] == []

    r = await client.post(
        f"{API}/teams", headers=admin, json={"name": "Bad", "department_id": str(uuid.uuid4())}
    )
    assert r.status_code == 422
    assert locs(r) == [["body", "department_id"]]
    assert (await client.post(f"{API}/teams", headers=admin, json={"name": "Escalations"})
            ).status_code == 409


async def test_other_tenants_teams_are_invisible(
    client: httpx.AsyncClient, org_a: Org, org_b: Org
) -> None:
    r = await client.post(
        f"{API}/teams", headers=await login(client, org_b, "admin"), json={"name": "Globex Team"}
    )
    foreign = r.json()["id"]
    admin = await login(client, org_a, "admin")
    calls: list[tuple[str, str, dict[str, Any] | None]] = [
        ("GET", f"/teams/{foreign}", None),
        ("PATCH", f"/teams/{foreign}", {"name": "Mine"}),
        ("DELETE", f"/teams/{foreign}", None),
        ("GET", f"/teams/{foreign}/members", None),
        ("PUT", f"/teams/{foreign}/members", {"user_ids": []}),
    ]
    for method, path, body in calls:
        r = await client.request(method, f"{API}{path}", headers=admin, json=body)
        assert r.status_code == 404, (method, path, r.text)
