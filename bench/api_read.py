"""Read benchmark: Relaydesk's authenticated, tenant-scoped, masked customer read against a
bare FastAPI endpoint returning the same JSON.

Both run as separate uvicorn processes, one worker each, on loopback; the load comes from a
separate process. Per database: seed a tenant, an agent and 50 customers through Relaydesk's
own services, sign in, then on each server ``GET /api/v1/customers/{id}``: a saturation run
(closed loop: ``wrk`` when installed, else the asyncio load generator of bench/_common.py) and
open-loop runs at fixed rates (``--rate``; latency counted from each request's scheduled
time). See bench/README.md.

Goals (issue "Platform foundation"): ratio relaydesk/bare >= 0.5 with one worker, and
p99 < 20 ms at 100 concurrent connections, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
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
    run_loadgen,
    run_wrk,
    server,
    wait_for_quiet,
)

DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/relaydesk_bench"
PASSWORD = "bench-password-不要在生产使用"
GOAL_RATIO = 0.5
GOAL_P99_MS = 20.0
DEFAULT_RATES = (100.0, 200.0)


def bare_app() -> Any:
    """The baseline (``uvicorn api_read:bare_app --factory``): FastAPI returning the captured
    JSON; no auth, no database."""
    from fastapi import FastAPI

    payload = json.loads(Path(os.environ["BENCH_BARE_JSON"]).read_text(encoding="utf-8"))
    app = FastAPI()

    @app.get("/api/v1/customers/{customer_id}")
    async def get_customer(customer_id: uuid.UUID) -> dict[str, Any]:
        return payload  # type: ignore[no-any-return]

    return app


# --- Seeding through Relaydesk's own services ---

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗欧阳"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英"
PLACES = [
    ("110105", "北京市朝阳区", "建国路"), ("310115", "上海市浦东新区", "世纪大道"),
    ("440304", "广东省深圳市福田区", "深南大道"), ("330106", "浙江省杭州市西湖区", "文三路"),
    ("510107", "四川省成都市武侯区", "人民南路"),
]
MOBILE_PREFIXES = ("138", "139", "186", "137", "150", "158", "188", "177")


def fake_customers(n: int, seed: int = 20261121) -> list[dict[str, Any]]:
    from relaydesk.customers.schemas import id_number_check_char, luhn_valid

    def luhn_complete(prefix: str) -> str:
        return next(prefix + d for d in "0123456789" if luhn_valid(prefix + d))

    rng = random.Random(seed)
    out = []
    for i in range(n):
        region, city, road = rng.choice(PLACES)
        birth = f"{rng.randint(1960, 2002)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
        first17 = f"{region}{birth}{rng.randint(0, 999):03d}"
        out.append({
            "name": rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.randint(1, 2))),
            "phone": rng.choice(MOBILE_PREFIXES) + f"{rng.randint(0, 99_999_999):08d}",
            "email": f"customer{i}@example.cn",
            "id_number": first17 + id_number_check_char(first17),
            "bank_card": luhn_complete("622202" + f"{rng.randint(0, 10**12 - 1):012d}"),
            "address": f"{city}{road}{rng.randint(1, 999)}号"
                       f"{rng.randint(1, 30)}栋{rng.randint(101, 2505)}室",
            "company": rng.choice(["华贸贸易有限公司", "未来科技", None]),
            "tags": rng.sample(["VIP", "老客户", "投诉", "北京", "批发"], k=rng.randint(0, 2)),
            "attributes": {"crm_id": f"C-{1000 + i}"},
        })
    return out


async def seed(url: str, customers: int) -> tuple[str, str, list[str]]:
    """Migrate, then a fresh tenant, an agent and customers: (tenant slug, e-mail, ids)."""
    from relaydesk.audit.service import SYSTEM
    from relaydesk.customers.schemas import CustomerIn
    from relaydesk.customers.service import CustomerService
    from relaydesk.kit.db import Database, mark_system, scope_session
    from relaydesk.migrations.runner import upgrade
    from relaydesk.tenancy.service import create_tenant, create_user

    db = Database.from_url(url)
    try:
        await upgrade(db.engine)
        slug = f"bench-{uuid.uuid4().hex[:8]}"  # audit rows are append-only: never reuse
        email = f"agent@{slug}.example.cn"
        async with db.job(system=True) as session:
            tenant = await create_tenant(session, slug=slug, name="基准测试公司")
            scope_session(session, tenant.id)
            mark_system(session)
            await create_user(session, email=email, display_name="坐席小王", password=PASSWORD,
                              role_names=("agent",))
            service = CustomerService(session, SYSTEM)
            ids = [str((await service.create(CustomerIn(**data))).id)
                   for data in fake_customers(customers)]
        return slug, email, ids
    finally:
        await db.dispose()


# --- One database ---


def load_runs(url: str, headers: dict[str, str], args: argparse.Namespace, pid: int,
              target: str, profile: Path | None = None) -> list[Result]:
    """The saturation run, then one open-loop run per ``--rate``, on one server."""
    results = []
    if not args.skip_saturation:
        def closed(seconds: float) -> Result:
            if args.tool == "wrk":
                return run_wrk(url, headers, args.connections, seconds, args.threads)
            request = http_request("GET", url, headers)
            return run_loadgen(url, [request], args.connections, seconds)

        results.append(measure(closed, pid, args.seconds, args.warmup, profile, args.py_spy))
    for rate in args.rates:
        def fixed(seconds: float, rate: float = rate) -> Result:
            request = http_request("GET", url, headers)
            return run_loadgen(url, [request], args.connections, seconds, rate)

        results.append(measure(fixed, pid, args.seconds, args.warmup))
    for result in results:
        result.target = target
    return results


def bench_database(url: str | None, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    import httpx

    label = "PostgreSQL" if url else "SQLite"
    data_dir = workdir / ("pg" if url else "sqlite")
    data_dir.mkdir()
    # defaults everywhere, except the per-IP limit: all the load comes from one address
    env = {"RELAYDESK_DATA_DIR": str(data_dir),
           "RELAYDESK_HTTP__RATE_LIMIT_IP_PER_MINUTE": str(10**9)}
    if url:
        env["RELAYDESK_DATABASE__URL"] = url
    db_url = url or f"sqlite+aiosqlite:///{data_dir / 'relaydesk.db'}"
    slug, email, ids = asyncio.run(seed(db_url, args.customers))
    print(f"  seeded tenant {slug}: 1 agent, {len(ids)} customers")
    started_load = load_average()
    with server("_common:relaydesk_app", env, data_dir / "relaydesk.log") as (base, pid):
        token = httpx.post(f"{base}/api/v1/auth/login", json={
            "tenant": slug, "email": email, "password": PASSWORD}).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        path = f"/api/v1/customers/{ids[0]}"
        reference = httpx.get(base + path, headers=auth)
        reference.raise_for_status()
        assert reference.json()["masked"] is True, "the agent must get a masked customer"
        bare_json = data_dir / "customer.json"
        bare_json.write_bytes(reference.content)
        profile = args.profile and args.profile / f"relaydesk-{label.lower()}.{args.profile_format}"
        results = load_runs(base + path, auth, args, pid, "relaydesk", profile)
    with server("api_read:bare_app", {"BENCH_BARE_JSON": str(bare_json)},
                data_dir / "bare.log") as (base, pid):
        same = httpx.get(base + path)
        assert same.json() == reference.json(), "the baseline must return the same JSON"
        results += load_runs(base + path, {}, args, pid, "bare FastAPI")
    run: dict[str, Any] = {"database": label, "url": db_url if url else "sqlite (temporary file)",
                           "load_average_at_start": started_load,
                           "results": [asdict(r) for r in results]}
    if not args.skip_saturation:
        relaydesk, bare = results[0], results[len(results) // 2]
        run["ratio"] = relaydesk.requests_per_s / bare.requests_per_s
        run["ratio_goal_met"] = run["ratio"] >= GOAL_RATIO
    return run


def report(run: dict[str, Any]) -> None:
    print(f"\n{run['database']}  ({run['url']}; load average {run['load_average_at_start']} at "
          f"the start)\n  {'target':<14}{'load':>14}{'requests/s':>12}{'p50 ms':>9}{'p99 ms':>9}"
          f"{'requests':>10}{'errors':>8}{'CPU ms/req':>12}{'  p99 goal'}")
    met = {True: "met", False: "NOT met"}
    for r in run["results"]:
        cpu = "n/a" if r["server_cpu_ms"] is None else f"{r['server_cpu_ms']:.3f}"
        load = f"{r['rate']:g}/s open" if r["rate"] else f"{r['connections']} closed"
        print(f"  {r['target']:<14}{load:>14}{r['requests_per_s']:>12.1f}{r['p50_ms']:>9.2f}"
              f"{r['p99_ms']:>9.2f}{r['requests']:>10}{r['errors']:>8}{cpu:>12}"
              f"  {met[r['p99_ms'] < GOAL_P99_MS]}")
        if r["rate"] and (r["unsent"] or (r["send_lag_p99_ms"] or 0) > 5):
            print(f"    the load generator fell behind: {r['unsent']} requests unsent, send lag "
                  f"p99 {r['send_lag_p99_ms']:.1f} ms (the server could not keep up?)")
        if r["error_sample"]:
            print(f"    first error: {r['error_sample'][:200]!r}")
    if "ratio" in run:
        print(f"  saturation ratio relaydesk/bare = {run['ratio']:.3f}  (goal >= {GOAL_RATIO}: "
              f"{met[run['ratio_goal_met']]}); p99 goal: < {GOAL_P99_MS:.0f} ms at "
              f"{run['results'][0]['connections']} connections")
    if any(r["errors"] or r["unsent"] for r in run["results"]):
        print("  WARNING: errors or unsent requests during the run; those figures are not valid")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--seconds", type=float, default=10.0, help="timed run per target and load")
    add("--warmup", type=float, default=3.0, help="warm-up per target and load (s)")
    add("--connections", type=int, default=100)
    add("--rate", type=float, action="append", dest="rates", metavar="R",
        help="also an open-loop run at R requests/s over the connections (asyncio load "
             "generator); repeatable; default: 100 and 200; 0: none")
    add("--skip-saturation", action="store_true", help="only the --rate runs")
    add("--threads", type=int, default=1, help="wrk threads")
    add("--customers", type=int, default=50)
    add("--database-url", action="append", dest="urls", metavar="URL", help="'sqlite' or a "
        f"postgresql+asyncpg:// URL; repeatable (default: sqlite, then {DEFAULT_PG} if up)")
    add("--tool", choices=("auto", "wrk", "python"), default="auto",
        help="closed-loop load for the saturation run")
    add("--max-load", type=float, default=1.0,
        help="wait for the 1-minute load average to fall below this first")
    add("--wait", type=float, default=300.0, help="... for at most this many seconds")
    add("--json", type=Path, help="also write the figures to this file")
    add("--profile", type=Path, metavar="DIR", help="sample the Relaydesk server with py-spy "
        "during the saturation run; one file per database into DIR")
    add("--profile-format", choices=("svg", "json", "txt"), default="svg",
        help="flame graph, speedscope, or collapsed stacks")
    add("--py-spy", default=shutil.which("py-spy") or "py-spy", help="py-spy executable")
    args = parser.parse_args(argv)
    args.rates = [r for r in (args.rates or DEFAULT_RATES) if r > 0]

    if args.tool == "auto":
        args.tool = "wrk" if shutil.which("wrk") else "python"
    explicit = args.urls is not None
    urls = [None if u == "sqlite" else u for u in args.urls or ["sqlite", DEFAULT_PG]]
    rates = ", ".join(f"{r:g}/s" for r in args.rates) or "none"
    print(f"{args.connections} connections; saturation: "
          f"{'skipped' if args.skip_saturation else args.tool}; open-loop rates: {rates}; "
          f"{args.warmup:g} s warm-up + {args.seconds:g} s per target and load; "
          f"{os.cpu_count()} CPUs; one uvicorn worker each")
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
