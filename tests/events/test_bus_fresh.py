"""The relay's one lane (SQLite and PostgreSQL): the stamp in the consumers' transaction, and
the first reads it leaves out for events that can have no record yet (``Fresh``).

Each case checks the effects in the database (an echo outbox row per applied event) and, where
the point is a read left out or made, the statements sent.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from bus_support import applied, only_ours, tenant
from sqlalchemy import event, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.events import consumers as registry
from relaydesk.events import emit
from relaydesk.events.consumers import Consumer, register_consumer
from relaydesk.events.dispatch import Dispatcher
from relaydesk.events.envelope import Envelope
from relaydesk.events.inprocess import InProcessBackend
from relaydesk.events.models import EventFailure, OutboxEvent, ProcessedEvent
from relaydesk.events.outbox import to_envelope
from relaydesk.events.relay import Relay
from relaydesk.kit.db import Database, utcnow
from relaydesk.kit.ids import uuid7
from relaydesk.migrations.runner import upgrade
from relaydesk.tenancy.service import create_tenant

__all__ = ["only_ours", "tenant"]


class Echo:
    """Echoes each event it applies into the outbox; fails on the seqs in ``fail``."""

    def __init__(self, name: str) -> None:
        self.name, self.calls, self.fail = name, 0, set[int]()

    async def handle(self, session: AsyncSession, envelope: Envelope) -> None:
        self.calls += 1
        seq = int(envelope.payload["seq"])
        if seq in self.fail:
            raise RuntimeError(f"{self.name} refused seq {seq}")
        await emit(session, "custom.echo", {"by": self.name, "seq": seq},
                   tenant_id=envelope.tenant_id)  # fmt: skip

    def register(self) -> Echo:
        register_consumer(Consumer(self.name, self.handle, types=("custom.fresh.*",)))
        return self


async def emit_steps(db: Database, tenant: uuid.UUID, steps: list[tuple[str, int]]) -> None:
    async with db.job(tenant) as session:
        for key, seq in steps:
            await emit(session, "custom.fresh.step", {"seq": seq}, tenant_id=tenant, key=key)


async def unpublished(db: Database, tenant: uuid.UUID) -> int:
    async with db.job(tenant) as session:
        return int(await session.scalar(
            select(func.count()).select_from(OutboxEvent)
            .where(OutboxEvent.published_at.is_(None), OutboxEvent.type == "custom.fresh.step")
        ) or 0)  # fmt: skip


async def drain(relay: Relay) -> None:
    while await relay.run_once():
        pass


class Statements:
    """The SQL sent while it is open."""

    def __init__(self, db: Database) -> None:
        self.engine = db.engine.sync_engine
        self.sent: list[str] = []

    def _seen(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.sent.append(" ".join(statement.split()))

    def __enter__(self) -> Statements:
        event.listen(self.engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._seen)

    def reads(self, table: str) -> int:
        """The dispatcher's reads of ``table`` (what it knows of a batch, one consumer's
        check before a single attempt)."""
        return sum(1 for s in self.sent if s.startswith(f"SELECT {table}."))


def one_lane(db: Database) -> tuple[Relay, Dispatcher]:
    dispatcher = Dispatcher(db, retry_base=0.0001)
    return Relay(db, InProcessBackend(dispatcher), batch_size=50), dispatcher


async def steps_of(db: Database, tenant: uuid.UUID) -> list[Envelope]:
    async with db.job(tenant) as session:
        rows = await session.scalars(
            select(OutboxEvent).where(OutboxEvent.type == "custom.fresh.step")
            .order_by(OutboxEvent.id)
        )  # fmt: skip
        return [to_envelope(row) for row in rows]


async def test_the_stamp_commits_with_the_consumers_and_fresh_events_skip_the_reads(
    db: Database, tenant: uuid.UUID, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = Echo("test.first").register(), Echo("test.second").register()
    relay, dispatcher = one_lane(db)

    async def no_separate_mark(*args: object, **kwargs: object) -> None:
        raise AssertionError("one lane stamps in the consumers' transaction")

    monkeypatch.setattr(relay, "mark_published", no_separate_mark)
    await emit_steps(db, tenant, [("a", 0), ("b", 1)])
    # an earlier process ran the first consumer on seq 0 and stopped before the stamp
    earlier = (await steps_of(db, tenant))[0]
    await Dispatcher(db).deliver(registry.consumers()[0], [earlier])
    with Statements(db) as before:
        await drain(relay)
    assert before.reads("event_processed") >= 1 and before.reads("event_failures") >= 1
    await emit_steps(db, tenant, [("a", 2), ("b", 3), ("c", 4)])
    with Statements(db) as fresh:
        assert await relay.run_once() == 3
    assert fresh.reads("event_processed") == 0 and fresh.reads("event_failures") == 0
    assert sum(s.startswith("UPDATE event_outbox") for s in fresh.sent) == 1
    await drain(relay)  # the consumers' echoes
    for echo in (first, second):
        assert await applied(db, tenant, echo.name) == [0, 1, 2, 3, 4]
        assert echo.calls == 5
    assert await unpublished(db, tenant) == 0
    assert dispatcher.fresh.touched == set()


async def test_a_backlog_nobody_ran_goes_the_fast_way_and_a_second_hand_on_does_not(
    db: Database, tenant: uuid.UUID
) -> None:
    echo = Echo("test.backlog").register()
    await emit_steps(db, tenant, [("a", 0), ("b", 1), ("a", 2)])  # before the relay began
    relay, _ = one_lane(db)
    with Statements(db) as sent:
        await drain(relay)
    assert sent.reads("event_processed") == 0 and sent.reads("event_failures") == 0
    assert await applied(db, tenant, echo.name) == [0, 1, 2]
    await relay.publisher.publish(await steps_of(db, tenant))  # handed on again: stamped ones
    assert echo.calls == 3 and await applied(db, tenant, echo.name) == [0, 1, 2]


async def test_an_event_this_process_touched_outside_the_stamp_is_read_again(
    db: Database, tenant: uuid.UUID
) -> None:
    echo = Echo("test.once").register()
    relay, dispatcher = one_lane(db)
    await dispatcher.fresh.load(db)  # the term begins
    await emit_steps(db, tenant, [("k", 0), ("k", 1)])
    envelopes = await steps_of(db, tenant)
    await dispatcher.deliver(registry.consumers()[0], envelopes[:1])  # a lane, no stamp
    assert dispatcher.fresh.touched == {envelopes[0].id}
    with Statements(db) as sent:
        await drain(relay)
    assert sent.reads("event_processed") == 1  # the touched event made the batch careful
    assert echo.calls == 2 and await applied(db, tenant, echo.name) == [0, 1]
    assert dispatcher.fresh.touched == set()  # stamped now


async def test_a_failure_holds_back_later_batches_of_its_key_then_reads_stop_again(
    db: Database, tenant: uuid.UUID
) -> None:
    echo = Echo("test.flaky").register()
    echo.fail = {1}
    relay, dispatcher = one_lane(db)
    await dispatcher.fresh.load(db)
    assert not dispatcher.fresh.blockers
    await emit_steps(db, tenant, [("a", 0), ("b", 1)])
    await drain(relay)  # seq 1 fails: its failure row now holds back key b
    assert dispatcher.fresh.blockers
    await emit_steps(db, tenant, [("b", 2), ("a", 3)])
    with Statements(db) as sent:
        await drain(relay)
    assert sent.reads("event_failures") == 1 and sent.reads("event_processed") == 0
    assert await applied(db, tenant, echo.name) == [0, 3]  # seq 2 is parked behind seq 1
    assert await unpublished(db, tenant) == 0
    echo.fail = set()
    assert await dispatcher.retry_due() == 2
    assert await applied(db, tenant, echo.name) == [0, 3, 1, 2]
    await dispatcher.quiet_for(2.0)  # no failure row left: the loop says so
    assert not dispatcher.fresh.blockers
    await emit_steps(db, tenant, [("b", 4)])
    with Statements(db) as sent:
        await drain(relay)
    assert sent.reads("event_failures") == 0
    assert await applied(db, tenant, echo.name) == [0, 3, 1, 2, 4]


async def test_a_failure_row_left_by_an_earlier_leader_holds_back_its_key(
    db: Database, tenant: uuid.UUID
) -> None:
    echo = Echo("test.heir").register()
    await emit_steps(db, tenant, [("k", 0)])
    async with db.job(tenant) as session:
        old = (await session.scalars(select(OutboxEvent))).one()
        old.published_at = utcnow()
        now = utcnow()
        await session.execute(insert(EventFailure).values(
            id=uuid7(), created_at=now, tenant_id=tenant, consumer=echo.name, event_id=old.id,
            event_type=old.type, event_key="k", attempts=1, error="earlier leader",
            first_failed_at=now, last_failed_at=now, next_attempt_at=now, dead=False,
        ))  # fmt: skip
    relay, dispatcher = one_lane(db)
    await dispatcher.fresh.load(db)  # the term begins with a blocker in the database
    assert dispatcher.fresh.blockers
    await emit_steps(db, tenant, [("k", 1), ("j", 2)])
    await drain(relay)
    assert await applied(db, tenant, echo.name) == [2]  # seq 1 waits behind seq 0
    async with db.job(tenant) as session:
        rows = list(await session.scalars(select(EventFailure).order_by(EventFailure.event_id)))
    assert [(r.attempts, r.event_key) for r in rows] == [(1, "k"), (0, "k")]
    assert await dispatcher.retry_due() == 2
    assert await applied(db, tenant, echo.name) == [2, 0, 1]


async def test_a_record_the_fast_path_did_not_expect_is_refused_and_applied_once(
    db: Database, tenant: uuid.UUID
) -> None:
    """Another leader (a lost lock not noticed yet) processed a fresh event: the primary key
    of processed records refuses the second record, and the batch runs the careful way."""
    echo = Echo("test.race").register()
    relay, dispatcher = one_lane(db)
    await dispatcher.fresh.load(db)
    await emit_steps(db, tenant, [("k", 0), ("k", 1)])
    first = (await steps_of(db, tenant))[0]
    async with db.job(tenant) as session:
        await emit(session, "custom.echo", {"by": echo.name, "seq": 0}, tenant_id=tenant)
        session.add(ProcessedEvent(consumer=echo.name, event_id=first.id, tenant_id=tenant))
    await drain(relay)
    assert await applied(db, tenant, echo.name) == [0, 1]  # seq 0 once (the other leader)
    assert await unpublished(db, tenant) == 0
    async with db.job(tenant) as session:
        records = await session.scalar(select(func.count()).select_from(ProcessedEvent))
    assert records == 2
    assert echo.calls == 3  # seq 0 and 1 in the refused transaction, then seq 1 alone


async def test_several_lanes_a_small_batch_goes_in_one_transaction_a_large_one_by_lanes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL's lanes (here on a file of its own: lanes need connections of their own):
    a batch of at most ``lanes`` events runs as on one lane, a larger one is shared out by
    key; the backend stamps both, and the relay has nothing left to stamp."""
    db = Database.from_url(f"sqlite+aiosqlite:///{tmp_path / 'lanes.db'}")
    try:
        await upgrade(db.engine)
        async with db.job(system=True) as session:
            tenant = (await create_tenant(session, slug="lanes", name="Lanes")).id
        first, second = Echo("test.first").register(), Echo("test.second").register()
        dispatcher = Dispatcher(db)
        relay = Relay(db, InProcessBackend(dispatcher, lanes=4), batch_size=50)

        async def no_separate_mark(*args: object, **kwargs: object) -> None:
            raise AssertionError("the in-process backend stamps what it published")

        monkeypatch.setattr(relay, "mark_published", no_separate_mark)
        await dispatcher.fresh.load(db)
        await emit_steps(db, tenant, [("a", 0), ("b", 1), ("a", 2)])
        with Statements(db) as small:
            assert await relay.run_once() == 3
        assert small.reads("event_processed") == 0  # fresh, on the one-transaction path
        assert sum(s.startswith("INSERT INTO event_processed") for s in small.sent) == 1
        await drain(relay)  # the echoes
        steps = [(f"k{i % 3}", i) for i in range(3, 13)]
        await emit_steps(db, tenant, steps)
        with Statements(db) as large:
            assert await relay.run_once() == 10
        assert sum(s.startswith("INSERT INTO event_processed") for s in large.sent) > 2
        await drain(relay)
        for echo in (first, second):
            done = await applied(db, tenant, echo.name)
            assert sorted(done) == list(range(13)) and echo.calls == 13
            for key in ("k0", "k1", "k2"):  # in order per key
                mine = [seq for k, seq in steps if k == key]
                assert [seq for seq in done if seq in mine] == mine
        assert await unpublished(db, tenant) == 0
        assert dispatcher.fresh.touched == set()  # what the lanes touched was stamped
    finally:
        await db.dispose()


async def test_interleaved_tenants_of_one_batch_all_go_the_fast_way(
    db: Database, tenant: uuid.UUID
) -> None:
    echo = Echo("test.tenants").register()
    async with db.job(system=True) as session:
        other = (await create_tenant(session, slug=f"fr-{uuid.uuid4().hex[:8]}", name="B")).id
    relay, dispatcher = one_lane(db)
    await dispatcher.fresh.load(db)
    for seq in range(4):  # a, b, a, b: each tenant's chunk spans the other's ids
        await emit_steps(db, (tenant, other)[seq % 2], [("k", seq)])
    with Statements(db) as sent:
        assert await relay.run_once() == 4
    assert sent.reads("event_processed") == 0 and sent.reads("event_failures") == 0
    await drain(relay)
    assert await applied(db, tenant, echo.name) == [0, 2]
    assert await applied(db, other, echo.name) == [1, 3]
