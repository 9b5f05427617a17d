"""Callback ingest benchmark: signed callbacks verified, de-duplicated and stored per second by
one Relaydesk process, against a bare endpoint that only reads the body.

Per database: migrate, create a tenant and a connector instance whose callback is signed like
the demo ticket system's (hex HMAC-SHA256 of ``{timestamp}.{body}``), start Relaydesk
(``uvicorn callback_ingest:relaydesk_app --factory``, one worker) and the baseline
(``callback_ingest:bare_app``), and load each from a separate process with pre-generated,
distinct, freshly signed requests over keep-alive connections: ``wrk`` with a Lua script that
replays them when installed, else the asyncio load generator in this file. After each
Relaydesk run the inbox rows are counted: every 202 must be exactly one stored row.

Goal (issue "Integration hub"): at least 2,000 callbacks/s stored by one process; the ratio to
the bare endpoint is reported. See bench/README.md and docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import os
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any

from _common import (
    Result,
    cpu_seconds,
    ensure_pg_database,
    load_average,
    run_loadgen,
    run_wrk,
    server,
    wait_for_quiet,
)
from starlette.requests import Request  # resolved by FastAPI in bare_app's annotations

DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/relaydesk_bench"
SECRET = "bench-callback-secret"
SECRET_KEY = "bench-secret-key-" + "k" * 40
GOAL_RATE = 2000.0
SPEC = """
apiVersion: relaydesk.io/v1
kind: http
name: tickets
config:
  callback_secret: {type: string, required: true, secret: true}
http: {base_url: "http://127.0.0.1:1"}
callbacks:
  ticket_status_changed:
    signature:
      scheme: hmac_sha256_hex
      header: X-Ticket-Signature
      secret: "{{ config.callback_secret }}"
      payload: "{timestamp}.{body}"
      timestamp_header: X-Ticket-Timestamp
    event_id: eventId
    event_type: {expr: eventType, values: {TICKET_STATUS_CHANGED: ticket.status_changed}}
    entity_key: ticketNo
    entity_version: version
    mapping:
      fields:
        ticket_no: {expr: ticketNo, type: string, required: true}
        status: {expr: newStatus, type: string}
        version: {expr: version, type: integer}
