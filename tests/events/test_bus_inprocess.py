"""The in-process bus on SQLite and PostgreSQL: order per key, once only, retries, dead letters.

The consumers here write a real effect in the consumer's transaction (an ``custom.echo``
outbox row), so "applied once" is checked in the database, not only in a list.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bus_support import tenant
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.config import EventsSettings, Settings
from relaydesk.events import consumers as registry
from relaydesk.events import emit
from relaydesk.events.consumers import Consumer, register_consumer
from relaydesk.events.dispatch import Dispatcher
from relaydesk.events.envelope import Envelope
from relaydesk.events.inprocess import InProcessBackend
from relaydesk.events.models import EventFailure, OutboxEvent, ProcessedEvent
from relaydesk.events.outbox import to_envelope
from relaydesk.events.relay import Relay
from relaydesk.events.runtime import EventRuntime
from relaydesk.kit.db import Database
from relaydesk.migrations.runner import upgrade
from relaydesk.tenancy.service import create_tenant

__all__ = ["tenant"]


class Recorder:
    """A consumer that echoes each event into the outbox and can be told to fail."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls = 0  # handler calls, rolled back ones included
        self.fail: dict[int, int] = {}  # seq -> failures left (-1: always)

    async def handle(self, session: AsyncSession, envelope: Envelope) -> None:
        seq = int(envelope.payload["seq"])
        left = self.fail.get(seq, 0)
        if left:
            self.fail[seq] = left - 1
            raise RuntimeError(f"order system refused seq {seq}, call 13812345678")
        await emit(session, "custom.echo",
                   {"of": str(envelope.id), "by": self.name, "key": envelope.key, "seq": seq},
                   tenant_id=envelope.tenant_id)  # fmt: skip
        self.calls += 1

    def consumer(self, max_attempts: int = 8) -> Consumer:
        return Consumer(self.name, self.handle, types=("custom.bus.*",), max_attempts=max_attempts)


