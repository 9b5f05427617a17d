"""Fixtures the relay/dispatcher tests share: only their own consumers and taps, a tenant."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from relaydesk.events import consumers as registry
from relaydesk.events import taps
from relaydesk.kit.db import Database
from relaydesk.tenancy.service import create_tenant


@pytest.fixture(autouse=True)
def only_ours(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Other domains' consumers and taps stay out of these tests."""
    monkeypatch.setattr(registry, "_CONSUMERS", {})
    monkeypatch.setattr(taps, "_TAPS", {})
    yield


@pytest.fixture
async def tenant(db: Database) -> uuid.UUID:
    async with db.job(system=True) as session:
        created = await create_tenant(session, slug=f"bus-{uuid.uuid4().hex[:8]}", name="Bus")
    return created.id
