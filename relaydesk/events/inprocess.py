"""The in-process bus (the embedded default): the relay runs every consumer itself.

Durable because the outbox is in the database: the backend stamps a batch published only
after every interested consumer processed each event or recorded a failure for it, so a crash
in between publishes the batch again and consumers skip what they already processed.

Events are spread over ``lanes`` by a stable hash of (tenant, key): one lane runs its events
in order, lanes and consumers run concurrently up to ``lanes`` tasks. On SQLite (one writer)
one lane is right: concurrency would only queue on the write lock, and all consumers run in
one transaction per tenant and chunk, which also writes the stamp
(:meth:`Dispatcher.deliver_all`). A batch of at most ``lanes`` events goes that way on
PostgreSQL too: a transaction per lane and consumer would cost more than it overlaps."""

from __future__ import annotations

import asyncio
import uuid
import zlib
from collections.abc import Sequence

from relaydesk.events.consumers import Consumer, consumers
from relaydesk.events.dispatch import Dispatcher
from relaydesk.events.envelope import Envelope

__all__ = ["InProcessBackend", "key_hash"]


def key_hash(envelope: Envelope) -> int:
    """A hash of the ordering key that every process agrees on."""
    return zlib.crc32(envelope.tenant_id.bytes + envelope.key.encode())


class InProcessBackend:
    name = "inprocess"

    def __init__(self, dispatcher: Dispatcher, *, lanes: int = 1) -> None:
        self.dispatcher = dispatcher
        self.lanes = max(1, lanes)

    async def publish(self, envelopes: Sequence[Envelope]) -> set[uuid.UUID]:
        """Deliver, then stamp published; returns the ids stamped (all of them)."""
        if self.lanes == 1 or len(envelopes) <= self.lanes:
            # one writer, or too few events to share out: all consumers in one transaction
            # per tenant, which stamps the events too
            return await self.dispatcher.deliver_all(consumers(), envelopes)
        await self._lanes(envelopes)
        return await self.dispatcher.stamp(envelopes)

    async def _lanes(self, envelopes: Sequence[Envelope]) -> None:
        work: list[tuple[Consumer, list[Envelope]]] = []
        for consumer in consumers():
            wanted = [e for e in envelopes if consumer.wants(e.type)]
            if not wanted:
                continue
            lanes: dict[int, list[Envelope]] = {}
            for envelope in wanted:
                lanes.setdefault(key_hash(envelope) % self.lanes, []).append(envelope)
            work.extend((consumer, lane) for lane in lanes.values())
        if len(work) == 1:
            for consumer, lane in work:
                await self.dispatcher.deliver(consumer, lane)
            return
        gate = asyncio.Semaphore(self.lanes)

        async def bounded(consumer: Consumer, lane: list[Envelope]) -> None:
            async with gate:
                await self.dispatcher.deliver(consumer, lane)

        results = await asyncio.gather(*(bounded(c, lane) for c, lane in work),
                                       return_exceptions=True)  # fmt: skip
        for result in results:
            if isinstance(result, BaseException):
                raise result
