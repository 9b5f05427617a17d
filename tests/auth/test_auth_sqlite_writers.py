"""The embedded SQLite database with real connections (not the shared test transaction).

A writing request (POST, ...) takes SQLite's single write lock up front (BEGIN IMMEDIATE);
authentication bookkeeping (API key last use, session last seen) must not then wait for a
second write transaction of its own, or the request hangs for the busy timeout and fails.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from auth_helpers import make_key, update_sessions
from conftest import login, make_org

from relaydesk.app import create_app
from relaydesk.config import SecuritySettings, Settings
from relaydesk.kit.db import Database, utcnow
from relaydesk.migrations.runner import upgrade

LOGOUT = "/api/v1/auth/logout"
# Regression: auth bookkeeping used to open a second write transaction while the writing
# request held SQLite's write lock (5 s wait, then 'database is locked', a 500).


@pytest.fixture
async def file_db(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database.from_url(f"sqlite+aiosqlite:///{tmp_path / 'relaydesk.db'}")
    await upgrade(db.engine)
    yield db
    await db.dispose()


@pytest.fixture
async def file_client(tmp_path: Path, file_db: Database) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        environment="test", data_dir=tmp_path,
        security=SecuritySettings(secret_key="test-secret-" + "x" * 40),  # type: ignore[arg-type]
    )
    app = create_app(settings, db=file_db)
    transport = httpx.ASGITransport(
        app=app, client=("127.0.0.1", 50000), raise_app_exceptions=False
    )
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def test_reads_with_api_key_work(file_client: httpx.AsyncClient, file_db: Database) -> None:
    org = await make_org(file_db, "acme", roles=("agent",))
    _, key = await make_key(file_db, org, ["audit.read"])
    r = await file_client.get("/api/v1/audit", headers={"X-API-Key": key})
    assert r.status_code == 200


async def test_post_with_api_key(file_client: httpx.AsyncClient, file_db: Database) -> None:
    org = await make_org(file_db, "acme", roles=("agent",))
    _, key = await make_key(file_db, org, ["audit.read"])
    r = await file_client.post(LOGOUT, headers={"X-API-Key": key})
    assert r.status_code == 204, r.text


async def test_post_after_a_minute_of_inactivity(
    file_client: httpx.AsyncClient, file_db: Database
) -> None:
    org = await make_org(file_db, "acme", roles=("agent",))
    headers = await login(file_client, org, "agent")
    await update_sessions(file_db, org, last_seen_at=utcnow() - dt.timedelta(minutes=2))
    r = await file_client.post(LOGOUT, headers=headers)
    assert r.status_code == 204, r.text
