"""The queries of the retry loop (:meth:`relaydesk.events.dispatch.Dispatcher.retry_due`):
which failure rows are due, and which queue (first deliveries or replays) a row belongs to."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import aliased

from relaydesk.events.known import system_reader
from relaydesk.events.models import EventFailure
from relaydesk.kit.db import Database, utcnow

__all__ = ["due_heads", "earliest_attempt", "quiet_for", "same_queue"]


def same_queue(table: Any, replayed: bool) -> Any:
    """Replayed deliveries queue apart from first deliveries (they hold nothing back)."""
    return table.replayed_at.is_not(None) if replayed else table.replayed_at.is_(None)


def due_heads(now: dt.datetime, names: list[str], limit: int) -> Any:
    """Due failure rows with no earlier non-dead row in their queue (consumer, tenant, key)."""
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
