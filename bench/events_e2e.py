"""Event backbone end to end: from the commit of a state change (an outbox ``emit`` in a
transaction) to the signed webhook delivered to a local receiver, against a baseline of the
same receiver called directly (a signed POST, no database, no bus).

Per database (a temporary SQLite file, then PostgreSQL ``relaydesk_bench_events`` when the
local server answers) the script migrates a fresh schema, creates a tenant with one webhook
endpoint for ``order.*`` (masked payloads, the SSRF-safe client, Standard Webhooks
signatures), starts the receiver in its own process (a bare asyncio HTTP/1.1 server that
records the arrival time of every ``seq``) and measures:

* **throughput**: ``--events`` events committed as fast as ``--producers`` concurrent
  producers can (one event per transaction), timed from the first commit to the last
  arrival at the receiver;
* **latency** at a fixed ``--rate`` (default 200 events/s, open loop for ``--seconds``):
  arrival time minus commit time per event, p50 and p99.

Modes: ``inprocess`` (the embedded default: relay, consumers and job runner in the producer's
process) and, when Redis answers and the database is PostgreSQL, ``redis`` with 1 and 2
``worker`` processes (the producer only commits and pokes the leader, as an API node with
``events.run_in_api`` off). The baseline is the same receiver loaded directly, closed loop
with ``--producers`` connections for throughput and at ``--rate`` for latency.

Every measuring process runs on uvloop, as Relaydesk's own processes do (``relaydesk serve``
through uvicorn, ``relaydesk worker``, ``relaydesk demo``); ``--loop asyncio`` measures on
asyncio's own loop instead.

Goals (issue 4): at least 1,000 events/s with the in-process bus; p99 < 50 ms at 200/s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import ensure_pg_database, free_port, listening, wait_for_quiet  # noqa: E402
from _events_e2e_measure import measure_baseline, measure_relaydesk, seed  # noqa: E402

DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/relaydesk_bench_events"
DEFAULT_REDIS = "redis://127.0.0.1:6379/8"
SECRET_KEY = "bench-events-secret-" + "e" * 40
STREAM_PREFIX = "rd:events"
GOAL_RATE, GOAL_P99_MS = 1000.0, 50.0


@contextlib.contextmanager
def subprocess_of(args: list[str], env: dict[str, str], log: Path,
                  port: int | None = None) -> Iterator[subprocess.Popen[bytes]]:  # fmt: skip
    with log.open("wb") as out:
        cmd = [sys.executable, "-u", str(Path(__file__).resolve()), *args]
        proc = subprocess.Popen(cmd, env={**os.environ, **env}, stdout=out,
                                stderr=subprocess.STDOUT)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while port is not None and not listening(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{args[0]} did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.05)
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --- Relaydesk side -------------------------------------------------------------------------


def make_settings(data_dir: Path, db_url: str | None, redis_url: str | None) -> Any:
    from relaydesk.config import Settings

    env = settings_env(data_dir, db_url, redis_url)
    return Settings(**{k: v for k, v in _nested(env).items()})  # type: ignore[arg-type]


def settings_env(data_dir: Path, db_url: str | None, redis_url: str | None) -> dict[str, str]:
    env = {"RELAYDESK_DATA_DIR": str(data_dir), "RELAYDESK_SECURITY__SECRET_KEY": SECRET_KEY,
           "RELAYDESK_LOG_LEVEL": "WARNING", "RELAYDESK_EVENTS__POLL_SECONDS": "0.5",
           "RELAYDESK_EVENTS__BACKEND": "redis" if redis_url else "inprocess"}  # fmt: skip
    if db_url:
        env["RELAYDESK_DATABASE__URL"] = db_url
    if redis_url:
        env["RELAYDESK_REDIS__URL"] = redis_url
    return env


def _nested(env: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in env.items():
        parts = name.removeprefix("RELAYDESK_").lower().split("__")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


async def run_inprocess(settings: Any, tenant_id: uuid.UUID, base: str,
                        args: argparse.Namespace) -> dict[str, Any]:  # fmt: skip
    from relaydesk.events.runtime import EventRuntime
    from relaydesk.kit.crypto import Keyring
    from relaydesk.kit.db import Database
    from relaydesk.kit.ratelimit import MemoryRateLimiter
    from relaydesk.webhooks import consumers  # noqa: F401 - registers the consumer and job
    from relaydesk.webhooks import runtime as webhooks

    webhooks.configure(keyring=Keyring.from_settings(settings), limiter=MemoryRateLimiter())
    db = Database.from_url(settings.database_url, pool_size=settings.database.pool_size)
    runtime = EventRuntime(db, settings)
    await runtime.start()
    try:
        return await measure_relaydesk(db, tenant_id, base, args)
    finally:
        await runtime.stop()
        await webhooks.reset()
        await db.dispose()


async def run_producer_only(settings: Any, tenant_id: uuid.UUID, base: str,
                            args: argparse.Namespace) -> dict[str, Any]:  # fmt: skip
    """The API-node side with workers elsewhere: commit and poke the leader through Redis."""
    from relaydesk.events.runtime import EventRuntime
    from relaydesk.kit.db import Database

    db = Database.from_url(settings.database_url, pool_size=settings.database.pool_size)
    runtime = EventRuntime(db, settings, notify_only=True)
    await runtime.start()
    try:
        return await measure_relaydesk(db, tenant_id, base, args)
    finally:
        await runtime.stop()
        await db.dispose()


def run_worker() -> None:
    """``relaydesk worker`` with the webhooks consumer (settings from RELAYDESK_*)."""
    from relaydesk.cli.common import run_process
    from relaydesk.cli.worker import run_worker as worker
    from relaydesk.config import load_settings
    from relaydesk.webhooks import consumers  # noqa: F401 - registers the consumer and job

    run_process(worker(load_settings()))  # as `relaydesk worker` runs: on uvloop


async def _redis_clean(url: str) -> bool:
    from redis.asyncio import Redis

    client = Redis.from_url(url, socket_connect_timeout=1)
    try:
        await client.ping()
        async for key in client.scan_iter(match=f"{STREAM_PREFIX}*", count=1000):
            await client.delete(key)
        return True
    except Exception:
        return False
    finally:
        await client.aclose()


# --- Orchestration --------------------------------------------------------------------------


def _loop(main: Any, args: argparse.Namespace) -> Any:
    """Run a measurement on uvloop, as ``relaydesk serve`` (uvicorn) and ``relaydesk worker``
    run, or with ``--loop asyncio`` on asyncio's own loop."""
    from relaydesk.cli.common import run_process

    return run_process(main) if args.loop == "uvloop" else asyncio.run(main)


