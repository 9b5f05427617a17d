"""Event bus alone: relay + dispatch throughput with an empty consumer, against the raw
outbox insert rate measured in the same run.

Per mode the script migrates a fresh database and creates a tenant, then measures:

* **baseline**: ``--events`` events committed one per transaction by one producer, no bus
  running (what a stream of single-event state changes costs the database);
* **drain**: the same number of events already committed (in transactions of 100), then an
  ``EventRuntime`` started with one empty consumer; timed from the start until the consumer
  has processed the last one (processed records committed). This is the bus's own ceiling:
  relay, (Redis,) dispatch, idempotency records.

Modes: ``sqlite`` (in-process bus, temporary file), ``postgres`` (in-process bus) and
``postgres+redis`` (Redis Streams, one runtime in this process) when the servers answer.
The end-to-end figures (commit to delivered webhook, worker processes) are in
``events_e2e.py``.

    .venv/bin/python bench/events_bus.py [--events 5000] [--redis-url redis://127.0.0.1:6379/5]
        [--postgres-url postgresql+asyncpg://postgres@127.0.0.1:5432/relaydesk_bench_bus]
        [--max-load 1.0] [--wait 300]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import ensure_pg_database, wait_for_quiet

from relaydesk.config import DatabaseSettings, EventsSettings, RedisSettings, Settings
from relaydesk.events import consumers as registry
from relaydesk.events import emit
from relaydesk.events.consumers import Consumer, register_consumer
from relaydesk.events.envelope import Envelope
from relaydesk.events.runtime import EventRuntime
from relaydesk.kit.db import Database
from relaydesk.migrations.runner import upgrade
from relaydesk.tenancy.service import create_tenant

PREFIX = f"rdbench:{uuid.uuid4().hex[:8]}"


async def _baseline(db: Database, tenant: uuid.UUID, count: int) -> float:
    started = time.perf_counter()
    for seq in range(count):
        async with db.job(tenant) as session:
            await emit(session, "custom.bench", {"seq": seq}, tenant_id=tenant, key=f"k{seq % 50}")
    return count / (time.perf_counter() - started)


async def _drain(db: Database, settings: Settings, tenant: uuid.UUID, count: int) -> float:
    for start in range(0, count, 100):
        async with db.job(tenant) as session:
            for seq in range(start, min(count, start + 100)):
                await emit(session, "custom.bench", {"seq": seq}, tenant_id=tenant,
                           key=f"k{seq % 50}")  # fmt: skip
    done: set[uuid.UUID] = set()
    finished = asyncio.Event()

    async def empty(session: object, envelope: Envelope) -> None:
        done.add(envelope.id)
        if len(done) >= 2 * count:  # the baseline's events are in the outbox too
            finished.set()

    registry._CONSUMERS.clear()
    register_consumer(Consumer("bench.empty", empty, types=("custom.bench",)))
    runtime = EventRuntime(db, settings, run_jobs=False, stream_prefix=PREFIX)
    started = time.perf_counter()
    await runtime.start()
    try:
        await asyncio.wait_for(finished.wait(), 600)
        elapsed = time.perf_counter() - started
    finally:
        await runtime.stop()
        if runtime.backend == "redis":
            await _forget_streams(settings)
    return 2 * count / elapsed


async def _forget_streams(settings: Settings) -> None:
    from redis.asyncio import Redis

    assert settings.redis.url
    client = Redis.from_url(settings.redis.url)
    keys = [key async for key in client.scan_iter(f"{PREFIX}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def _mode(name: str, url: str, redis_url: str | None, count: int) -> None:
    db = Database.from_url(url)
    try:
        await upgrade(db.engine)
        async with db.job(system=True) as session:
            tenant = (await create_tenant(session, slug=f"bench-{uuid.uuid4().hex[:6]}",
                                          name="Bench")).id  # fmt: skip
        settings = Settings(
            environment="test", database=DatabaseSettings(url=url),
            redis=RedisSettings(url=redis_url),
            events=EventsSettings(backend="redis" if redis_url else "inprocess"),
        )  # fmt: skip
        inserts = await _baseline(db, tenant, count)
        bus = await _drain(db, settings, tenant, count)
        print(
            f"{name:16} raw outbox inserts {inserts:8.0f} events/s (1 per transaction)   "
            f"relay+dispatch {bus:8.0f} events/s   ratio {bus / inserts:5.2f}",
            flush=True,
        )
    finally:
        await db.dispose()


async def _redis_answers(url: str) -> bool:
    from redis.asyncio import Redis

    client = Redis.from_url(url)
    try:
        return bool(await asyncio.wait_for(client.ping(), 2))
    except Exception:
        print(f"  Redis at {url} not reachable; skipped")
        return False
    finally:
        await client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument(
        "--postgres-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/relaydesk_bench_bus"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/5")
    parser.add_argument("--max-load", type=float, default=1.0)
    parser.add_argument("--wait", type=float, default=300)
    args = parser.parse_args()
    load = wait_for_quiet(args.max_load, args.wait)
    print(f"event bus, empty consumer, {args.events} events (1-minute load {load:.2f})")
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        asyncio.run(_mode("sqlite", url, None, args.events))
    if asyncio.run(ensure_pg_database(args.postgres_url, fresh=True)):
        asyncio.run(_mode("postgres", args.postgres_url, None, args.events))
        if asyncio.run(_redis_answers(args.redis_url)) and asyncio.run(
            ensure_pg_database(args.postgres_url, fresh=True)
        ):
            asyncio.run(_mode("postgres+redis", args.postgres_url, args.redis_url, args.events))


if __name__ == "__main__":
    main()
