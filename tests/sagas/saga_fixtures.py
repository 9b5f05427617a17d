"""Saga fixtures (imported by the saga test modules; a nested conftest.py would shadow the
root one): the app with the sagas API mounted (until app.py includes it), the demo
systems on loopback, org A connected to them, and the demo "refund" definition."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from conftest import Org, login
from sagas.saga_support import API, Systems, connect, demo_systems

from relaydesk.app import create_app
from relaydesk.config import Settings
from relaydesk.demo.sagas import REFUND
from relaydesk.kit.db import Database
from relaydesk.sagas import events as _events  # noqa: F401 - registers the saga events
from relaydesk.sagas import policy
from relaydesk.sagas.api import router
from relaydesk.sagas.calls import bind_runtime

__all__ = ["app", "connected", "fast_retries", "owner", "refund", "systems"]


@pytest.fixture
def app(settings: Settings, db: Database) -> Any:
    application = create_app(settings, db=db)
    if not any(getattr(r, "path", "") == f"{API}/sagas" for r in application.routes):
        application.include_router(router, prefix=API)
    bind_runtime(db, application.state.connectors, application.state.keyring)
    return application


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retry delays of a tenth of a second instead of seconds."""
    monkeypatch.setattr(policy, "RETRY_BASE_SECONDS", 0.1)


@pytest.fixture
async def systems() -> AsyncIterator[Systems]:
    async with demo_systems() as running:
        yield running


@pytest.fixture
async def owner(client: httpx.AsyncClient, org_a: Org) -> dict[str, str]:
    return await login(client, org_a, "owner")


@pytest.fixture
async def connected(
    client: httpx.AsyncClient, owner: dict[str, str], systems: Systems
) -> dict[str, str]:
    return await connect(client, owner, systems.urls)


@pytest.fixture
async def refund(
    client: httpx.AsyncClient, owner: dict[str, str], connected: dict[str, str]
) -> str:
    r = await client.post(f"{API}/sagas/definitions", headers=owner, json={"definition": REFUND})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])
