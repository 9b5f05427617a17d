"""An organisation's IP allow-list applies to sign-in, to existing tokens and to API keys."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from auth_helpers import (
    LOGIN,
    ME,
    audit_rows,
    client_from,
    error_code,
    make_key,
    set_allowlist,
    try_login,
)
from conftest import PASSWORD, Org
from fastapi import FastAPI

from relaydesk.config import HttpSettings, SecuritySettings, Settings
from relaydesk.kit.db import Database

ALLOWED = ["10.0.0.0/8"]


async def test_login_from_outside_is_refused_and_audited(
    client: httpx.AsyncClient, db: Database, org_a: Org
) -> None:
    await set_allowlist(db, org_a, ALLOWED)
    r = await try_login(client, org_a, "agent")  # from 127.0.0.1
    assert r.status_code == 403
    assert error_code(r) == "ip_not_allowed"
    assert "access_token" not in r.text
    rows = await audit_rows(db, org_a, "auth.login")
    assert [(row.outcome, row.details, row.ip, row.actor_id) for row in rows] == [
        ("denied", {"reason": "ip_not_allowed"}, "127.0.0.1", str(org_a.users["agent"]))
    ]


async def test_login_from_inside_works(app: FastAPI, db: Database, org_a: Org) -> None:
    await set_allowlist(db, org_a, ALLOWED)
    async with client_from(app, "10.20.30.40") as inside:
        r = await try_login(inside, org_a, "agent")
        assert r.status_code == 200
        me = await inside.get(ME, headers={"Authorization": f"Bearer {r.json()['access_token']}"})
        assert me.status_code == 200


async def test_other_orgs_are_not_restricted(
    client: httpx.AsyncClient, db: Database, org_a: Org, org_b: Org
) -> None:
    await set_allowlist(db, org_a, ALLOWED)
    assert (await try_login(client, org_b, "agent")).status_code == 200


async def test_existing_token_stops_working_outside(
    client: httpx.AsyncClient, db: Database, org_a: Org
) -> None:
    r = await try_login(client, org_a, "agent")
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    assert (await client.get(ME, headers=headers)).status_code == 200
    await set_allowlist(db, org_a, ALLOWED)
    me = await client.get(ME, headers=headers)
    assert me.status_code == 403
    assert error_code(me) == "ip_not_allowed"


async def test_api_key_refused_outside_and_audited(
    client: httpx.AsyncClient, app: FastAPI, db: Database, org_a: Org
) -> None:
    key_id, key = await make_key(db, org_a, ["audit.read"])
    await set_allowlist(db, org_a, ALLOWED)
    r = await client.get(ME, headers={"X-API-Key": key})
    assert r.status_code == 403
    assert error_code(r) == "ip_not_allowed"
    denied = [row for row in await audit_rows(db, org_a, "apikey.used") if row.outcome == "denied"]
    assert len(denied) == 1
    assert denied[0].actor_type == "api_key" and denied[0].actor_id == str(key_id)
    assert denied[0].details == {"reason": "ip_not_allowed"}
    async with client_from(app, "10.9.9.9") as inside:
        assert (await inside.get(ME, headers={"X-API-Key": key})).status_code == 200


async def test_ipv6_mapped_address_matches(app: FastAPI, db: Database, org_a: Org) -> None:
    await set_allowlist(db, org_a, ALLOWED)
    async with client_from(app, "::ffff:10.1.2.3") as inside:
        assert (await try_login(inside, org_a, "agent")).status_code == 200


async def test_refresh_from_outside_is_refused(
    client: httpx.AsyncClient, db: Database, org_a: Org
) -> None:
    r = await try_login(client, org_a, "agent")
    await set_allowlist(db, org_a, ALLOWED)
    refresh = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": r.json()["refresh_token"]}
    )
    assert refresh.status_code == 403
    assert error_code(refresh) == "ip_not_allowed"


class TestBehindAProxy:
    """trust_forwarded_for: the proxy (the connecting peer) appends the real client address."""

    @pytest.fixture
    def settings(self, tmp_path: Path) -> Settings:
        return Settings(
            environment="test", data_dir=tmp_path / "var",
            security=SecuritySettings(secret_key="test-secret-" + "x" * 40),  # type: ignore[arg-type]
            http=HttpSettings(trust_forwarded_for=True),
        )

    async def test_client_inside_the_allowlist(
        self, client: httpx.AsyncClient, db: Database, org_a: Org
    ) -> None:
        await set_allowlist(db, org_a, ALLOWED)
        r = await client.post(LOGIN, headers={"X-Forwarded-For": "10.2.3.4"}, json={
            "tenant": "acme", "email": org_a.email("agent"), "password": PASSWORD})
        assert r.status_code == 200

    async def test_client_cannot_forge_its_address(
        self, client: httpx.AsyncClient, db: Database, org_a: Org
    ) -> None:
        await set_allowlist(db, org_a, ALLOWED)
        # the client sent "X-Forwarded-For: 10.1.1.1"; the proxy appended the real address
        r = await client.post(LOGIN, headers={"X-Forwarded-For": "10.1.1.1, 203.0.113.9"}, json={
            "tenant": "acme", "email": org_a.email("agent"), "password": PASSWORD})
        assert r.status_code == 403
