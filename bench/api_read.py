"""Read benchmark: Relaydesk's authenticated, tenant-scoped, masked customer read against a
bare FastAPI endpoint returning the same JSON.

Both run as separate uvicorn processes, one worker each, on loopback; the load comes from a
separate process (``wrk`` when installed, else the asyncio load generator below). Per database:
seed a tenant, an agent and 50 customers through Relaydesk's own services, sign in, then a
warm-up and a timed run of ``GET /api/v1/customers/{id}`` on each server. See bench/README.md.

Goals (issue "Platform foundation"): ratio relaydesk/bare >= 0.5 with one worker, and
p99 < 20 ms at 100 concurrent connections, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/relaydesk_bench"
PASSWORD = "bench-password-不要在生产使用"
GOAL_RATIO = 0.5
GOAL_P99_MS = 20.0


# --- App factories, imported by uvicorn in the server processes (``api_read:relaydesk_app``) ---


def relaydesk_app() -> Any:
    """Relaydesk as ``relaydesk serve`` builds it, configured from RELAYDESK_* variables."""
    from relaydesk.app import create_app
    from relaydesk.config import load_settings

    return create_app(load_settings())


def bare_app() -> Any:
    """The baseline: FastAPI returning the captured JSON; no auth, no database."""
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


async def ensure_pg_database(url: str) -> bool:
    """Create the database if missing; False when the server cannot be reached."""
    from sqlalchemy import text

    from relaydesk.kit.db import make_engine

    base, _, name = url.rpartition("/")
    admin = make_engine(f"{base}/postgres")
    try:
        async with asyncio.timeout(5), admin.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            sql = text("SELECT 1 FROM pg_database WHERE datname = :n")
            if (await conn.execute(sql, {"n": name})).first() is None:
                await conn.execute(text(f'CREATE DATABASE "{name}"'))
        return True
    except Exception as exc:  # refused, unknown host, bad password, timeout
        print(f"  PostgreSQL at {base} not reachable ({type(exc).__name__}); skipped")
        return False
    finally:
        await admin.dispose()


# --- Servers ---


@contextlib.contextmanager
def server(factory: str, env: dict[str, str], log: Path) -> Iterator[tuple[str, int]]:
    """``uvicorn bench/api_read:<factory> --factory``, one worker; yields (base URL, pid)."""
    with socket.socket() as sock:  # a free loopback port
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    cmd = [sys.executable, "-m", "uvicorn", f"api_read:{factory}", "--factory",
           "--app-dir", str(HERE), "--host", "127.0.0.1", "--port", str(port),
           "--workers", "1", "--no-access-log", "--log-level", "warning"]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env={**os.environ, **env}, stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while not _listening(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"server did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}", proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
        return True
    return False


# --- Load generation (always in another process) ---


@dataclass
class Result:
    target: str
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    tool: str
    server_cpu_ms: float | None = None  # server's user + system CPU per request (/proc)


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process, from /proc (Linux); None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def run_wrk(url: str, headers: dict[str, str], args: argparse.Namespace,
            seconds: float) -> Result:
    cmd = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{max(1, round(seconds))}s",
           "--latency", "--timeout", "10s", *(f"-H{k}: {v}" for k, v in headers.items()), url]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout

    def ms(label: str) -> float:
        m = re.search(rf"^\s*{label}\s+([0-9.]+)(us|ms|s|m)\s*$", out, re.M)
        if m is None:
            raise SystemExit(f"could not read {label} from wrk:\n{out}")
        return float(m.group(1)) * _UNITS[m.group(2)]

    def ints(pattern: str) -> list[int]:
        return [int(g) for m in re.finditer(pattern, out) for g in m.groups()]

    errors = sum(ints(r"Non-2xx or 3xx responses:\s+(\d+)")) + sum(
        ints(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)"))
    rps = float(re.findall(r"Requests/sec:\s+([0-9.]+)", out)[0])
    return Result("", rps, ms("50%"), ms("99%"), ints(r"(\d+) requests in")[0], errors, "wrk")


def run_python_loadgen(url: str, headers: dict[str, str], args: argparse.Namespace,
                       seconds: float) -> Result:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--loadgen", url,
           "--connections", str(args.connections), "--seconds", str(seconds),
           "--headers-json", json.dumps(headers)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return Result(**{**json.loads(out), "target": ""})


async def _loadgen(url: str, connections: int, seconds: float,
                   headers: dict[str, str]) -> dict[str, Any]:
    """Keep-alive HTTP/1.1 GETs over raw asyncio streams, one request in flight per connection."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    head = f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    request = head.encode()
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def connection() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        try:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                writer.write(request)
                status_line = await reader.readline()
                if not status_line:  # the server closed the connection
                    errors += 1
                    return
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - started)
                if not status_line.startswith(b"HTTP/1.1 2"):
                    errors += 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(connections)))
    elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p: float) -> float:
        n = len(latencies)
        return latencies[min(n - 1, int(p * n))] * 1000 if n else float("nan")

    return {"requests_per_s": len(latencies) / elapsed, "p50_ms": pct(0.50), "p99_ms": pct(0.99),
            "requests": len(latencies), "errors": errors, "tool": "python-asyncio"}


