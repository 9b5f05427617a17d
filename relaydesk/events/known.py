"""What the database already says about a batch, per consumer (the dispatcher's first reads):
which events each consumer processed, which have a failure row, which keys are held back;
and the bus's reads that need no transaction (:func:`system_reader`)."""

from __future__ import annotations

import traceback
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.events.envelope import Envelope
from relaydesk.events.models import EventFailure, ProcessedEvent
from relaydesk.kit.db import Database, mark_system, scope_session
from relaydesk.kit.masking import detect_and_mask_text

__all__ = ["Known", "describe_error", "known_all", "sort_batch", "system_reader"]


def describe_error(exc: BaseException) -> str:
    """One line for the failure record: exception type and message, personal data masked."""
    text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    return detect_and_mask_text(text[:2000])


@asynccontextmanager
async def system_reader(db: Database) -> AsyncIterator[AsyncSession]:
    """A read across tenants without a transaction (no write lock on SQLite); what it read
    stays usable after it."""
    async with db.request_session("GET") as session:
        scope_session(session, None)
        mark_system(session)
        try:
            yield session
        finally:
            session.expunge_all()
            await session.rollback()


@dataclass
class Known:
    """What the database already says about a batch for one consumer and tenant."""

    processed: set[uuid.UUID] = field(default_factory=set)
    #: events that already have a failure row (the retry loop owns them)
    failing: set[uuid.UUID] = field(default_factory=set)
    #: keys held back by an earlier event that is still failing
    blocked: dict[str, uuid.UUID] = field(default_factory=dict)


async def known_all(
    session: AsyncSession, names: Sequence[str], batch: Sequence[Envelope]
) -> dict[str, Known]:
    """What the database says about ``batch`` for each consumer: two queries in all."""
    ids = [e.id for e in batch]
    keys = sorted({e.key for e in batch})
    known = {name: Known() for name in names}
    processed = await session.execute(
        select(ProcessedEvent.consumer, ProcessedEvent.event_id).where(
            ProcessedEvent.consumer.in_(names), ProcessedEvent.event_id.in_(ids)
        )
    )
    for name, event_id in processed:
        known[name].processed.add(event_id)
    rows = await session.execute(
        select(EventFailure.consumer, EventFailure.event_id, EventFailure.event_key,
               EventFailure.dead, EventFailure.replayed_at)
        .where(
            EventFailure.consumer.in_(names),
            or_(
                EventFailure.event_id.in_(ids),
                and_(EventFailure.event_key.in_(keys), EventFailure.dead.is_(False),
                     EventFailure.replayed_at.is_(None)),
            ),
        )
    )  # fmt: skip
    id_set = set(ids)
    for name, event_id, key, dead, replayed_at in rows:
        if event_id in id_set:
            known[name].failing.add(event_id)
        if not dead and replayed_at is None and key is not None:
            known[name].blocked.setdefault(key, event_id)
    return known


def sort_batch(
    known: Known, batch: Sequence[Envelope]
) -> tuple[list[Envelope], list[tuple[Envelope, uuid.UUID]]]:
    """(events to handle now, (event, blocker) pairs to park behind an earlier failure)."""
    done: list[Envelope] = []
    parked: list[tuple[Envelope, uuid.UUID]] = []
    for envelope in batch:
        if envelope.id in known.processed or envelope.id in known.failing:
            continue
        blocker = known.blocked.get(envelope.key)
        if blocker is not None:
            parked.append((envelope, blocker))
        else:
            done.append(envelope)
    return done, parked
