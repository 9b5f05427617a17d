"""Signing in: tokens, uniform failures, audit rows, lockout."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import httpx
import pytest
from auth_helpers import ME, audit_rows, error_code, get_user, try_login, update_user
from conftest import PASSWORD, Org

from relaydesk.config import SecuritySettings, Settings
from relaydesk.kit.db import Database, utcnow

THRESHOLD = 3


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        environment="test",
        data_dir=tmp_path / "var",
        security=SecuritySettings(
            secret_key="test-secret-" + "x" * 40,  # type: ignore[arg-type]
            lockout_threshold=THRESHOLD,
            lockout_seconds=600,
        ),
    )


async def test_login_returns_working_tokens(
    client: httpx.AsyncClient, db: Database, org_a: Org
) -> None:
    r = await try_login(client, org_a, "agent")
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "bearer"
    assert 0 < body["expires_in"] <= 600
    assert body["refresh_token"] and body["access_token"].count(".") == 2
    me = await client.get(ME, headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["label"] == org_a.email("agent")
    assert me.json()["tenant"] == "acme"
    rows = await audit_rows(db, org_a, "auth.login")
    assert [(r.outcome, r.actor_id, r.target_type) for r in rows] == [
        ("success", str(org_a.users["agent"]), "session")
    ]
    assert (await get_user(db, org_a, "agent")).last_login_at is not None


async def test_login_is_case_insensitive_on_tenant_and_email(
    client: httpx.AsyncClient, org_a: Org
) -> None:
    r = await client.post("/api/v1/auth/login", json={
        "tenant": "ACME", "email": org_a.email("agent").upper(), "password": PASSWORD})
    assert r.status_code == 200


async def test_wrong_password_is_401_and_audited(
    client: httpx.AsyncClient, db: Database, org_a: Org
) -> None:
    r = await try_login(client, org_a, "agent", password="not the password")
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert r.json()["error"]["code"] == "invalid_credentials"
    assert r.json()["error"]["message"] == "Invalid tenant, e-mail or password"
    rows = await audit_rows(db, org_a, "auth.login")
    assert len(rows) == 1
    assert rows[0].outcome == "failure"
    assert rows[0].actor_id == str(org_a.users["agent"])
    assert rows[0].details == {"reason": "bad_credentials"}
    assert rows[0].ip == "127.0.0.1"
    assert (await get_user(db, org_a, "agent")).failed_logins == 1


async def test_unknown_tenant_or_email_look_the_same(
    client: httpx.AsyncClient, db: Database, org_a: Org
) -> None:
    def same(r: httpx.Response) -> tuple[int, dict[str, object], str | None]:
        error = dict(r.json()["error"])
        error.pop("request_id")
        return r.status_code, error, r.headers.get("www-authenticate")

    wrong_pw = same(await try_login(client, org_a, "agent", password="nope-nope-nope"))
    no_email = same(await client.post("/api/v1/auth/login", json={
        "tenant": "acme", "email": "nobody@acme.example.com", "password": PASSWORD}))
    no_tenant = same(await client.post("/api/v1/auth/login", json={
        "tenant": "no-such-org", "email": org_a.email("agent"), "password": PASSWORD}))
    assert wrong_pw == no_email == no_tenant
    assert wrong_pw[0] == 401
    unknown = [r for r in await audit_rows(db, org_a, "auth.login") if r.actor_id is None]
    assert [(r.outcome, r.details["reason"]) for r in unknown] == [("failure", "bad_credentials")]


async def test_inactive_user_cannot_sign_in(
    client: httpx.AsyncClient, db: Database, org_a: Org
) -> None:
    await update_user(db, org_a, "agent", is_active=False)
    r = await try_login(client, org_a, "agent")
    assert r.status_code == 401
    assert error_code(r) == "invalid_credentials"


async def test_lockout_after_threshold_even_with_right_password(
    client: httpx.AsyncClient, db: Database, org_a: Org
) -> None:
    for _ in range(THRESHOLD):
        r = await try_login(client, org_a, "agent", password="guess-guess-guess")
        assert error_code(r) == "invalid_credentials"
    locked = await try_login(client, org_a, "agent")
    assert locked.status_code == 401
    assert error_code(locked) == "account_locked"
    retry_after = int(locked.headers["retry-after"])
    assert 590 <= retry_after <= 601
    assert "access_token" not in locked.text

    rows = await audit_rows(db, org_a, "auth.login")
    assert [(r.outcome, r.details) for r in rows] == [
        ("failure", {"reason": "bad_credentials"}),
        ("failure", {"reason": "bad_credentials"}),
        ("failure", {"reason": "bad_credentials", "locked": True}),
        ("denied", {"reason": "locked"}),
    ]
    # other accounts are not affected
    assert (await try_login(client, org_a, "admin")).status_code == 200


async def test_login_works_again_after_lockout(
    client: httpx.AsyncClient, db: Database, org_a: Org
) -> None:
    for _ in range(THRESHOLD):
        await try_login(client, org_a, "agent", password="guess-guess-guess")
    assert error_code(await try_login(client, org_a, "agent")) == "account_locked"
    # time passes: the lock ends
    await update_user(db, org_a, "agent", locked_until=utcnow() - dt.timedelta(seconds=1))
    r = await try_login(client, org_a, "agent")
    assert r.status_code == 200
    user = await get_user(db, org_a, "agent")
    assert user.locked_until is None and user.failed_logins == 0


async def test_success_resets_the_failure_count(
    client: httpx.AsyncClient, db: Database, org_a: Org
) -> None:
    for _ in range(THRESHOLD - 1):
        await try_login(client, org_a, "agent", password="guess-guess-guess")
    assert (await try_login(client, org_a, "agent")).status_code == 200
    for _ in range(THRESHOLD - 1):
        await try_login(client, org_a, "agent", password="guess-guess-guess")
    assert (await try_login(client, org_a, "agent")).status_code == 200


class TestShortLockout:
    """With lockout_seconds=1 the lock really expires with the clock."""

    @pytest.fixture
    def settings(self, tmp_path: Path) -> Settings:
        return Settings(
            environment="test", data_dir=tmp_path / "var",
            security=SecuritySettings(
                secret_key="test-secret-" + "x" * 40,  # type: ignore[arg-type]
                lockout_threshold=2, lockout_seconds=1,
            ),
        )

    async def test_lock_expires(self, client: httpx.AsyncClient, org_a: Org) -> None:
        import asyncio

        for _ in range(2):
            await try_login(client, org_a, "agent", password="guess-guess-guess")
        locked = await try_login(client, org_a, "agent")
        assert error_code(locked) == "account_locked"
        assert locked.headers["retry-after"] in {"1", "2"}
        await asyncio.sleep(1.1)
        assert (await try_login(client, org_a, "agent")).status_code == 200
