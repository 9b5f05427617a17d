"""The users API: listing, creating, changing, unlocking, resetting passwords."""

from __future__ import annotations

import httpx
from admin_helpers import API, audit_rows, create_role, create_user, locs, login_as
from conftest import PASSWORD, Org, login

from relaydesk.kit.db import Database

NEW_PASSWORD = "another long passphrase"


async def test_list_users_masks_phone_without_pii_permission(
    client: httpx.AsyncClient, org_a: Org
) -> None:
    r = await client.get(f"{API}/users", headers=await login(client, org_a, "admin"))
    assert r.status_code == 200
    items = r.json()["items"]
    assert len(items) == 5
    agent = next(u for u in items if u["email"] == "agent@acme.example.com")
    assert agent["phone"] == "138****5678"
    assert agent["roles"] == ["agent"]
    assert agent["locked_until"] is None
    for secret in ("password_hash", "failed_logins"):
        assert secret not in agent
    # the owner holds customers.pii.view (through '*') and sees the clear number
    r = await client.get(
        f"{API}/users/{org_a.users['agent']}", headers=await login(client, org_a, "owner")
    )
    assert r.json()["phone"] == "13812345678"


async def test_filters_and_cursor_pages(client: httpx.AsyncClient, org_a: Org) -> None:
    admin = await login(client, org_a, "admin")

    async def emails(query: str) -> list[str]:
        r = await client.get(f"{API}/users?{query}", headers=admin)
        assert r.status_code == 200, r.text
        return sorted(u["email"] for u in r.json()["items"])

    assert await emails("q=SUPERV") == ["supervisor@acme.example.com"]
    assert await emails("q=read-only of") == ["read-only@acme.example.com"]
    assert await emails("role=owner") == ["owner@acme.example.com"]
    assert await emails("q=%25") == []  # LIKE wildcards are matched literally
    await client.patch(f"{API}/users/{org_a.users['agent']}", headers=admin,
                       json={"is_active": False})
    assert await emails("is_active=false") == ["agent@acme.example.com"]

    seen: list[str] = []
    url = f"{API}/users?limit=2"
    while url:
        page = (await client.get(url, headers=admin)).json()
        assert len(page["items"]) <= 2
        seen += [u["id"] for u in page["items"]]
        url = f"{API}/users?limit=2&cursor={page['next_cursor']}" if page["next_cursor"] else ""
    assert sorted(seen) == sorted(str(i) for i in org_a.users.values())


async def test_create_user_then_sign_in(
    client: httpx.AsyncClient, db: Database, org_a: Org
) -> None:
    admin = await login(client, org_a, "admin")
    user = await create_user(
        client, admin, "New.Agent@acme.example.com", NEW_PASSWORD, ["agent"], phone="13900001111"
    )
    assert user["email"] == "new.agent@acme.example.com"
    assert user["roles"] == ["agent"]
    assert user["phone"] == "139****1111"
    me = await client.get(
        f"{API}/auth/me", headers=await login_as(client, "acme", user["email"], NEW_PASSWORD)
    )
    assert "conversations.write" in me.json()["permissions"]
    [row] = [r for r in await audit_rows(db, org_a.id, "user.created")
             if r.target_id == user["id"]]
    assert row.actor_id == str(org_a.users["admin"])

    dup = await client.post(
        f"{API}/users", headers=admin,
        json={"email": user["email"], "display_name": "x", "password": NEW_PASSWORD},
    )
    assert dup.status_code == 409


async def test_create_user_validation_names_fields(client: httpx.AsyncClient, org_a: Org) -> None:
    admin = await login(client, org_a, "admin")
    r = await client.post(
        f"{API}/users", headers=admin,
        json={"email": "not an address", "display_name": "", "password": NEW_PASSWORD},
    )
    assert r.status_code == 422
    assert locs(r) == [["body", "email"], ["body", "display_name"]]
    r = await client.post(
        f"{API}/users", headers=admin,
        json={"email": "a@acme.example.com", "display_name": "A", "password": "short"},
    )
    assert r.status_code == 422
    assert locs(r) == [["body", "password"]]
    r = await client.post(
        f"{API}/users", headers=admin,
        json={"email": "a@acme.example.com", "display_name": "A", "password": NEW_PASSWORD,
              "roles": ["agent", "wizard"]},
    )
    assert r.status_code == 422
    assert locs(r) == [["body", "roles", 1]]


