"""Sessions: refresh rotation, logout, idle and absolute timeouts, broken tokens."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import jwt
import pytest
from auth_helpers import ME, error_code, try_login, update_sessions
from conftest import Org
from fastapi import FastAPI
from sqlalchemy import select

from relaydesk.auth import security
from relaydesk.auth.models import AuthSession
from relaydesk.config import Settings
from relaydesk.kit.db import Database, utcnow

REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"
FORGER_KEY = "a-key-the-forger-made-up-" + "y" * 20


async def _tokens(client: httpx.AsyncClient, org: Org, role: str = "agent") -> dict[str, Any]:
    r = await try_login(client, org, role)
    assert r.status_code == 200
    body: dict[str, Any] = r.json()
    return body


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_refresh_rotates_the_refresh_token(client: httpx.AsyncClient, org_a: Org) -> None:
    first = await _tokens(client, org_a)
    r = await client.post(REFRESH, json={"refresh_token": first["refresh_token"]})
    assert r.status_code == 200
    second = r.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert (await client.get(ME, headers=_bearer(second["access_token"]))).status_code == 200
    # the old refresh token worked once only
    reused = await client.post(REFRESH, json={"refresh_token": first["refresh_token"]})
    assert reused.status_code == 401
    assert error_code(reused) == "invalid_refresh_token"
    # the new one works (once)
    third = await client.post(REFRESH, json={"refresh_token": second["refresh_token"]})
    assert third.status_code == 200
    assert third.json()["session_expires_at"] == first["session_expires_at"]


async def test_unknown_refresh_token_is_401(client: httpx.AsyncClient, org_a: Org) -> None:
    r = await client.post(REFRESH, json={"refresh_token": "x" * 43})
    assert r.status_code == 401
    assert error_code(r) == "invalid_refresh_token"


async def test_logout_revokes_access_and_refresh(
    client: httpx.AsyncClient, org_a: Org
) -> None:
    tokens = await _tokens(client, org_a)
    other = await _tokens(client, org_a)  # a second sign-in of the same user
    r = await client.post(LOGOUT, headers=_bearer(tokens["access_token"]))
    assert r.status_code == 204
    me = await client.get(ME, headers=_bearer(tokens["access_token"]))
    assert me.status_code == 401
    assert error_code(me) == "session_revoked"
    refresh = await client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})
    assert refresh.status_code == 401
    assert error_code(refresh) == "session_revoked"
    # only that sign-in ended
    assert (await client.get(ME, headers=_bearer(other["access_token"]))).status_code == 200


async def test_idle_session_expires(
    client: httpx.AsyncClient, db: Database, org_a: Org, settings: Settings
) -> None:
    tokens = await _tokens(client, org_a)
    idle = dt.timedelta(seconds=settings.security.idle_timeout_seconds + 5)
    await update_sessions(db, org_a, last_seen_at=utcnow() - idle)
    me = await client.get(ME, headers=_bearer(tokens["access_token"]))
    assert me.status_code == 401
    assert error_code(me) == "session_expired"
    refresh = await client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})
    assert refresh.status_code == 401
    assert error_code(refresh) == "session_expired"


async def test_activity_keeps_the_session_alive(
    client: httpx.AsyncClient, db: Database, org_a: Org, settings: Settings
) -> None:
    tokens = await _tokens(client, org_a)
    idle = settings.security.idle_timeout_seconds
    await update_sessions(db, org_a, last_seen_at=utcnow() - dt.timedelta(seconds=idle - 5))
    assert (await client.get(ME, headers=_bearer(tokens["access_token"]))).status_code == 200
    # that request counted as activity: the session is not about to go idle any more
    async with db.job(org_a.id) as session:
        last_seen = (await session.execute(select(AuthSession.last_seen_at))).scalar_one()
    assert utcnow() - last_seen < dt.timedelta(seconds=5)


async def test_absolute_timeout(client: httpx.AsyncClient, db: Database, org_a: Org) -> None:
    tokens = await _tokens(client, org_a)
    await update_sessions(db, org_a, expires_at=utcnow() - dt.timedelta(seconds=1))
    me = await client.get(ME, headers=_bearer(tokens["access_token"]))
    assert me.status_code == 401
    assert error_code(me) == "session_expired"
    refresh = await client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})
    assert refresh.status_code == 401
    assert error_code(refresh) == "session_expired"


def _claims(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


@pytest.mark.parametrize(
    "forge",
    [
        "tampered_signature", "tampered_payload", "expired", "other_secret",
        "alg_none", "wrong_audience", "other_session", "garbage",
    ],
)
async def test_bad_access_tokens_are_401(
    client: httpx.AsyncClient, app: FastAPI, org_a: Org, forge: str
) -> None:
    token = (await _tokens(client, org_a))["access_token"]
    claims = _claims(token)
    secret = app.state.secret
    header, payload, signature = token.split(".")
    if forge == "tampered_signature":
        bad = f"{header}.{payload}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"
    elif forge == "tampered_payload":
        admin = {**claims, "sub": str(org_a.users["owner"])}
        forged = jwt.encode(admin, FORGER_KEY, algorithm="HS256").split(".")[1]
        bad = f"{header}.{forged}.{signature}"
    elif forge == "expired":
        bad, _ = security.issue_access_token(
            secret, user_id=uuid.UUID(claims["sub"]), tenant_id=uuid.UUID(claims["tid"]),
            session_id=uuid.UUID(claims["sid"]), ttl=-5,
        )
    elif forge == "other_secret":
        bad = jwt.encode(claims, FORGER_KEY, algorithm="HS256")
    elif forge == "alg_none":
        bad = jwt.encode(claims, None, algorithm="none")  # type: ignore[arg-type]
    elif forge == "wrong_audience":
        bad = jwt.encode({**claims, "aud": "someone-else"}, secret, algorithm="HS256")
    elif forge == "other_session":
        bad = jwt.encode({**claims, "sid": str(uuid.uuid4())}, secret, algorithm="HS256")
    else:
        bad = "not-a-token"
    r = await client.get(ME, headers=_bearer(bad))
    assert r.status_code == 401
    assert error_code(r) == "invalid_token"
    assert r.headers["www-authenticate"] == "Bearer"


async def test_token_of_one_org_cannot_name_another(
    client: httpx.AsyncClient, app: FastAPI, org_a: Org, org_b: Org
) -> None:
    claims = _claims((await _tokens(client, org_a))["access_token"])
    moved = jwt.encode({**claims, "tid": str(org_b.id)}, app.state.secret, algorithm="HS256")
    r = await client.get(ME, headers=_bearer(moved))
    assert r.status_code == 401


async def test_no_credential_is_401(client: httpx.AsyncClient) -> None:
    r = await client.get(ME)
    assert r.status_code == 401
    assert error_code(r) == "unauthorized"
    assert r.headers["www-authenticate"] == "Bearer"