"""
LUA = """
local requests, i = {}, 0
function init(args)
  local f = assert(io.open(args[1], "rb"))
  local data = f:read("*a")
  f:close()
  for r in string.gmatch(data, "([^%z]+)") do requests[#requests + 1] = r end
end
function request()
  i = i + 1
  if i > #requests then i = 1 end
  return requests[i]
end
"""


# --- App factories, imported by uvicorn in the server processes ---


def relaydesk_app() -> Any:
    """Relaydesk as ``relaydesk serve`` builds it, plus the hooks router if app.py lacks it."""
    from relaydesk.app import create_app
    from relaydesk.config import load_settings
    from relaydesk.integrations.hooks_api import mount

    app = create_app(load_settings())
    mount(app)  # a no-op when app.py mounts it
    # as `relaydesk serve` (and _common.relaydesk_app): no uvicorn access line per request
    access = logging.getLogger("uvicorn.access")
    access.handlers, access.propagate = [], False
    inner = app.router.lifespan_context
    wanted = os.environ.get("BENCH_WITH_PROCESSOR") == "1"

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> Any:
        """The inbox processor on or off as asked, whether or not app.py starts one."""
        from relaydesk.integrations.inbox import InboxProcessor

        async with inner(app) as state:
            running = getattr(app.state, "inbox_processor", None)
            if running is not None and not wanted:
                await running.stop()
            ours = None
            if running is None and wanted:
                ours = app.state.inbox_processor = InboxProcessor(app.state.db)
                ours.start()
            try:
                yield state
            finally:
                if ours is not None:
                    await ours.stop()

    app.router.lifespan_context = lifespan
    return app


def bare_app() -> Any:
    """The baseline: the same route, reading the body and answering 202; nothing else."""
    from fastapi import FastAPI, Response

    app = FastAPI()

    @app.post("/hooks/{tenant_slug}/{instance_name}/{callback}")
    async def hook(tenant_slug: str, instance_name: str, callback: str, request: Request) -> Any:
        await request.body()
        return Response(b'{"status":"accepted"}', 202, media_type="application/json")

    return app


# --- Seeding ---


def settings_env(data_dir: Path, url: str | None) -> dict[str, str]:
    env = {"RELAYDESK_DATA_DIR": str(data_dir), "RELAYDESK_SECURITY__SECRET_KEY": SECRET_KEY}
    if url:
        env["RELAYDESK_DATABASE__URL"] = url
    return env


async def seed(env: dict[str, str]) -> str:
    """Migrate; a fresh tenant with one ``tickets`` instance; returns the tenant slug."""
    from relaydesk.config import SecuritySettings, Settings
    from relaydesk.integrations import secrets
    from relaydesk.integrations.models import ConnectorInstance
    from relaydesk.integrations.spec import load_spec
    from relaydesk.kit.crypto import Keyring
    from relaydesk.kit.db import Database
    from relaydesk.kit.ids import uuid7
    from relaydesk.migrations.runner import upgrade
    from relaydesk.tenancy.service import create_tenant

    settings = Settings(
        data_dir=Path(env["RELAYDESK_DATA_DIR"]),
        database={"url": env.get("RELAYDESK_DATABASE__URL")},  # type: ignore[arg-type]
        security=SecuritySettings(secret_key=SECRET_KEY),  # type: ignore[arg-type]
    )
    db = Database.from_url(settings.database_url)
    try:
        await upgrade(db.engine)
        slug = f"bench-{uuid.uuid4().hex[:8]}"
        async with db.job(system=True) as session:
            tenant = await create_tenant(session, slug=slug, name="基准测试公司")
        spec = load_spec(SPEC)
        instance = ConnectorInstance(name="tickets", connector="tickets", spec=spec.to_document())
        instance.id, instance.tenant_id = uuid7(), tenant.id
        secrets.encrypt_config(Keyring.from_settings(settings), instance,
                               {"callback_secret": SECRET})  # fmt: skip
        async with db.job(tenant.id) as session:
            session.add(instance)
        return slug
    finally:
        await db.dispose()


async def drain_inbox(env: dict[str, str]) -> tuple[int, float]:
    """Process every pending inbox row with :func:`process_pending`: (rows, rows per second)."""
    from relaydesk.config import Settings
    from relaydesk.integrations.inbox import process_pending
    from relaydesk.kit.db import Database

    url = env.get("RELAYDESK_DATABASE__URL") or Settings(
        data_dir=Path(env["RELAYDESK_DATA_DIR"])).database_url  # fmt: skip
    db = Database.from_url(url)
    try:
        total, started = 0, time.perf_counter()
        while count := await process_pending(db, 500):
            total += count
        return total, total / (time.perf_counter() - started)
    finally:
        await db.dispose()


async def count_inbox(env: dict[str, str], slug: str) -> int:
    from sqlalchemy import func, select

    from relaydesk.config import Settings
    from relaydesk.integrations.models import CallbackInbox
    from relaydesk.kit.db import Database
    from relaydesk.tenancy.models import Tenant

    url = env.get("RELAYDESK_DATABASE__URL") or Settings(
        data_dir=Path(env["RELAYDESK_DATA_DIR"])).database_url  # fmt: skip
    db = Database.from_url(url)
    try:
        async with db.job(system=True) as session:
            stmt = (select(func.count()).select_from(CallbackInbox)
                    .join(Tenant, Tenant.id == CallbackInbox.tenant_id)
                    .where(Tenant.slug == slug))  # fmt: skip
            return int(await session.scalar(stmt) or 0)
    finally:
        await db.dispose()


def write_requests(path: Path, url_path: str, port: int, count: int) -> None:
    """``count`` distinct callbacks, signed now, as raw HTTP/1.1 requests separated by NUL."""
    stamp = str(int(time.time()))
    key = SECRET.encode()
    with path.open("wb") as out:
        for n in range(count):
            event = {"eventId": f"evt_{uuid.uuid4().hex}", "eventType": "TICKET_STATUS_CHANGED",
                     "ticketNo": f"GD2026112{n % 5000:07d}", "version": n // 5000 + 2,
                     "oldStatus": "NEW", "newStatus": "PROCESSING", "operator": "坐席小王",
                     "changedAt": "2026-11-21 10:22:00", "customerMobile": "13800138000"}
            body = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
            signature = hmac.new(key, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
            head = (f"POST {url_path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                    "Content-Type: application/json; charset=utf-8\r\n"
                    f"X-Ticket-Timestamp: {stamp}\r\nX-Ticket-Signature: {signature}\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n")  # fmt: skip
            out.write(head.encode() + body + b"\0")


# --- Load ---


def load(base: str, file: Path, args: argparse.Namespace, seconds: float) -> Result:
    """Closed-loop load replaying the requests of ``file`` (wrk + Lua, or the asyncio one)."""
    if args.tool == "wrk":
        script = file.with_suffix(".lua")
        script.write_text(LUA)
        return run_wrk(base + "/", {}, args.connections, seconds, script=script,
                       script_args=[str(file)])  # fmt: skip
    return run_loadgen(base, [], args.connections, seconds, requests_file=file)


def measure(base: str, pid: int, url_path: str, args: argparse.Namespace,
            work: Path) -> tuple[Result, int]:
    """Warm-up, then the timed run, each with its own freshly signed, distinct requests:
    (the timed run's figures, requests answered in both)."""
    port = int(base.rsplit(":", 1)[1])
    warmed = 0
    if args.warmup > 0:
        warm = work / "warmup.req"
        write_requests(warm, url_path, port, int(args.warmup * args.max_rate))
        warmed = load(base, warm, args, args.warmup).requests
    timed = work / "timed.req"
    write_requests(timed, url_path, port, int(args.seconds * args.max_rate))
    before = cpu_seconds(pid)
    result = load(base, timed, args, args.seconds)
    after = cpu_seconds(pid)
    if before is not None and after is not None and result.requests:
        result.server_cpu_ms = (after - before) / result.requests * 1000
    if result.requests >= int(args.seconds * args.max_rate):
        print("  WARNING: the pre-generated requests ran out (raise --max-rate)")
    return result, warmed + result.requests


def bench_database(url: str | None, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    label = "PostgreSQL" if url else "SQLite"
    data_dir = workdir / ("pg" if url else "sqlite")
    data_dir.mkdir()
    env = settings_env(data_dir, url)
    if args.with_processor:
        env["BENCH_WITH_PROCESSOR"] = "1"
    else:  # nothing to relay: events an earlier run left in a shared database stay out of it
        env["RELAYDESK_EVENTS__RUN_IN_API"] = "false"
    slug = asyncio.run(seed(env))
    asyncio.run(drain_inbox(env))  # rows left pending by earlier runs on the same database
    url_path = f"/hooks/{slug}/tickets/ticket_status_changed"
    print(f"  seeded tenant {slug} with a `tickets` instance; POST {url_path}")
    started_load = load_average()
    with server("callback_ingest:relaydesk_app", env, data_dir / "relaydesk.log") as (base, pid):
        stored_before = asyncio.run(count_inbox(env, slug))
        relaydesk, answered = measure(base, pid, url_path, args, data_dir)
        relaydesk.target = "relaydesk"
    stored = asyncio.run(count_inbox(env, slug)) - stored_before
    processed, processing_rate = asyncio.run(drain_inbox(env))
    with server("callback_ingest:bare_app", {}, data_dir / "bare.log") as (base, pid):
        bare, _ = measure(base, pid, url_path, args, data_dir)
        bare.target = "bare FastAPI"
    ratio = relaydesk.requests_per_s / bare.requests_per_s
    return {"database": label, "ratio": ratio, "goal_met": relaydesk.requests_per_s >= GOAL_RATE,
            "load_average_at_start": started_load, "answered": answered, "stored": stored,
            "processed": processed, "processing_per_s": processing_rate,
            "results": [asdict(relaydesk), asdict(bare)]}  # fmt: skip


def report(run: dict[str, Any]) -> None:
    print(f"\n{run['database']}  (load average {run['load_average_at_start']} at the start)"
          f"\n  {'target':<14}{'callbacks/s':>12}{'p50 ms':>9}{'p99 ms':>9}"
          f"{'requests':>10}{'errors':>8}{'CPU ms/req':>12}")  # fmt: skip
    for r in run["results"]:
        cpu = "n/a" if r["server_cpu_ms"] is None else f"{r['server_cpu_ms']:.3f}"
        print(f"  {r['target']:<14}{r['requests_per_s']:>12.1f}{r['p50_ms']:>9.2f}"
              f"{r['p99_ms']:>9.2f}{r['requests']:>10}{r['errors']:>8}{cpu:>12}")  # fmt: skip
    relaydesk = run["results"][0]
    print(f"  answered {run['answered']} (warm-up + timed run), stored {run['stored']}"
          " inbox rows (more by up to the requests in flight when the load stopped)")
    print(f"  then processed "
          f"{run['processed']} pending rows at {run['processing_per_s']:.0f}/s "
          "(process_pending, batches of 500, in the bench process)")  # fmt: skip
    met = "met" if run["goal_met"] else "NOT met"
    print(f"  ratio relaydesk/bare = {run['ratio']:.3f}; relaydesk "
          f"{relaydesk['requests_per_s']:.0f}/s (goal >= {GOAL_RATE:.0f}/s: {met})")
    if any(r["errors"] for r in run["results"]):
        print("  WARNING: errors during the run; the figures are not valid")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    add = parser.add_argument
    add("--seconds", type=float, default=10.0, help="timed run per target")
    add("--warmup", type=float, default=3.0, help="warm-up per target (s)")
    add("--connections", type=int, default=50)
    add("--max-rate", type=float, default=12_000,
        help="requests pre-generated per second of run (must exceed the achieved rate)")
    add("--database-url", action="append", dest="urls", metavar="URL",
        help=f"'sqlite' or a postgresql+asyncpg:// URL; repeatable (default: sqlite, {DEFAULT_PG})")
    add("--tool", choices=("auto", "wrk", "python"), default="auto")
    add("--with-processor", action="store_true",
        help="also run the inbox processor in the Relaydesk process during the load")
    add("--json", type=Path, help="also write the figures to this file")
    add("--max-load", type=float, default=1.0,
        help="wait for the 1-minute load average to fall below this first")
    add("--wait", type=float, default=300.0, help="... for at most this many seconds")
    args = parser.parse_args(argv)

    if args.tool == "auto":
        args.tool = "wrk" if shutil.which("wrk") else "python"
    explicit = args.urls is not None
    urls = [None if u == "sqlite" else u for u in args.urls or ["sqlite", DEFAULT_PG]]
    print(f"load: {args.tool}, {args.connections} connections, {args.warmup:g} s warm-up + "
          f"{args.seconds:g} s per target; {os.cpu_count()} CPUs; one uvicorn worker each; "
          f"processor {'on' if args.with_processor else 'off'}")  # fmt: skip
    print(f"1-minute load average at the start: {wait_for_quiet(args.max_load, args.wait)}")
    runs = []
    with tempfile.TemporaryDirectory(prefix="relaydesk-bench-") as tmp:
        for url in urls:
            print(f"\n== {'SQLite' if url is None else url}")
            if url is not None and not asyncio.run(ensure_pg_database(url)):
                if explicit:
                    return 1
                continue
            run = bench_database(url, args, Path(tmp))
            report(run)
            runs.append(run)
    print(f"\n1-minute load average at the end: {load_average()}")
    if args.json:
        args.json.write_text(json.dumps(runs, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