async def test_agent_cannot_create_users(client: httpx.AsyncClient, org_a: Org) -> None:
    r = await client.post(
        f"{API}/users", headers=await login(client, org_a, "agent"),
        json={"email": "x@acme.example.com", "display_name": "X", "password": NEW_PASSWORD},
    )
    assert r.status_code == 403
    assert r.json()["error"]["details"] == {"missing": ["users.manage"]}


async def test_other_tenants_users_are_not_found(
    client: httpx.AsyncClient, org_a: Org, org_b: Org
) -> None:
    admin = await login(client, org_a, "admin")
    foreign = org_b.users["agent"]
    assert (await client.get(f"{API}/users/{foreign}", headers=admin)).status_code == 404
    r = await client.patch(f"{API}/users/{foreign}", headers=admin, json={"is_active": False})
    assert r.status_code == 404
    assert (await client.post(f"{API}/users/{foreign}/unlock", headers=admin)).status_code == 404
    r = await client.post(
        f"{API}/users/{foreign}/password", headers=admin, json={"password": NEW_PASSWORD}
    )
    assert r.status_code == 404
    # and globex's agent can still sign in with the old password
    await login(client, org_b, "agent")


async def test_change_user_and_roles_is_audited(
    client: httpx.AsyncClient, db: Database, org_a: Org
) -> None:
    admin = await login(client, org_a, "admin")
    target = org_a.users["agent"]
    r = await client.patch(
        f"{API}/users/{target}", headers=admin,
        json={"display_name": "Agent Smith", "roles": ["agent", "supervisor"], "phone": None},
    )
    assert r.status_code == 200, r.text
    assert r.json()["display_name"] == "Agent Smith"
    assert r.json()["roles"] == ["agent", "supervisor"]
    assert r.json()["phone"] is None
    [row] = await audit_rows(db, org_a.id, "user.roles_changed")
    assert row.details == {"before": ["agent"], "after": ["agent", "supervisor"]}
    assert row.target_id == str(target)
    [upd] = await audit_rows(db, org_a.id, "user.updated")
    assert set(upd.details) == {"display_name", "phone"}


async def test_deactivation_signs_the_user_out(client: httpx.AsyncClient, org_a: Org) -> None:
    agent = await login(client, org_a, "agent")
    admin = await login(client, org_a, "admin")
    r = await client.patch(
        f"{API}/users/{org_a.users['agent']}", headers=admin, json={"is_active": False}
    )
    assert r.json()["is_active"] is False
    assert (await client.get(f"{API}/auth/me", headers=agent)).status_code == 401
    r = await client.post(f"{API}/auth/login", json={
        "tenant": "acme", "email": org_a.email("agent"), "password": PASSWORD})
    assert r.status_code == 401


async def test_unlock_lifts_a_lockout(client: httpx.AsyncClient, db: Database, org_a: Org) -> None:
    for _ in range(5):
        await client.post(f"{API}/auth/login", json={
            "tenant": "acme", "email": org_a.email("agent"), "password": "wrong password!"})
    locked = await client.post(f"{API}/auth/login", json={
        "tenant": "acme", "email": org_a.email("agent"), "password": PASSWORD})
    assert locked.json()["error"]["code"] == "account_locked"
    admin = await login(client, org_a, "admin")
    user = (await client.get(f"{API}/users/{org_a.users['agent']}", headers=admin)).json()
    assert user["locked_until"] is not None

    r = await client.post(f"{API}/users/{org_a.users['agent']}/unlock", headers=admin)
    assert r.status_code == 200
    assert r.json()["locked_until"] is None
    await login(client, org_a, "agent")
    [row] = await audit_rows(db, org_a.id, "user.unlocked")
    assert row.details == {"was_locked": True}


