"""One batch, several consumers, and the taps (SQLite and PostgreSQL).

On one lane (SQLite) every consumer of a batch runs in one transaction (without savepoints
first; when one raises, again with each in a savepoint): a consumer that raises is rolled
back alone and its failure recorded, the others' effects and processed records commit once.
A consumer that acts outside its transaction (a frame sent) is never run twice for that.
The relay hands each batch to the taps (the realtime push) before any consumer runs, once
per event even when the batch is read again, and offers again what a failing tap missed.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import pytest
from bus_support import only_ours, tenant
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.events import emit
from relaydesk.events.consumers import Consumer, register_consumer
from relaydesk.events.dispatch import Dispatcher
from relaydesk.events.envelope import Envelope
from relaydesk.events.inprocess import InProcessBackend
from relaydesk.events.models import EventFailure, OutboxEvent, ProcessedEvent
from relaydesk.events.relay import Relay
from relaydesk.events.taps import Tap, register_tap
from relaydesk.kit.db import Database

__all__ = ["only_ours", "tenant"]


class Echo:
    """Writes an effect per event in the consumer's transaction; fails on ``fail`` seqs."""

    def __init__(self, name: str, fail: Sequence[int] = (), seen: list[Any] | None = None):
        self.name, self.fail, self.seen = name, set(fail), seen

    async def handle(self, session: AsyncSession, envelope: Envelope) -> None:
        seq = int(envelope.payload["seq"])
        if self.seen is not None:
            self.seen.append(("consumer", seq))
        if seq in self.fail:
            raise RuntimeError(f"{self.name} refused seq {seq}")
        await emit(session, "custom.echo", {"by": self.name, "seq": seq},
                   tenant_id=envelope.tenant_id)  # fmt: skip

    def consumer(self) -> Consumer:
        return Consumer(self.name, self.handle, types=("custom.batch.*",), max_attempts=5)


async def emit_steps(db: Database, tenant: uuid.UUID, seqs: Sequence[int]) -> None:
    async with db.job(tenant) as session:
        for seq in seqs:
            await emit(session, "custom.batch.step", {"seq": seq}, tenant_id=tenant,
                       key=f"k{seq % 2}")  # fmt: skip


async def applied(db: Database, tenant: uuid.UUID, by: str) -> list[int]:
    async with db.job(tenant) as session:
        rows = await session.scalars(
            select(OutboxEvent).where(OutboxEvent.type == "custom.echo").order_by(OutboxEvent.id)
        )
        return [row.payload["seq"] for row in rows if row.payload["by"] == by]


async def test_a_failing_consumer_is_rolled_back_alone(db: Database, tenant: uuid.UUID) -> None:
    good, bad = Echo("test.good"), Echo("test.bad", fail=[1])
    register_consumer(good.consumer())
    register_consumer(bad.consumer())
    await emit_steps(db, tenant, [0, 1, 2, 3])
    relay = Relay(db, InProcessBackend(Dispatcher(db, retry_base=0.0001)))
    while await relay.run_once():
        pass
    assert await applied(db, tenant, "test.good") == [0, 1, 2, 3]
    # seq 1 failed and holds back seq 3 (same key); seq 0 and 2 went through
    assert await applied(db, tenant, "test.bad") == [0, 2]
    async with db.job(tenant) as session:
        failures = list(await session.scalars(select(EventFailure).order_by(EventFailure.event_id)))
        processed = dict(
            (await session.execute(
                select(ProcessedEvent.consumer, func.count()).group_by(ProcessedEvent.consumer)
            )).all()
        )  # fmt: skip
    assert [(f.consumer, f.attempts) for f in failures] == [("test.bad", 1), ("test.bad", 0)]
    assert processed == {"test.good": 4, "test.bad": 2}
    bad.fail = set()
    dispatcher = Dispatcher(db, retry_base=0.0001)
    assert await dispatcher.retry_due() == 2  # seq 1, then seq 3 behind it, in order
    assert await applied(db, tenant, "test.bad") == [0, 2, 1, 3]


async def test_a_consumer_acting_outside_is_not_run_again(db: Database, tenant: uuid.UUID) -> None:
    seen: list[Any] = []
    outside, bad = Echo("test.outside", seen=seen), Echo("test.bad2", fail=[1])
    register_consumer(Consumer("test.outside", outside.handle, types=("custom.batch.*",),
                               acts_outside=True))  # fmt: skip
    register_consumer(bad.consumer())
    await emit_steps(db, tenant, [0, 1, 2])
    relay = Relay(db, InProcessBackend(Dispatcher(db, retry_base=0.0001)))
    while await relay.run_once():
        pass
    assert seen == [("consumer", 0), ("consumer", 1), ("consumer", 2)]
    assert await applied(db, tenant, "test.outside") == [0, 1, 2]
    assert await applied(db, tenant, "test.bad2") == [0, 2]


class FlakyPublisher:
    """Publishes through the in-process backend, but fails the first ``fail`` calls."""

    name = "flaky"

    def __init__(self, backend: InProcessBackend, fail: int) -> None:
        self.backend, self.fail = backend, fail

    async def publish(self, envelopes: Sequence[Envelope]) -> None:
        if self.fail:
            self.fail -= 1
            raise RuntimeError("the database went away")
        await self.backend.publish(envelopes)


async def test_taps_get_each_event_once_before_the_consumers(
    db: Database, tenant: uuid.UUID
) -> None:
    seen: list[Any] = []

    async def push(envelopes: Sequence[Envelope]) -> None:
        seen.extend(("tap", int(e.payload["seq"])) for e in envelopes)

    register_tap(Tap("test.push", push, types=("custom.batch.*",)))
    register_consumer(Echo("test.after", seen=seen).consumer())
    await emit_steps(db, tenant, [0, 1])
    relay = Relay(db, FlakyPublisher(InProcessBackend(Dispatcher(db)), fail=1))
    with pytest.raises(RuntimeError):
        await relay.run_once()  # the batch is not marked: it is read again next time
    assert await relay.run_once() == 2
    while await relay.run_once():  # the consumer's own custom.echo events
        pass
    # pushed once, in order, before the consumer ran; the consumer ran once too
    assert seen == [("tap", 0), ("tap", 1), ("consumer", 0), ("consumer", 1)]


async def test_a_failing_tap_gets_its_events_again_first(db: Database, tenant: uuid.UUID) -> None:
    got: list[int] = []
    down = [True]

    async def push(envelopes: Sequence[Envelope]) -> None:
        if down[0]:
            raise ConnectionError("Redis is restarting")
        got.extend(int(e.payload["seq"]) for e in envelopes)

    register_tap(Tap("test.push", push, types=("custom.batch.*",)))
    relay = Relay(db, InProcessBackend(Dispatcher(db)))
    await emit_steps(db, tenant, [0, 1])
    assert await relay.run_once() == 2  # the outbox goes on without the tap
    down[0] = False
    await emit_steps(db, tenant, [2])
    assert await relay.run_once() == 1
    assert got == [0, 1, 2]
    assert await relay.run_once() == 0 and got == [0, 1, 2]
