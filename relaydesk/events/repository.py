"""Queries of the event log, processed records, failures and the bus bookkeeping."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.events.models import EventBusState, EventFailure, OutboxEvent, ProcessedEvent
from relaydesk.kit.db import utcnow
from relaydesk.kit.pagination import PageParams
from relaydesk.kit.repository import Repository

__all__ = [
    "EventRepository",
    "FailureRepository",
    "load_state",
    "save_state",
    "type_filter",
    "uuid7_floor",
]


def uuid7_floor(when: dt.datetime) -> uuid.UUID:
    """The smallest UUIDv7 of ``when``'s millisecond: ``id >= floor`` means "at or after"."""
    ms = min(max(0, int(when.timestamp() * 1000)), (1 << 48) - 1)
    return uuid.UUID(int=(ms << 80) | (0x7 << 76) | (0x2 << 62))


def type_filter(column: Any, pattern: str) -> Any:
    """``order.shipped`` exactly, or a family ``order.*``."""
    if pattern.endswith(".*"):
        return column.startswith(pattern[:-1], autoescape=True)
    return column == pattern


class EventRepository(Repository[OutboxEvent]):
    model = OutboxEvent
    noun = "event"

    def search(
        self,
        *,
        event_type: str | None = None,
        key: str | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
    ) -> Select[Any]:
        stmt = self.select()
        if event_type:
            stmt = stmt.where(type_filter(OutboxEvent.type, event_type))
        if key is not None:
            stmt = stmt.where(OutboxEvent.key == key)
        if since is not None:
            stmt = stmt.where(OutboxEvent.id >= uuid7_floor(since))
        if until is not None:
            stmt = stmt.where(OutboxEvent.id < uuid7_floor(until))
        return stmt

    async def page_of(
        self, stmt: Select[Any], params: PageParams
    ) -> tuple[Sequence[OutboxEvent], str | None]:
        return await self.page(stmt, params)

    async def oldest_first(self, stmt: Select[Any], limit: int) -> Sequence[OutboxEvent]:
        return await self.all(stmt.order_by(OutboxEvent.id).limit(limit))

    async def processed(self, event_id: uuid.UUID) -> dict[str, dt.datetime]:
        rows = await self.session.execute(
            select(ProcessedEvent.consumer, ProcessedEvent.processed_at).where(
                ProcessedEvent.event_id == event_id
            )
        )
        return {name: at for name, at in rows}

    async def processed_by(self, consumer: str, ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        if not ids:
            return set()
        found = await self.session.scalars(
            select(ProcessedEvent.event_id).where(
                ProcessedEvent.consumer == consumer, ProcessedEvent.event_id.in_(ids)
            )
        )
        return set(found)


class FailureRepository(Repository[EventFailure]):
    model = EventFailure
    noun = "dead letter"

    async def for_event(self, event_id: uuid.UUID) -> dict[str, EventFailure]:
        rows = await self.all(self.select().where(EventFailure.event_id == event_id))
        return {row.consumer: row for row in rows}

    def dead(self, *, consumer: str | None = None, event_type: str | None = None) -> Select[Any]:
        stmt = self.select().where(EventFailure.dead.is_(True))
        if consumer:
            stmt = stmt.where(EventFailure.consumer == consumer)
        if event_type:
            stmt = stmt.where(type_filter(EventFailure.event_type, event_type))
        return stmt

    async def by_pairs(
        self, consumer: str, ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, EventFailure]:
        if not ids:
            return {}
        rows = await self.all(
            self.select().where(EventFailure.consumer == consumer, EventFailure.event_id.in_(ids))
        )
        return {row.event_id: row for row in rows}


async def load_state(session: AsyncSession, name: str) -> str | None:
    return await session.scalar(select(EventBusState.value).where(EventBusState.name == name))


async def save_state(session: AsyncSession, name: str, value: str) -> None:
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(EventBusState).values(name=name, value=value, updated_at=utcnow())
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["name"],
            set_={"value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at},
        )
    )
