"""The ``customer360.timeline`` consumer: links external events to the customers they concern
(rules in :mod:`relaydesk.customer360.links`). Database-only and quick: one indexed lookup
per identity in the payload, one row per link, in the bus's transaction (so a redelivered
event is skipped, never linked twice)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.customer360.links import LINKED_TYPES, link_event
from relaydesk.events.consumers import Consumer, register_consumer
from relaydesk.events.envelope import Envelope

__all__ = ["CONSUMER", "handle"]


async def handle(session: AsyncSession, envelope: Envelope) -> None:
    await link_event(session, envelope)


#: stable name (processed-event records and dead letters carry it): never rename it
CONSUMER = register_consumer(Consumer("customer360.timeline", handle, types=LINKED_TYPES))