def bench_database(url: str | None, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    label = "sqlite" if url is None else "postgresql"
    run: dict[str, Any] = {"database": label, "load_average": round(os.getloadavg()[0], 2)}
    data_dir = work / label
    data_dir.mkdir()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with subprocess_of(["--receiver", str(port)], {}, work / f"receiver-{label}.log", port):
        run["baseline"] = _loop(measure_baseline(base, args), args)
        settings = make_settings(data_dir, url, None)
        tenant_id, _ = asyncio.run(seed(settings, f"{base}/hook"))
        run["inprocess"] = _loop(run_inprocess(settings, tenant_id, base, args), args)
        if url is None or args.skip_redis or not asyncio.run(_redis_clean(args.redis_url)):
            return run
        for workers in (1, 2):
            asyncio.run(_redis_clean(args.redis_url))
            settings = make_settings(data_dir, url, args.redis_url)
            env = settings_env(data_dir, url, args.redis_url)
            with contextlib.ExitStack() as stack:
                for n in range(workers):
                    log = work / f"worker-{workers}-{n}.log"
                    stack.enter_context(subprocess_of(["--worker"], env, log))
                time.sleep(3)  # migrations done, leases taken
                run[f"redis_{workers}_workers"] = _loop(
                    run_producer_only(settings, tenant_id, base, args), args)  # fmt: skip
    return run


def report(run: dict[str, Any]) -> None:
    base = run["baseline"]
    print(f"\n== {run['database']} (load average {run['load_average']} at its start) ==")
    print(f"  baseline (direct signed POST): {base['throughput']['events_per_s']:>8.1f} events/s;"
          f" at {base['latency']['rate']:g}/s p50 {base['latency']['p50_ms']} ms,"
          f" p99 {base['latency']['p99_ms']} ms")  # fmt: skip
    for mode in ("inprocess", "redis_1_workers", "redis_2_workers"):
        if mode not in run:
            continue
        t, lat = run[mode]["throughput"], run[mode]["latency"]
        ratio = t["events_per_s"] / base["throughput"]["events_per_s"]
        ok_rate = "meets" if t["events_per_s"] >= GOAL_RATE else "MISSES"
        ok_p99 = "meets" if 0 <= lat["p99_ms"] < GOAL_P99_MS else "MISSES"
        lost = ""
        if t["delivered"] != t["events"] or lat["delivered"] != lat["events"]:
            lost = f"  (delivered {t['delivered']}/{t['events']}, "
            lost += f"{lat['delivered']}/{lat['events']})"
        failed = t["failed_commits"] + lat["failed_commits"]
        if failed:
            lost += f"  ({failed} commits FAILED: the database lock wait timed out)"
        print(f"  {mode:<16} {t['events_per_s']:>8.1f} events/s (commits {t['commits_per_s']}/s;"
              f" producer process {t['cpu_ms_per_event']} ms CPU/event;"
              f" {ratio:.2f}x baseline; {ok_rate} {GOAL_RATE:g}/s)"
              f" | at {lat['rate']:g}/s p50 {lat['p50_ms']} ms p99 {lat['p99_ms']} ms"
              f" ({ok_p99} p99 < {GOAL_P99_MS:g} ms){lost}")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=3000, help="events of the throughput run")
    parser.add_argument("--producers", type=int, default=8, help="concurrent producers")
    parser.add_argument("--rate", type=float, default=200.0, help="events/s of the latency run")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the latency run")
    parser.add_argument("--timeout", type=float, default=120.0, help="wait for deliveries")
    parser.add_argument("--database-url", action="append", default=None,
                        help="sqlite or a postgresql+asyncpg URL; repeatable")  # fmt: skip
    parser.add_argument("--redis-url", default=DEFAULT_REDIS)
    parser.add_argument("--skip-redis", action="store_true")
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop",
                        help="event loop of the measuring process (Relaydesk's processes: uvloop)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--max-load", type=float, default=1.0)
    parser.add_argument("--wait", type=float, default=300.0)
    parser.add_argument("--receiver", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.receiver:
        from _webhook_receiver import run_receiver

        run_receiver(args.receiver)
        return 0
    if args.worker:
        run_worker()
        return 0
    urls: list[str | None] = []
    for url in args.database_url or ["sqlite", DEFAULT_PG]:
        if url == "sqlite":
            urls.append(None)
        elif asyncio.run(ensure_pg_database(url, fresh=True)):
            urls.append(url)
        else:
            print(f"skipping {url}: the server does not answer")
    load = wait_for_quiet(args.max_load, args.wait)
    print(f"load average at start: {load}")
    runs = []
    with tempfile.TemporaryDirectory(prefix="relaydesk-bench-events-") as tmp:
        for url in urls:
            run = bench_database(url, args, Path(tmp))
            report(run)
            runs.append(run)
    if args.json:
        args.json.write_text(json.dumps({"load_average": load, "runs": runs}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
