"""The Redis Streams bus on PostgreSQL with a real redis-server of the test's own.

These tests commit for real (several runtimes, their own connections), so they use a
database of their own (``<RDTEST_PG_URL>_proc``) and a redis-server on a free port, which
they may flush, kill and restart. ``test_worker_processes`` reuses the helpers below; with
``RDTEST_BUS_CONSUMER=1`` importing this module registers the counting consumer (that is how
``relaydesk worker --import test_bus_redis`` gets it).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.config import DatabaseSettings, EventsSettings, RedisSettings, Settings
from relaydesk.events import consumers as registry
from relaydesk.events import emit
from relaydesk.events.consumers import Consumer, register_consumer
from relaydesk.events.envelope import Envelope
from relaydesk.events.redis_streams import RedisPublisher, StreamKeys
from relaydesk.events.relay import Relay
from relaydesk.events.repository import load_state
from relaydesk.events.runtime import EventRuntime
from relaydesk.kit.db import Database, make_engine
from relaydesk.migrations.runner import upgrade
from relaydesk.tenancy.service import create_tenant

PG_URL = os.environ.get(
    "RDTEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/relaydesk_test"
)
PROC_URL = f"{PG_URL}_proc"
TYPE = "custom.bus.step"

# --- the counting consumer: one counter row per event, written in the consumer's transaction


async def count_event(session: AsyncSession, envelope: Envelope) -> None:
    await session.execute(
        text("INSERT INTO bus_test_counts (event_id, n) VALUES (:id, 1) "
             "ON CONFLICT (event_id) DO UPDATE SET n = bus_test_counts.n + 1"),
        {"id": str(envelope.id)},
    )  # fmt: skip
    await session.execute(
        text("INSERT INTO bus_test_log (key, seq, pid) VALUES (:key, :seq, :pid)"),
        {"key": envelope.key, "seq": int(envelope.payload["seq"]), "pid": os.getpid()},
    )
    delay = float(os.environ.get("RDTEST_BUS_DELAY", "0"))
    if delay:
        await asyncio.sleep(delay)  # a consumer that takes a moment: kills land mid-work


COUNTER = Consumer("test.counter", count_event, types=("custom.bus.*",))
if os.environ.get("RDTEST_BUS_CONSUMER") == "1":
    register_consumer(COUNTER)

_TABLES = (
    "CREATE TABLE bus_test_counts (event_id varchar(36) PRIMARY KEY, n integer NOT NULL)",
    "CREATE TABLE bus_test_log (id bigserial PRIMARY KEY, key varchar(200) NOT NULL, "
    "seq integer NOT NULL, pid integer NOT NULL)",
)
_CLEAN = ("TRUNCATE bus_test_counts, bus_test_log, event_outbox, event_processed, "
          "event_failures, event_bus_state, jobs")  # fmt: skip


async def fresh_database() -> None:
    base, _, name = PROC_URL.rpartition("/")
    admin = make_engine(f"{base}/postgres")
    async with admin.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        found = await conn.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
        )
        if found.first() is None:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()
    engine = make_engine(PROC_URL)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await upgrade(engine)
    async with engine.begin() as conn:
        for ddl in _TABLES:
            await conn.execute(text(ddl))
    await engine.dispose()


class RedisServer:
    """A redis-server of our own, keeping nothing on disk (like the deployment's)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir), "--stream-node-max-entries", "10"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


def needs_servers() -> None:
    if not shutil.which("redis-server") or not shutil.which("psql"):
        pytest.skip("needs PostgreSQL and redis-server on this machine")


@pytest.fixture(scope="module", name="proc_db")
async def proc_db_fixture() -> AsyncIterator[Database]:
    needs_servers()
    await fresh_database()
    database = Database.from_url(PROC_URL)
    yield database
    await database.dispose()


@pytest.fixture(scope="module", name="redis_server")
def redis_server_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    needs_servers()
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.kill()


@pytest.fixture(name="clean")
async def clean_fixture(proc_db: Database, redis_server: RedisServer) -> uuid.UUID:
    """Empty tables and Redis; returns a new tenant's id."""
    if redis_server.proc is None:
        redis_server.start()
    await upgrade(proc_db.engine)  # a migration added since the module started (workers insist)
    async with proc_db.engine.begin() as conn:
        await conn.execute(text(_CLEAN))
    client = Redis.from_url(redis_server.url)
    await client.flushdb()
    await client.aclose()
    async with proc_db.job(system=True) as session:
        tenant = await create_tenant(session, slug=f"bus-{uuid.uuid4().hex[:8]}", name="Bus")
    return tenant.id


@pytest.fixture
def counter_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_CONSUMERS", {})
    register_consumer(COUNTER)


def bus_settings(redis_url: str) -> Settings:
    return Settings(
        environment="test", database=DatabaseSettings(url=PROC_URL),
        redis=RedisSettings(url=redis_url),
        events=EventsSettings(poll_seconds=0.1, partitions=4, max_attempts=2),
    )  # fmt: skip


async def emit_steps(db: Database, tenant: uuid.UUID, start: int, count: int, keys: int) -> None:
    async with db.job(tenant) as session:
        for seq in range(start, start + count):
            await emit(session, TYPE, {"seq": seq}, tenant_id=tenant, key=f"key-{seq % keys}")


async def counts(db: Database) -> dict[str, int]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(text("SELECT event_id, n FROM bus_test_counts"))
        return {event_id: n for event_id, n in rows}


async def per_key_sequences(db: Database) -> dict[str, list[int]]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(text("SELECT key, seq FROM bus_test_log ORDER BY id"))
        out: dict[str, list[int]] = {}
        for key, seq in rows:
            out.setdefault(key, []).append(seq)
        return out


async def wait_for(check: Callable[[], Awaitable[bool]], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {seconds}s waiting for {what}")


async def all_counted(db: Database, total: int, seconds: float = 15.0) -> dict[str, int]:
    async def done() -> bool:
        return len(await counts(db)) >= total

    await wait_for(done, seconds, f"{total} events counted")
    return await counts(db)


def runtime(db: Database, redis_url: str, **kwargs: object) -> EventRuntime:
    return EventRuntime(db, bus_settings(redis_url), lease_seconds=2.0, run_jobs=False,
                        sweep_seconds=0.2, **kwargs)  # type: ignore[arg-type]  # fmt: skip


pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.usefixtures("counter_only")]


async def test_two_runtimes_share_the_partitions_in_key_order_once(
    proc_db: Database, redis_server: RedisServer, clean: uuid.UUID
) -> None:
    first, second = runtime(proc_db, redis_server.url), runtime(proc_db, redis_server.url)
    await first.start()
    await second.start()
    try:
        assert first.consumers is not None and second.consumers is not None
        a, b = first.consumers, second.consumers

        async def balanced() -> bool:  # the first takes all, then hands half to the second
            return len(a.owned) == len(b.owned) == 2

        await wait_for(balanced, 5, "the partitions shared out")
        for start in range(0, 300, 30):
            await emit_steps(proc_db, clean, start, 30, keys=12)
        seen = await all_counted(proc_db, 300)
        assert set(seen.values()) == {1}
        for key, seqs in (await per_key_sequences(proc_db)).items():
            assert seqs == sorted(seqs), key
        assert [first.is_leader, second.is_leader].count(True) == 1
        assert set(a.owned).isdisjoint(b.owned)
        async with proc_db.engine.connect() as conn:
            pids = await conn.scalar(text("SELECT count(DISTINCT pid) FROM bus_test_log"))
        assert pids == 1  # one process here; test_worker_processes has two
        leader = first if first.is_leader else second
        assert leader.redis_publisher is not None
        await leader.redis_publisher.trim()  # everything acknowledged: streams shrink
        client = Redis.from_url(redis_server.url)
        lengths = [await client.xlen(f"rd:events:p{p}") for p in range(4)]
        await client.aclose()
        assert sum(lengths) < 100, lengths
    finally:
        await first.stop()
        await second.stop()


async def test_redis_forgetting_everything_loses_nothing(
    proc_db: Database, redis_server: RedisServer, clean: uuid.UUID
) -> None:
    settings = bus_settings(redis_server.url)
    client = Redis.from_url(redis_server.url, decode_responses=True)
    keys = StreamKeys(partitions=settings.events.partitions)
    await emit_steps(proc_db, clean, 0, 50, keys=5)
    relay = Relay(proc_db, RedisPublisher(proc_db, client, keys))
    while await relay.run_once():  # published into Redis, nobody has read them yet
        pass
    assert sum([await client.xlen(keys.stream(p)) for p in range(4)]) == 50
    await client.flushdb()  # what a restart of a Redis without persistence does
    await emit_steps(proc_db, clean, 50, 50, keys=5)
    worker = runtime(proc_db, redis_server.url)
    await worker.start()
    try:
        seen = await all_counted(proc_db, 100)
        assert set(seen.values()) == {1}
        for seqs in (await per_key_sequences(proc_db)).values():
            assert seqs == sorted(seqs)
        await client.flushdb()  # again, now that all were processed
        await emit_steps(proc_db, clean, 100, 10, keys=5)
        seen = await all_counted(proc_db, 110)
        assert set(seen.values()) == {1}  # re-published ones were skipped, not applied again
        assert worker.redis_publisher is not None
        worker.redis_publisher.margin = worker.redis_publisher.margin * 0  # no young events
        mark = await worker.redis_publisher.advance_watermark()
        async with proc_db.job(system=True) as session:
            assert await load_state(session, "redis.watermark") == str(mark)
            newest = await session.scalar(
                text("SELECT id FROM event_outbox ORDER BY id DESC LIMIT 1")
            )
        assert mark is not None and mark > uuid.UUID(str(newest))
    finally:
        await worker.stop()
        await client.aclose()


async def test_failures_retry_then_dead_letter_with_redis(
    proc_db: Database, redis_server: RedisServer, clean: uuid.UUID
) -> None:
    refused: dict[str, int] = {}

    async def picky(session: AsyncSession, envelope: Envelope) -> None:
        left = refused.get(str(envelope.payload["seq"]), 0)
        if left:
            refused[str(envelope.payload["seq"])] = left - 1
            raise ValueError("CRM answered 500")
        await count_event(session, envelope)

    registry._CONSUMERS.clear()
    register_consumer(Consumer("test.picky", picky, types=("custom.bus.*",)))
    refused.update({"1": 10_000, "2": 2})  # 1 never works; 2 works after two failures
    worker = runtime(proc_db, redis_server.url, retry_base=0.01)
    await worker.start()
    try:
        await emit_steps(proc_db, clean, 0, 4, keys=4)
        seen = await all_counted(proc_db, 3)
        assert len(seen) == 3 and set(seen.values()) == {1}

        async def dead() -> bool:
            async with proc_db.job(clean) as session:
                rows = list(await session.scalars(text("SELECT dead FROM event_failures")))
            return rows == [True]

        await wait_for(dead, 5, "the dead letter")
        async with proc_db.job(clean) as session:
            row = (await session.execute(text(
                "SELECT attempts, error FROM event_failures"
            ))).one()  # fmt: skip
        assert row.attempts == 2 and "CRM answered 500" in row.error
    finally:
        await worker.stop()


async def test_inprocess_bus_on_postgres_has_one_relay_and_fails_over(
    proc_db: Database, clean: uuid.UUID
) -> None:
    """Several processes with the in-process bus: the advisory lock picks one relay."""
    settings = Settings(
        environment="test", database=DatabaseSettings(url=PROC_URL),
        events=EventsSettings(backend="inprocess", poll_seconds=0.1),
    )  # fmt: skip
    first = EventRuntime(proc_db, settings, run_jobs=False)
    second = EventRuntime(proc_db, settings, run_jobs=False)
    await first.start()
    await second.start()
    try:
        await emit_steps(proc_db, clean, 0, 50, keys=5)
        assert set((await all_counted(proc_db, 50)).values()) == {1}
        leader, other = (first, second) if first.is_leader else (second, first)
        assert leader.is_leader and not other.is_leader
        await leader.stop()  # gives the lock back; the other takes over within a poll

        async def took_over() -> bool:
            return other.is_leader

        await wait_for(took_over, 3, "the other runtime to lead")
        await emit_steps(proc_db, clean, 50, 50, keys=5)
        assert set((await all_counted(proc_db, 100)).values()) == {1}
        for seqs in (await per_key_sequences(proc_db)).values():
            assert seqs == sorted(seqs)
    finally:
        await first.stop()
        await second.stop()
