"""The retry loop (:meth:`relaydesk.events.dispatch.Dispatcher.retry_due`) and its queries:
which failure rows are due, which queue (first deliveries or replays) a row belongs to, and
the run of one queue in event order."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import aliased

from relaydesk.events.consumers import Consumer, consumers
from relaydesk.events.known import describe_error, system_reader
from relaydesk.events.models import EventFailure, OutboxEvent
from relaydesk.events.outbox import to_envelope
from relaydesk.kit.db import Database, utcnow

if TYPE_CHECKING:
    from relaydesk.events.dispatch import Dispatcher

__all__ = ["due_heads", "earliest_attempt", "quiet_for", "retry_due", "same_queue"]


async def retry_due(dispatcher: Dispatcher, limit: int, concurrency: int) -> int:
    """Run the due heads of the failure queues (at most ``concurrency`` queues at a time)."""
    registry = {c.name: c for c in consumers()}
    if not registry:
        return 0
    heads = await due_heads(dispatcher.db, list(registry), limit)
    if not heads:
        return 0
    gate = asyncio.Semaphore(max(1, concurrency))

    async def run(head: EventFailure) -> int:
        async with gate:
            return await _retry_queue(dispatcher, registry[head.consumer], head)

    return sum(await asyncio.gather(*(run(head) for head in heads)))


async def _retry_queue(dispatcher: Dispatcher, consumer: Consumer, head: EventFailure) -> int:
    attempted = 0
    row: EventFailure | None = head
    while row is not None:
        async with dispatcher.db.job(row.tenant_id) as session:
            event = await session.get(OutboxEvent, row.event_id)
        if event is None:
            await dispatcher.update_failure(consumer, row, None, "the event is no longer in "
                                            "the outbox", dead=True)  # fmt: skip
        else:
            envelope = to_envelope(event)
            attempted += 1
            error = await dispatcher.attempt(consumer, envelope, failure_id=row.id)
            if error is not None:
                attempts = row.attempts + 1
                dead = attempts >= dispatcher.attempts_allowed(consumer)
                await dispatcher.update_failure(consumer, row, envelope, describe_error(error),
                                                dead=dead, attempts=attempts)  # fmt: skip
                if not dead:
                    break  # the rest of this key waits behind it
        row = await _next_in_queue(dispatcher.db, row)
    return attempted


async def _next_in_queue(db: Database, row: EventFailure) -> EventFailure | None:
    """The failure row after ``row`` in its queue (its consumer and key), if any."""
    if row.event_key is None:
        return None
    f = EventFailure
    async with db.job(row.tenant_id) as session:
        found: EventFailure | None = await session.scalar(
            select(f)
            .where(f.consumer == row.consumer, f.event_key == row.event_key, f.dead.is_(False),
                   f.event_id > row.event_id, same_queue(f, row.replayed_at is not None))
            .order_by(f.event_id)
            .limit(1)
        )  # fmt: skip
    return found


def same_queue(table: Any, replayed: bool) -> Any:
    """Replayed deliveries queue apart from first deliveries (they hold nothing back)."""
    return table.replayed_at.is_not(None) if replayed else table.replayed_at.is_(None)


async def due_heads(db: Database, names: list[str], limit: int) -> list[EventFailure]:
    """Due failure rows with no earlier non-dead row in their queue (consumer, tenant, key)."""
    async with system_reader(db) as session:
        return list(await session.scalars(_due_heads(utcnow(), names, limit)))


def _due_heads(now: dt.datetime, names: list[str], limit: int) -> Any:
    earlier = aliased(EventFailure)
    f = EventFailure
    blocked = (
        select(earlier.id)
        .where(earlier.consumer == f.consumer, earlier.tenant_id == f.tenant_id,
               earlier.event_key == f.event_key, earlier.dead.is_(False),
               earlier.event_id < f.event_id,
               or_(and_(f.replayed_at.is_(None), earlier.replayed_at.is_(None)),
                   and_(f.replayed_at.is_not(None), earlier.replayed_at.is_not(None))))
        .exists()
    )  # fmt: skip
    return (
        select(f)
        .where(f.dead.is_(False), f.consumer.in_(names),
               or_(f.next_attempt_at.is_(None), f.next_attempt_at <= now), ~blocked)
        .order_by(f.event_id)
        .limit(limit)
    )  # fmt: skip


def earliest_attempt(names: list[str]) -> Any:
    """(how many failure rows are not dead, the earliest next attempt among them)."""
    f = EventFailure
    return select(func.count(), func.min(f.next_attempt_at)).where(
        f.dead.is_(False), f.consumer.in_(names)
    )


async def quiet_for(db: Database, names: list[str], longest: float) -> float:
    """Seconds until a failure row of ``names`` may be due (``longest`` when none waits)."""
    if not names:
        return longest
    async with system_reader(db) as session:
        count, earliest = (await session.execute(earliest_attempt(names))).one()
    if not count:
        return longest
    if earliest is None:
        return 0.0
    if earliest.tzinfo is None:
        earliest = earliest.replace(tzinfo=dt.UTC)
    return float(min(longest, max(0.0, (earliest - utcnow()).total_seconds())))
