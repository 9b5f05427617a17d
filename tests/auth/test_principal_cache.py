"""The per-process principal cache: fewer queries per request, never stale rights."""

from __future__ import annotations

from typing import Any

import httpx
from conftest import Org, login
from sqlalchemy import event

from relaydesk.kit.db import Database

API = "/api/v1"


def _count_statements(db: Database) -> list[str]:
    seen: list[str] = []

    @event.listens_for(db.engine.sync_engine, "before_cursor_execute")
    def _count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    return seen


async def test_second_request_skips_the_credential_queries(
    client: httpx.AsyncClient, org_a: Org, db: Database
) -> None:
    agent = await login(client, org_a, "agent")
    seen = _count_statements(db)
    assert (await client.get(f"{API}/auth/me", headers=agent)).status_code == 200
    first = len(seen)
    seen.clear()
    assert (await client.get(f"{API}/auth/me", headers=agent)).status_code == 200
    assert len(seen) < first, (first, seen)
    assert not any("auth_sessions" in s for s in seen)


async def test_deactivating_a_user_locks_them_out_at_once(
    client: httpx.AsyncClient, org_a: Org
) -> None:
    agent = await login(client, org_a, "agent")
    admin = await login(client, org_a, "admin")
    assert (await client.get(f"{API}/auth/me", headers=agent)).status_code == 200  # cached
    r = await client.patch(
        f"{API}/users/{org_a.users['agent']}", headers=admin, json={"is_active": False}
    )
    assert r.status_code == 200, r.text
    assert (await client.get(f"{API}/auth/me", headers=agent)).status_code == 401


async def test_a_role_change_applies_to_the_next_request(
    client: httpx.AsyncClient, org_a: Org
) -> None:
    agent = await login(client, org_a, "agent")
    owner = await login(client, org_a, "owner")
    assert (await client.get(f"{API}/customers", headers=agent)).status_code == 200  # cached
    r = await client.patch(f"{API}/users/{org_a.users['agent']}", headers=owner, json={"roles": []})
    assert r.status_code == 200, r.text
    assert (await client.get(f"{API}/customers", headers=agent)).status_code == 403


async def test_revoked_api_key_stops_at_once(client: httpx.AsyncClient, org_a: Org) -> None:
    owner = await login(client, org_a, "owner")
    r = await client.post(
        f"{API}/api-keys", headers=owner, json={"name": "erp", "permissions": ["customers.read"]}
    )
    key = {"X-API-Key": r.json()["key"]}
    assert (await client.get(f"{API}/customers", headers=key)).status_code == 200  # cached
    assert (
        await client.delete(f"{API}/api-keys/{r.json()['id']}", headers=owner)
    ).status_code == 204
    assert (await client.get(f"{API}/customers", headers=key)).status_code == 401


async def test_logout_stops_the_token_at_once(client: httpx.AsyncClient, org_a: Org) -> None:
    agent = await login(client, org_a, "agent")
    assert (await client.get(f"{API}/auth/me", headers=agent)).status_code == 200  # cached
    assert (await client.post(f"{API}/auth/logout", headers=agent)).status_code == 204
    r = await client.get(f"{API}/auth/me", headers=agent)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "session_revoked"


async def test_sign_ins_and_bookkeeping_keep_other_principals_cached(
    client: httpx.AsyncClient, org_a: Org, db: Database
) -> None:
    """A new sign-in or a last-seen update changes nobody's rights: the cached principals
    of everyone else stay cached (else every sign-in would empty the whole cache)."""
    from sqlalchemy import update

    from relaydesk.auth.models import AuthSession
    from relaydesk.kit.db import utcnow

    agent = await login(client, org_a, "agent")
    assert (await client.get(f"{API}/auth/me", headers=agent)).status_code == 200  # cached
    seen = _count_statements(db)
    await login(client, org_a, "admin")  # a new session row, committed
    async with db.job(org_a.id) as session:  # a last-seen bookkeeping write, committed
        await session.execute(update(AuthSession).values(last_seen_at=utcnow()))
    seen.clear()
    assert (await client.get(f"{API}/auth/me", headers=agent)).status_code == 200
    assert not any("auth_sessions" in s for s in seen), seen
    # while a change of rights still empties it: revoking sessions is not bookkeeping
    async with db.job(org_a.id) as session:
        await session.execute(update(AuthSession).values(revoked_at=utcnow()))
    assert (await client.get(f"{API}/auth/me", headers=agent)).status_code == 401
