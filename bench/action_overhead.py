"""Action overhead benchmark: a connector read through Relaydesk against the same request sent
straight to the demo system, in one run.

Starts the demo enterprise systems (``python -m relaydesk.demo_systems``, free loopback ports)
and Relaydesk (``uvicorn _common:relaydesk_app``, one worker, a temporary data dir, the demo
organisation seeded by ``seed_demo(settings, systems_base_port=...)`` with its connector
instances), then measures from a separate process, for each load (sequential, concurrent
closed loop, open loop at a fixed rate):

(a) direct: ``GET /api/v1/contacts/{id}`` on the demo CRM with a cached OAuth bearer token,
    the request the ``crm`` connector's ``get_contact`` sends;
(b) through Relaydesk, uncached: ``POST /api/v1/connector-instances/{id}/actions/get_contact/run``
    as the demo agent (permission check, params, OAuth token cache, mapping, masking of four
    personal fields, audit row, metrics, call-log row) on a copy of the crm instance whose
    ``get_contact`` has ``cache: false`` (and a rate limit that does not throttle the run);
(c) through Relaydesk, a cache hit: the same action on the seeded ``crm`` instance, with the
    same contact every time (primed first).

Goals (issue "Integration hub"): added latency (b - a) p50 < 1 ms and p99 < 5 ms; a cache hit
p50 < 0.3 ms. See bench/README.md and docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import shutil
import socket
import sys
import tempfile
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any

from _common import (
    Result,
    ensure_pg_database,
    http_request,
    load_average,
    measure,
    percentile,
    process,
    run_loadgen,
    server,
    wait_for_quiet,
)

DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/relaydesk_bench_actions"
ACTION = "get_contact"
#: the CRM ids of the demo dataset's 40 people (relaydesk.demo_systems.dataset)
CONTACTS = [f"C{10001 + i * 13:06d}" for i in range(40)]
GOAL_ADDED_P50, GOAL_ADDED_P99, GOAL_HIT_P50 = 1.0, 5.0, 0.3
PASSWORD = "relaydesk-demo"  # the published demo login (relaydesk.demo.seed)


def free_base_port() -> int:
    """A base port whose demo-system ports (base + 0..5) are all free on loopback."""
    from relaydesk.demo_systems.runner import PORT_OFFSETS

    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20_000, 60_000)
        try:
            for offset in PORT_OFFSETS.values():
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", base + offset))
        except OSError:
            continue
        return base
    raise SystemExit("no free range of 6 loopback ports")


async def prepare(env: dict[str, str], base_port: int) -> None:
    """Migrate, then the demo organisation with its connector instances (as ``make demo``)."""
    from relaydesk.config import load_settings
    from relaydesk.demo.seed import seed_demo
    from relaydesk.kit.db import Database
    from relaydesk.migrations.runner import upgrade

    os.environ.update(env)
    settings = load_settings()
    db = Database.from_url(settings.database_url)
    try:
        await upgrade(db.engine)
    finally:
        await db.dispose()
    await seed_demo(settings, systems_base_port=base_port)


def uncached_spec() -> dict[str, Any]:
    """The crm connector's spec with ``get_contact`` uncached and no throttling (its
    20 requests/s bucket would otherwise be what (b) measures)."""
    import yaml

    from relaydesk.connectors import CONNECTORS_DIR

    spec = yaml.safe_load((CONNECTORS_DIR / "crm" / "spec.yaml").read_text(encoding="utf-8"))
    spec["actions"][ACTION]["cache"] = False
    spec["resilience"]["rate_limit"] = {"per_second": 100_000, "burst": 100_000,
                                        "background_share": 0.5}
    return spec  # type: ignore[no-any-return]


def setup(base: str, crm_url: str) -> tuple[dict[str, str], str, str]:
    """(agent headers, uncached instance id, seeded crm instance id)."""
    import httpx

    from relaydesk.connectors.demo_instances import ALLOW_NETWORK, demo_config

    def login(local: str) -> dict[str, str]:
        answer = httpx.post(f"{base}/api/v1/auth/login", json={
            "tenant": "demo", "email": f"{local}@demo.relaydesk.local", "password": PASSWORD})
        answer.raise_for_status()
        return {"Authorization": f"Bearer {answer.json()['access_token']}"}

    admin = login("admin")
    created = httpx.post(f"{base}/api/v1/connector-instances", headers=admin, json={
        "name": "crm_bench_uncached", "spec": uncached_spec(), "allow_network": ALLOW_NETWORK,
        "config": demo_config("crm", {"crm": crm_url})})
    created.raise_for_status()
    listed = httpx.get(f"{base}/api/v1/connector-instances", headers=admin,
                       params={"limit": 100}).json()["items"]
    seeded = next(i["id"] for i in listed if i["name"] == "crm")
    return login("agent"), created.json()["id"], seeded


def crm_token(crm_url: str) -> str:
    """A fresh bearer token (the demo CRM's live 300 s), as the connector's auth gets it."""
    import httpx

    from relaydesk.demo_systems import credentials

    answer = httpx.post(f"{crm_url}/oauth/token", data={
        "grant_type": "client_credentials", "client_id": credentials.CRM_CLIENT_ID,
        "client_secret": credentials.CRM_CLIENT_SECRET, "scope": "contacts.read"})
    answer.raise_for_status()
    return str(answer.json()["access_token"])


async def pipeline_latencies(db_url: str, instance_id: str, since: dt.datetime) -> list[float]:
    """The ``latency_ms`` Relaydesk logged for the calls since ``since`` (seconds, sorted):
    from the instance lookup to the result, without HTTP, auth, audit/call-log writes."""
    from sqlalchemy import select

    from relaydesk.integrations.models import ConnectorCall
    from relaydesk.kit.db import make_engine

    engine = make_engine(db_url)
    try:
        async with engine.connect() as conn:
            stmt = select(ConnectorCall.latency_ms).where(
                ConnectorCall.instance_id == uuid.UUID(instance_id),
                ConnectorCall.created_at >= since)
            return sorted(float(v) / 1000 for v in (await conn.execute(stmt)).scalars())
    finally:
        await engine.dispose()


# --- One database ---


def bench_database(url: str | None, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    import httpx

    label = "PostgreSQL" if url else "SQLite"
    data_dir = workdir / ("pg" if url else "sqlite")
    data_dir.mkdir()
    db_url = url or f"sqlite+aiosqlite:///{data_dir / 'relaydesk.db'}"
    env = {"RELAYDESK_DATA_DIR": str(data_dir), "RELAYDESK_DATABASE__URL": db_url,
           # all the load comes from one address
           "RELAYDESK_HTTP__RATE_LIMIT_IP_PER_MINUTE": str(10**9)}
    base_port = free_base_port()
    asyncio.run(prepare(env, base_port))
    crm_url = f"http://127.0.0.1:{base_port + 2}"
    systems = [sys.executable, "-m", "relaydesk.demo_systems", "--base-port", str(base_port),
               "--data-dir", str(data_dir)]
    ports = [base_port + offset for offset in (0, 1, 2, 4, 5)]
    runs: list[Result] = []
    started_load = load_average()
    with process(systems, {}, data_dir / "systems.log", ports) as systems_pid, \
            server("_common:relaydesk_app", env, data_dir / "relaydesk.log") as (base, pid):
        agent, uncached_id, cached_id = setup(base, crm_url)
        json_headers = {**agent, "Content-Type": "application/json"}

        def run_url(instance_id: str) -> str:
            return f"{base}/api/v1/connector-instances/{instance_id}/actions/{ACTION}/run"

        def body(contact: str) -> str:
            return json.dumps({"params": {"contact_id": contact}})

        # one of each, checked: same contact, masked through Relaydesk, cached on the 2nd hit
        token = crm_token(crm_url)
        direct = httpx.get(f"{crm_url}/api/v1/contacts/{CONTACTS[1]}",
                           headers={"Authorization": f"Bearer {token}"}).json()
        via = httpx.post(run_url(uncached_id), headers=json_headers, content=body(CONTACTS[1]))
        assert via.json()["ok"] and via.json()["data"]["id"] == direct["id"], via.text
        assert via.json()["data"]["phone"] != direct["mobile"], "the agent must get masked data"
        loads: list[tuple[str, int, float | None]] = [("sequential", 1, None)]
        if args.concurrency > 1:
            loads.append((f"{args.concurrency} connections", args.concurrency, None))
        loads += [(f"{rate:g}/s open loop", args.connections, rate) for rate in args.rates]
        also = {"demo systems": systems_pid}
        for n, (name, connections, rate) in enumerate(loads):
            token = crm_token(crm_url)
            direct_requests = [http_request("GET", f"{crm_url}/api/v1/contacts/{c}", {
                "Accept": "application/json", "Authorization": f"Bearer {token}"})
                for c in CONTACTS]
            uncached = [http_request("POST", run_url(uncached_id), json_headers, body(c))
                        for c in CONTACTS]
            hit_contact = CONTACTS[(n + 2) % len(CONTACTS)]  # primed now: fresh for 60 s
            primed = httpx.post(run_url(cached_id), headers=json_headers,
                                content=body(hit_contact)).json()
            assert primed["ok"] and not primed["cached"], primed
            hit = [http_request("POST", run_url(cached_id), json_headers, body(hit_contact))]
            targets = [("direct", direct_requests, ['"id":"C0'], systems_pid, None),
                       ("relaydesk uncached", uncached, ['"ok":true', '"cached":false'], pid,
                        uncached_id),
                       ("relaydesk cache hit", hit, ['"ok":true', '"cached":true'], pid,
                        cached_id)]
            for target, requests, expect, server_pid, instance in targets:
                def go(seconds: float, requests: list[str] = requests,
                       expect: list[str] = expect, connections: int = connections,
                       rate: float | None = rate,
                       host: str = crm_url if instance is None else base) -> Result:
                    return run_loadgen(host, requests, connections, seconds, rate, expect)

                go(args.warmup)
                since = dt.datetime.now(dt.UTC)
                slug = target.replace(" ", "-")
                profile = (args.profile / f"{label.lower()}-{slug}-{n}.txt"
                           if args.profile and instance and connections == 1 else None)
                result = measure(go, server_pid, args.seconds, 0, profile, args.py_spy,
                                 also if instance else None)
                result.target = f"{name}: {target}"
                if instance:
                    inner = asyncio.run(pipeline_latencies(db_url, instance, since))
                    result.other_cpu_ms = {**(result.other_cpu_ms or {}),
                                           "pipeline p50 ms": percentile(inner, 0.5),
                                           "pipeline p99 ms": percentile(inner, 0.99)}
                runs.append(result)
    return {"database": label, "load_average_at_start": started_load,
            "loads": [name for name, _, _ in loads], "results": [asdict(r) for r in runs]}


def report(run: dict[str, Any]) -> None:
    print(f"\n{run['database']}  (load average {run['load_average_at_start']} at the start)")
    print(f"  {'load: target':<44}{'req/s':>8}{'p50 ms':>8}{'p99 ms':>8}{'errors':>7}"
          f"{'CPU ms/req':>11}{'demo CPU':>9}{'pipe p50':>9}{'pipe p99':>9}")
    for r in run["results"]:
        other = r["other_cpu_ms"] or {}
        cpu = "" if r["server_cpu_ms"] is None else f"{r['server_cpu_ms']:.2f}"
        demo = other.get("demo systems", r["server_cpu_ms"] if "direct" in r["target"] else None)
        extra = [f"{demo:.2f}" if demo is not None else "",
                 *(f"{other[k]:.3f}" if k in other else "" for k in ("pipeline p50 ms",
                                                                      "pipeline p99 ms"))]
        if "direct" in r["target"]:
            cpu = ""
        print(f"  {r['target']:<44}{r['requests_per_s']:>8.1f}{r['p50_ms']:>8.2f}"
              f"{r['p99_ms']:>8.2f}{r['errors'] + r['unsent']:>7}{cpu:>11}"
              f"{extra[0]:>9}{extra[1]:>9}{extra[2]:>9}")
        if r["error_sample"]:
            print(f"    first error: {r['error_sample'][:300]!r}")
    met = {True: "met", False: "NOT met"}
    by = {r["target"]: r for r in run["results"]}
    for name in run["loads"]:
        a, b, c = (by[f"{name}: {t}"] for t in ("direct", "relaydesk uncached",
                                                 "relaydesk cache hit"))
        p50, p99 = b["p50_ms"] - a["p50_ms"], b["p99_ms"] - a["p99_ms"]

        def verdict(added: float, goal: float) -> str:
            # a direct call slower than Relaydesk's: something else disturbed the run
            return "not valid (negative)" if added < 0 else met[added < goal]

        print(f"  {name}: added (b - a) p50 {p50:.2f} ms (goal < {GOAL_ADDED_P50:g}: "
              f"{verdict(p50, GOAL_ADDED_P50)}), p99 {p99:.2f} ms (goal < {GOAL_ADDED_P99:g}: "
              f"{verdict(p99, GOAL_ADDED_P99)}); cache hit p50 {c['p50_ms']:.2f} ms (goal < "
              f"{GOAL_HIT_P50:g}: {met[c['p50_ms'] < GOAL_HIT_P50]})")
    if any(r["errors"] or r["unsent"] for r in run["results"]):
        print("  WARNING: errors or unsent requests during the run; those figures are not valid")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--seconds", type=float, default=10.0, help="timed run per target and load")
    add("--warmup", type=float, default=2.0, help="warm-up per target and load (s)")
    add("--concurrency", type=int, default=10, help="connections of the closed-loop "
        "concurrent load (1: none)")
    add("--rate", type=float, action="append", dest="rates", metavar="R", help="also an "
        "open-loop load of R requests/s over --connections; repeatable (default 50; 0: none)")
    add("--connections", type=int, default=20, help="connections of the open-loop loads")
    add("--database-url", action="append", dest="urls", metavar="URL", help="'sqlite' or a "
        "postgresql+asyncpg:// URL (a fresh database of that name is created, then dropped); "
        f"repeatable (default: sqlite, then {DEFAULT_PG} if the server answers)")
    add("--max-load", type=float, default=1.0,
        help="wait for the 1-minute load average to fall below this first")
    add("--wait", type=float, default=300.0, help="... for at most this many seconds")
    add("--json", type=Path, help="also write the figures to this file")
    add("--profile", type=Path, metavar="DIR", help="sample Relaydesk with py-spy during the "
        "sequential (b) and (c) runs (collapsed stacks, one file each, into DIR)")
    add("--py-spy", default=shutil.which("py-spy") or "py-spy", help="py-spy executable")
    args = parser.parse_args(argv)
    args.rates = [r for r in (args.rates or [50.0]) if r > 0]

    explicit = args.urls is not None
    urls = [None if u == "sqlite" else u for u in args.urls or ["sqlite", DEFAULT_PG]]
    print(f"crm.{ACTION}: direct vs through Relaydesk; {args.warmup:g} s warm-up + "
          f"{args.seconds:g} s per target and load; {os.cpu_count()} CPUs; one uvicorn worker")
    print(f"1-minute load average at the start: {wait_for_quiet(args.max_load, args.wait)}")
    runs = []
    with tempfile.TemporaryDirectory(prefix="relaydesk-bench-") as tmp:
        for url in urls:
            print(f"\n== {'SQLite' if url is None else url}", flush=True)
            if url is not None and not asyncio.run(ensure_pg_database(url, fresh=True)):
                if explicit:
                    return 1
                continue
            try:
                run = bench_database(url, args, Path(tmp))
            finally:
                if url is not None:
                    asyncio.run(ensure_pg_database(url, fresh=True, create=False))
            report(run)
            runs.append(run)
    print(f"\n1-minute load average at the end: {load_average()}")
    if args.json:
        args.json.write_text(json.dumps(runs, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
