"""The queries of the retry loop (:meth:`relaydesk.events.dispatch.Dispatcher.retry_due`):
which failure rows are due, and which queue (first deliveries or replays) a row belongs to."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import aliased

from relaydesk.events.models import EventFailure

__all__ = ["due_heads", "same_queue"]


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
