"""What the relay/dispatcher tests share: only their own consumers and taps, a tenant, and
the effects their echo consumers wrote."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from relaydesk.events import consumers as registry
from relaydesk.events import taps
from relaydesk.events.models import OutboxEvent
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


async def applied(db: Database, tenant: uuid.UUID, by: str) -> list[int]:
    """The ``seq`` of every ``custom.echo`` event consumer ``by`` wrote, in order."""
    async with db.job(tenant) as session:
        rows = await session.scalars(
            select(OutboxEvent).where(OutboxEvent.type == "custom.echo").order_by(OutboxEvent.id)
        )
        return [row.payload["seq"] for row in rows if row.payload["by"] == by]
