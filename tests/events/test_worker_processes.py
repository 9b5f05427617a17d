"""``relaydesk worker`` as real processes: SIGKILL mid-work and a Redis restart lose nothing
and apply nothing twice; SIGTERM stops cleanly; the embedded default (SQLite) works too.

The consumer (``test_bus_redis.COUNTER``, imported with ``--import``) increments a counter row
per event in its own transaction and logs (key, seq) so order per key can be checked.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from test_bus_redis import (  # the fixtures too
    PG_URL,
    PROC_URL,
    RedisServer,
    all_counted,
    clean_fixture,  # noqa: F401
    emit_steps,
    per_key_sequences,
    proc_db_fixture,  # noqa: F401
    redis_server_fixture,  # noqa: F401
    wait_for,
)

from relaydesk.kit.db import Database
from relaydesk.migrations.runner import upgrade
from relaydesk.tenancy.service import create_tenant

HERE = Path(__file__).parent
# registers the worker command unless relaydesk.cli already does
LAUNCH = (
    "import relaydesk.cli as cli\n"
    "from relaydesk.cli import worker\n"
    "cli._register()\n"
    "if 'worker' not in {c.name for c in cli.app.registered_commands}:\n"
    "    worker.register(cli.app)\n"
    "cli.main()\n"
)


class Worker:
    def __init__(self, tmp: Path, env: dict[str, str], name: str) -> None:
        self.log = tmp / f"{name}.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-c", LAUNCH, "worker", "--import", "test_bus_redis",
             "--lease-seconds", "2"],
            env=env, stdout=self.log.open("wb"), stderr=subprocess.STDOUT,
        )  # fmt: skip

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    async def ready(self) -> None:
        async def started() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited {self.proc.returncode}:\n{self.output()}")
            return "relaydesk worker" in self.output()

        await wait_for(started, 20, "the worker to start")

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return None


def worker_env(tmp: Path, database_url: str, redis_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAYDESK_")}
    env.update({
        "RELAYDESK_DATABASE__URL": database_url, "RELAYDESK_DATA_DIR": str(tmp / "var"),
        "RELAYDESK_EVENTS__POLL_SECONDS": "0.1", "RELAYDESK_EVENTS__PARTITIONS": "4",
        "RELAYDESK_LOG_LEVEL": "WARNING", "RELAYDESK_LOG_JSON": "false",
        "RDTEST_BUS_CONSUMER": "1", "RDTEST_BUS_DELAY": "0.002", "RDTEST_PG_URL": PG_URL,
        "PYTHONPATH": os.pathsep.join([str(HERE), str(HERE.parent), env.get("PYTHONPATH", "")]),
    })  # fmt: skip
    if redis_url:
        env["RELAYDESK_REDIS__URL"] = redis_url
    return env


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[list[Worker]]:
    started: list[Worker] = []
    yield started
    for worker in started:
        worker.stop(signal.SIGKILL)


async def start_two(
    tmp: Path, workers: list[Worker], redis_server: RedisServer
) -> tuple[Worker, Worker]:
    env = worker_env(tmp, PROC_URL, redis_server.url)
    first, second = Worker(tmp, env, "w1"), Worker(tmp, env, "w2")
    workers.extend([first, second])
    await first.ready()
    await second.ready()
    client = Redis.from_url(redis_server.url, decode_responses=True)

    async def shared() -> bool:  # both hold partitions
        holders = {await client.get(f"rd:events:lease:{p}") for p in range(4)}
        return None not in holders and len(holders) == 2

    try:
        await wait_for(shared, 10, "both workers to hold partitions")
    finally:
        await client.aclose()
    return first, second


async def emit_slowly(db: Database, tenant: uuid.UUID, total: int, batch: int) -> None:
    for start in range(0, total, batch):
        await emit_steps(db, tenant, start, batch, keys=20)
        await asyncio.sleep(0.03)


async def check_once_in_order(db: Database, total: int) -> None:
    seen = await all_counted(db, total, seconds=20)
    assert len(seen) == total and set(seen.values()) == {1}, "an event was applied twice"
    for key, seqs in (await per_key_sequences(db)).items():
        assert seqs == sorted(seqs), f"{key} out of order: {seqs}"


pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]


async def test_sigkill_mid_processing_loses_nothing_and_applies_nothing_twice(
    proc_db: Database, redis_server: RedisServer, clean: uuid.UUID, tmp_path: Path,
    workers: list[Worker],
) -> None:  # fmt: skip
    victim, survivor = await start_two(tmp_path, workers, redis_server)
    emitting = asyncio.create_task(emit_slowly(proc_db, clean, 400, 20))

    async def under_way() -> bool:
        return len(await all_counted_now(proc_db)) >= 60

    await wait_for(under_way, 15, "processing to start")
    victim.stop(signal.SIGKILL)  # in the middle of a batch: its transaction never commits
    await emitting
    await check_once_in_order(proc_db, 400)
    async with proc_db.engine.connect() as conn:
        pids = set(await conn.scalars(text("SELECT DISTINCT pid FROM bus_test_log")))
    assert pids == {victim.proc.pid, survivor.proc.pid}  # both worked; the survivor finished
    assert survivor.stop(signal.SIGTERM) == 0, survivor.output()
    assert "stopped" in survivor.output()


async def test_redis_restart_while_emitting_loses_nothing(
    proc_db: Database, redis_server: RedisServer, clean: uuid.UUID, tmp_path: Path,
    workers: list[Worker],
) -> None:  # fmt: skip
    first, second = await start_two(tmp_path, workers, redis_server)
    emitting = asyncio.create_task(emit_slowly(proc_db, clean, 300, 10))
    await asyncio.sleep(0.4)
    redis_server.kill()  # no persistence: streams, groups, leases, pending entries all gone
    await asyncio.sleep(0.5)
    redis_server.start()
    await emitting
    await check_once_in_order(proc_db, 300)
    assert "redis_streams_reset" in first.output() + second.output()
    assert first.stop() == 0 and second.stop() == 0


async def test_embedded_worker_on_sqlite(tmp_path: Path, workers: list[Worker]) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'relaydesk.db'}"
    db = Database.from_url(url)
    try:
        await upgrade(db.engine)
        async with db.engine.begin() as conn:
            await conn.execute(text("CREATE TABLE bus_test_counts (event_id varchar(36) "
                                    "PRIMARY KEY, n integer NOT NULL)"))  # fmt: skip
            await conn.execute(
                text(
                    "CREATE TABLE bus_test_log (id integer PRIMARY KEY "
                    "AUTOINCREMENT, key text, seq integer, pid integer)"
                )
            )
        async with db.job(system=True) as session:
            tenant = (await create_tenant(session, slug="solo", name="Solo")).id
        worker = Worker(tmp_path, worker_env(tmp_path, url, None), "sqlite")
        workers.append(worker)
        await worker.ready()
        await emit_slowly(db, tenant, 60, 20)
        await check_once_in_order(db, 60)
        started = time.monotonic()
        assert worker.stop(signal.SIGTERM) == 0, worker.output()
        assert time.monotonic() - started < 5
    finally:
        await db.dispose()


async def all_counted_now(db: Database) -> dict[str, int]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(text("SELECT event_id, n FROM bus_test_counts"))
        return {event_id: n for event_id, n in rows}