@pytest.fixture
def only_our_consumers(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Other domains' consumers stay out of these tests."""
    monkeypatch.setattr(registry, "_CONSUMERS", {})
    yield


async def emit_steps(db: Database, tenant: uuid.UUID, steps: list[tuple[str, int]]) -> None:
    async with db.job(tenant) as session:
        for key, seq in steps:
            await emit(session, "custom.bus.step", {"seq": seq}, tenant_id=tenant, key=key)


async def drain(relay: Relay) -> None:
    while await relay.run_once():
        pass


async def echoes(db: Database, tenant: uuid.UUID, by: str) -> list[dict[str, Any]]:
    """The effects ``by`` committed, in the order it applied them."""
    async with db.job(tenant) as session:
        rows = await session.scalars(
            select(OutboxEvent).where(OutboxEvent.type == "custom.echo").order_by(OutboxEvent.id)
        )
        return [row.payload for row in rows if row.payload["by"] == by]


async def applied(db: Database, tenant: uuid.UUID, by: str) -> list[tuple[str, int]]:
    return [(e["key"], e["seq"]) for e in await echoes(db, tenant, by)]


def bus(db: Database, attempts: int = 3) -> tuple[Relay, Dispatcher]:
    dispatcher = Dispatcher(db, max_attempts=attempts, retry_base=0.0001)
    return Relay(db, InProcessBackend(dispatcher), batch_size=7), dispatcher


pytestmark = pytest.mark.usefixtures("only_our_consumers")


async def test_each_consumer_gets_each_event_once_in_key_order(
    db: Database, tenant: uuid.UUID
) -> None:
    first, second = Recorder("test.first"), Recorder("test.second")
    register_consumer(first.consumer())
    register_consumer(second.consumer())
    steps = [(f"order-{i % 3}", i) for i in range(20)]
    await emit_steps(db, tenant, steps[:12])
    await emit_steps(db, tenant, steps[12:])
    relay, _ = bus(db)
    await drain(relay)  # batches of 7: three rounds
    for recorder in (first, second):
        done = await applied(db, tenant, recorder.name)
        assert sorted(done, key=lambda d: d[1]) == steps  # each once
        for key in ("order-0", "order-1", "order-2"):
            assert [seq for k, seq in done if k == key] == [s for k, s in steps if k == key]
    async with db.job(tenant) as session:
        unpublished = await session.scalar(
            select(func.count())
            .select_from(OutboxEvent)
            .where(OutboxEvent.published_at.is_(None), OutboxEvent.type == "custom.bus.step")
        )
        processed = await session.scalar(select(func.count()).select_from(ProcessedEvent))
    assert unpublished == 0 and processed == 40


async def test_redelivery_after_a_crash_applies_nothing_twice(
    db: Database, tenant: uuid.UUID
) -> None:
    recorder = Recorder("test.once")
    register_consumer(recorder.consumer())
    await emit_steps(db, tenant, [("k", i) for i in range(5)])
    async with db.job(tenant) as session:
        rows = list(await session.scalars(
            select(OutboxEvent).where(OutboxEvent.type == "custom.bus.step")
            .order_by(OutboxEvent.id)
        ))  # fmt: skip
    envelopes = [to_envelope(row) for row in rows]
    backend = InProcessBackend(Dispatcher(db))
    await backend.publish(envelopes[:3])  # the relay "crashed" before stamping published_at
    relay = Relay(db, backend)
    await drain(relay)  # publishes all five again
    await backend.publish(envelopes)  # and once more, for good measure
    assert recorder.calls == 5  # the redeliveries were skipped before the handler
    assert await applied(db, tenant, "test.once") == [("k", i) for i in range(5)]


async def test_a_failing_event_costs_only_itself_and_holds_back_its_key(
    db: Database, tenant: uuid.UUID
) -> None:
    recorder = Recorder("test.flaky")
    # seq 1 fails three calls: the batch try and its own first attempt, then one retry
    recorder.fail = {1: 3}
    register_consumer(recorder.consumer())
    await emit_steps(db, tenant, [("a", 0), ("b", 1), ("c", 2), ("b", 3), ("a", 4)])
    relay, dispatcher = bus(db)
    await drain(relay)
    # a and c went through in the batch; b's first event failed and its second one waits
    assert await applied(db, tenant, "test.flaky") == [("a", 0), ("c", 2), ("a", 4)]
    async with db.job(tenant) as session:
        rows = list(await session.scalars(select(EventFailure).order_by(EventFailure.event_id)))
    failing, waiting = rows
    assert failing.event_key == waiting.event_key == "b"
    assert failing.attempts == 1 and not failing.dead and failing.next_attempt_at is not None
    assert "refused seq 1" in failing.error and "13812345678" not in failing.error  # masked
    assert waiting.attempts == 0 and "waiting for the earlier event" in waiting.error
    assert await dispatcher.retry_due() == 1  # fails again (2nd attempt); seq 3 still waits
    assert await dispatcher.retry_due() == 2  # works; then seq 3 runs at once, in order
    assert (await applied(db, tenant, "test.flaky"))[-2:] == [("b", 1), ("b", 3)]
    async with db.job(tenant) as session:
        assert list(await session.scalars(select(EventFailure))) == []
    assert len(await echoes(db, tenant, "test.flaky")) == 5


async def test_dead_letter_releases_the_key_and_replay_applies_it(
    db: Database, tenant: uuid.UUID
) -> None:
    recorder = Recorder("test.poison")
    recorder.fail = {0: -1}  # always fails
    register_consumer(recorder.consumer(max_attempts=2))
    await emit_steps(db, tenant, [("k", 0), ("k", 1), ("k", 2)])
    relay, dispatcher = bus(db, attempts=5)  # the consumer's own max_attempts wins
    await drain(relay)
    assert await applied(db, tenant, "test.poison") == []
    await dispatcher.retry_due()  # attempt 2: dead; then 1 and 2 run
    assert await applied(db, tenant, "test.poison") == [("k", 1), ("k", 2)]
    async with db.job(tenant) as session:
        dead = (await session.scalars(select(EventFailure))).one()
    assert dead.dead and dead.attempts == 2 and dead.next_attempt_at is None
    assert await dispatcher.retry_due() == 0  # dead letters are not retried

    from relaydesk.audit.service import SYSTEM
    from relaydesk.events.service import EventService

    recorder.fail = {}
    async with db.job(tenant) as session:
        await EventService(session, SYSTEM).replay_dead_letter(dead.id)
    assert await dispatcher.retry_due() == 1
    # replayed after the later ones: order is kept while retrying, not after a dead letter
    assert await applied(db, tenant, "test.poison") == [("k", 1), ("k", 2), ("k", 0)]
    async with db.job(tenant) as session:
        assert list(await session.scalars(select(EventFailure))) == []


async def test_runtime_delivers_at_commit_not_at_the_next_poll(tmp_path: Path) -> None:
    """The embedded default end to end: its own SQLite file, the runtime's loops."""
    db = Database.from_url(f"sqlite+aiosqlite:///{tmp_path / 'rd.db'}")
    await upgrade(db.engine)
    settings = Settings(environment="test", events=EventsSettings(poll_seconds=30))
    recorder = Recorder("test.live")
    register_consumer(recorder.consumer())
    runtime = EventRuntime(db, settings, run_jobs=False)
    try:
        async with db.job(system=True) as session:
            tenant = (await create_tenant(session, slug="live", name="Live")).id
        await runtime.start()
        await asyncio.sleep(0.1)  # the leader loop is idle now, waiting up to 30 s
        started = time.monotonic()
        await emit_steps(db, tenant, [("k", i) for i in range(5)])
        while len(await echoes(db, tenant, "test.live")) < 5:
            assert time.monotonic() - started < 3, "the commit did not wake the relay"
            await asyncio.sleep(0.02)
        assert await applied(db, tenant, "test.live") == [("k", i) for i in range(5)]
        assert runtime.is_leader and runtime.backend == "inprocess"
    finally:
        started = time.monotonic()
        await runtime.stop()
        assert time.monotonic() - started < 2
        await db.dispose()
