"""The ``customer360.timeline`` consumer: links external events to the customers they concern
(rules in :mod:`relaydesk.customer360.links`). Database-only and quick: the identities of a
batch's payloads looked up with one indexed query, one insert for the batch's links, in the
bus's transaction (so a redelivered event is skipped, never linked twice)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.customer360.links import LINKED_TYPES, link_events
from relaydesk.events.consumers import Consumer, register_consumer
from relaydesk.events.envelope import Envelope

__all__ = ["CONSUMER", "handle", "handle_batch"]


async def handle(session: AsyncSession, envelope: Envelope) -> None:
    await link_events(session, [envelope])


async def handle_batch(session: AsyncSession, envelopes: Sequence[Envelope]) -> None:
    await link_events(session, envelopes)


#: stable name (processed-event records and dead letters carry it): never rename it
CONSUMER = register_consumer(
    Consumer("customer360.timeline", handle, types=LINKED_TYPES, handle_batch=handle_batch)
)