async def test_set_password_revokes_sessions(
    client: httpx.AsyncClient, db: Database, org_a: Org
) -> None:
    agent = await login(client, org_a, "agent")
    admin = await login(client, org_a, "admin")
    url = f"{API}/users/{org_a.users['agent']}/password"
    short = await client.post(url, headers=admin, json={"password": "short"})
    assert short.status_code == 422
    assert locs(short) == [["body", "password"]]

    r = await client.post(url, headers=admin, json={"password": NEW_PASSWORD})
    assert r.status_code == 204
    assert (await client.get(f"{API}/auth/me", headers=agent)).status_code == 401
    old = await client.post(f"{API}/auth/login", json={
        "tenant": "acme", "email": org_a.email("agent"), "password": PASSWORD})
    assert old.status_code == 401
    await login_as(client, "acme", org_a.email("agent"), NEW_PASSWORD)
    [row] = await audit_rows(db, org_a.id, "user.password_set")
    assert row.details == {"sessions_revoked": 1}


async def test_least_privilege_on_users(client: httpx.AsyncClient, org_a: Org) -> None:
    admin = await login(client, org_a, "admin")
    # admin lacks customers.pii.view and '*': cannot hand out the owner role ...
    r = await client.patch(
        f"{API}/users/{org_a.users['agent']}", headers=admin, json={"roles": ["owner"]}
    )
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "least_privilege"
    assert "*" in r.json()["error"]["details"]["missing"]
    # ... nor create an owner, nor manage the owner (password reset would be a takeover)
    r = await client.post(f"{API}/users", headers=admin, json={
        "email": "boss@acme.example.com", "display_name": "B", "password": NEW_PASSWORD,
        "roles": ["owner"]})
    assert r.status_code == 403
    owner = org_a.users["owner"]
    r = await client.post(f"{API}/users/{owner}/password", headers=admin,
                          json={"password": NEW_PASSWORD})
    assert r.status_code == 403
    r = await client.patch(f"{API}/users/{owner}", headers=admin, json={"is_active": False})
    assert r.status_code == 403
    await login(client, org_a, "owner")  # untouched


async def test_users_manager_without_roles_manage(
    client: httpx.AsyncClient, org_a: Org
) -> None:
    owner = await login(client, org_a, "owner")
    await create_role(client, owner, "hr", ["users.read", "users.manage"])
    await create_user(client, owner, "hr@acme.example.com", NEW_PASSWORD, ["hr"])
    hr = await login_as(client, "acme", "hr@acme.example.com", NEW_PASSWORD)

    # may create role-less users and edit people with fewer permissions ...
    fresh = await create_user(client, hr, "temp@acme.example.com", NEW_PASSWORD, [])
    assert fresh["roles"] == []
    r = await client.patch(f"{API}/users/{fresh['id']}", headers=hr, json={"display_name": "T"})
    assert r.status_code == 200
    # ... but never change roles
    r = await client.patch(f"{API}/users/{fresh['id']}", headers=hr, json={"roles": ["hr"]})
    assert r.status_code == 403
    assert r.json()["error"]["details"] == {"missing": ["roles.manage"]}
    r = await client.post(f"{API}/users", headers=hr, json={
        "email": "t2@acme.example.com", "display_name": "T2", "password": NEW_PASSWORD,
        "roles": ["hr"]})
    assert r.status_code == 403


async def test_last_owner_cannot_be_removed(client: httpx.AsyncClient, org_a: Org) -> None:
    owner = await login(client, org_a, "owner")
    me = org_a.users["owner"]
    r = await client.patch(f"{API}/users/{me}", headers=owner, json={"roles": ["admin"]})
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "last_owner"
    r = await client.patch(f"{API}/users/{me}", headers=owner, json={"is_active": False})
    assert r.status_code == 409

    # once someone else is owner, stepping down works
    r = await client.patch(
        f"{API}/users/{org_a.users['admin']}", headers=owner, json={"roles": ["owner"]}
    )
    assert r.status_code == 200
    r = await client.patch(f"{API}/users/{me}", headers=owner, json={"roles": ["admin"]})
    assert r.status_code == 200
    assert r.json()["roles"] == ["admin"]