def measure(url: str, headers: dict[str, str], args: argparse.Namespace, pid: int,
            profile: Path | None = None) -> Result:
    """Warm-up, then the timed run (sampled by py-spy into ``profile`` when given)."""
    runner = run_wrk if args.tool == "wrk" else run_python_loadgen
    if args.warmup > 0:
        runner(url, headers, args, args.warmup)
    spy = None
    if profile is not None:
        profile.parent.mkdir(parents=True, exist_ok=True)
        fmt = {".svg": "flamegraph", ".json": "speedscope"}.get(profile.suffix, "raw")
        spy = subprocess.Popen(
            [args.py_spy, "record", "--pid", str(pid), "--duration",
             str(max(1, int(args.seconds))), "--rate", "200", "--format", fmt,
             "--output", str(profile), "--nonblocking"],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    cpu_before = _cpu_seconds(pid)
    try:
        result = runner(url, headers, args, args.seconds)
    finally:
        if spy is not None:
            spy.wait(timeout=60)
    cpu_after = _cpu_seconds(pid)
    if cpu_before is not None and cpu_after is not None and result.requests:
        result.server_cpu_ms = (cpu_after - cpu_before) / result.requests * 1000
    return result


# --- One database ---


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
    results: list[Result] = []
    with server("relaydesk_app", env, data_dir / "relaydesk.log") as (base, pid):
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
        result = measure(base + path, auth, args, pid, profile)
        result.target = "relaydesk"
        results.append(result)
    with server("bare_app", {"BENCH_BARE_JSON": str(bare_json)},
                data_dir / "bare.log") as (base, pid):
        same = httpx.get(base + path)
        assert same.json() == reference.json(), "the baseline must return the same JSON"
        result = measure(base + path, {}, args, pid)
        result.target = "bare FastAPI"
        results.append(result)
    relaydesk, bare = results
    ratio = relaydesk.requests_per_s / bare.requests_per_s
    return {"database": label, "url": db_url if url else "sqlite (temporary file)",
            "ratio": ratio, "ratio_goal_met": ratio >= GOAL_RATIO,
            "p99_goal_met": relaydesk.p99_ms < GOAL_P99_MS,
            "results": [asdict(r) for r in results]}


def report(run: dict[str, Any]) -> None:
    print(f"\n{run['database']}  ({run['url']})\n  {'target':<14}{'requests/s':>12}{'p50 ms':>9}"
          f"{'p99 ms':>9}{'requests':>10}{'errors':>8}{'server CPU ms/req':>19}")
    for r in run["results"]:
        cpu = "n/a" if r["server_cpu_ms"] is None else f"{r['server_cpu_ms']:.3f}"
        print(f"  {r['target']:<14}{r['requests_per_s']:>12.1f}{r['p50_ms']:>9.2f}"
              f"{r['p99_ms']:>9.2f}{r['requests']:>10}{r['errors']:>8}{cpu:>19}")
    met = {True: "met", False: "NOT met"}
    print(f"  ratio relaydesk/bare = {run['ratio']:.3f}  (goal >= {GOAL_RATIO}: "
          f"{met[run['ratio_goal_met']]})\n  relaydesk p99 = {run['results'][0]['p99_ms']:.2f} ms"
          f"  (goal < {GOAL_P99_MS:.0f} ms: {met[run['p99_goal_met']]})")
    if any(r["errors"] for r in run["results"]):
        print("  WARNING: errors during the run; the figures are not valid")


def _load_average() -> float:
    return round(os.getloadavg()[0], 2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--seconds", type=float, default=10.0, help="timed run per target")
    add("--warmup", type=float, default=3.0, help="warm-up per target (s)")
    add("--connections", type=int, default=100)
    add("--threads", type=int, default=1, help="wrk threads")
    add("--customers", type=int, default=50)
    add("--database-url", action="append", dest="urls", metavar="URL", help="'sqlite' or a "
        f"postgresql+asyncpg:// URL; repeatable (default: sqlite, then {DEFAULT_PG} if up)")
    add("--tool", choices=("auto", "wrk", "python"), default="auto")
    add("--json", type=Path, help="also write the figures to this file")
    add("--profile", type=Path, metavar="DIR", help="sample the Relaydesk server with py-spy "
        "during the timed run; one file per database into DIR")
    add("--profile-format", choices=("svg", "json", "txt"), default="svg",
        help="flame graph, speedscope, or collapsed stacks")
    add("--py-spy", default=shutil.which("py-spy") or "py-spy", help="py-spy executable")
    add("--loadgen", metavar="URL", help=argparse.SUPPRESS)
    add("--headers-json", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.loadgen:  # child process: generate load, print JSON
        with contextlib.suppress(ImportError):
            import uvloop

            uvloop.install()
        result = asyncio.run(_loadgen(args.loadgen, args.connections, args.seconds,
                                      json.loads(args.headers_json)))
        print(json.dumps(result))
        return 0

    if args.tool == "auto":
        args.tool = "wrk" if shutil.which("wrk") else "python"
    explicit = args.urls is not None
    urls = [None if u == "sqlite" else u for u in args.urls or ["sqlite", DEFAULT_PG]]
    print(f"load: {args.tool}, {args.connections} connections, {args.warmup:g} s warm-up + "
          f"{args.seconds:g} s per target; {os.cpu_count()} CPUs; one uvicorn worker each")
    busy = _load_average()
    if busy > 0.5:
        print(f"WARNING: 1-minute load average is {busy:.2f} before starting; other work on "
              "this machine will lower every figure")
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
    print(f"\n1-minute load average at the end: {_load_average()}")
    if args.json:
        args.json.write_text(json.dumps(runs, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
