"""Helpers shared by the benchmarks in bench/: servers in their own processes, the load
generators (``wrk``, and the asyncio HTTP/1.1 one below, closed-loop or at a fixed rate), CPU
time from /proc, py-spy sampling and the machine's load average.

Not a benchmark itself: ``python bench/_common.py`` only runs the load generator, which the
benchmarks start in a separate process (``--loadgen`` reads a JSON job from stdin).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent


def relaydesk_app() -> Any:
    """Relaydesk as ``relaydesk serve`` builds it, configured from RELAYDESK_* variables
    (``uvicorn _common:relaydesk_app --factory``). ``BENCH_RELAYDESK_FACTORY=module:name``
    serves ``name()`` instead: a what-if variant (monkeypatched in a scratch module on
    PYTHONPATH) measured exactly like the real thing, without touching relaydesk/."""
    import logging

    variant = os.environ.get("BENCH_RELAYDESK_FACTORY")
    if variant:
        module, _, name = variant.partition(":")
        app = getattr(importlib.import_module(module), name)()
    else:
        from relaydesk.app import create_app
        from relaydesk.config import load_settings

        app = create_app(load_settings())
    # as in `relaydesk serve`, where uvicorn's access_log=False is applied after create_app:
    # with --factory, create_app's logging setup would turn uvicorn's access line back on,
    # a second log line per request that the real server does not write
    access = logging.getLogger("uvicorn.access")
    access.handlers, access.propagate = [], False
    return app


# --- Machine ---


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def wait_for_quiet(limit: float, max_wait: float) -> float:
    """Wait up to ``max_wait`` s for the 1-minute load average to fall below ``limit``;
    return it (other sessions share the machine: every figure depends on it)."""
    deadline = time.monotonic() + max_wait
    busy = load_average()
    if busy >= limit and max_wait > 0:
        print(f"1-minute load average {busy:.2f}: waiting up to {max_wait:g} s for < {limit:g}",
              flush=True)
    while busy >= limit and time.monotonic() < deadline:
        time.sleep(5)
        busy = load_average()
    if busy >= limit:
        print(f"WARNING: 1-minute load average is {busy:.2f} at the start; other work on this "
              "machine lowers every figure")
    return busy


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process, from /proc (Linux); None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- PostgreSQL ---


async def ensure_pg_database(url: str, *, fresh: bool = False, create: bool = True) -> bool:
    """Create the database of ``url`` if missing (``fresh``: drop it first; ``create=False``:
    only that); False when the server cannot be reached."""
    from sqlalchemy import text

    from relaydesk.kit.db import make_engine

    base, _, name = url.rpartition("/")
    admin = make_engine(f"{base}/postgres")
    try:
        async with asyncio.timeout(10), admin.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            if fresh:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            sql = text("SELECT 1 FROM pg_database WHERE datname = :n")
            if create and (await conn.execute(sql, {"n": name})).first() is None:
                await conn.execute(text(f'CREATE DATABASE "{name}"'))
        return True
    except Exception as exc:  # refused, unknown host, bad password, timeout
        print(f"  PostgreSQL at {base} not reachable ({type(exc).__name__}); skipped")
        return False
    finally:
        await admin.dispose()


# --- Servers ---


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
        return True
    return False


@contextlib.contextmanager
def process(cmd: Sequence[str], env: dict[str, str], log: Path, ports: Sequence[int],
            timeout: float = 30) -> Iterator[int]:
    """Run ``cmd`` (output to ``log``) until every port listens; yield its pid; stop it."""
    with log.open("wb") as out:
        proc = subprocess.Popen(list(cmd), env={**os.environ, **env}, stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout
        while not all(listening(port) for port in ports):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{cmd[:4]} did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)
        yield proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def server(target: str, env: dict[str, str], log: Path) -> Iterator[tuple[str, int]]:
    """``uvicorn <module:factory> --factory`` from bench/, one worker; yields (base URL, pid)."""
    port = free_port()
    cmd = [sys.executable, "-m", "uvicorn", target, "--factory", "--app-dir", str(HERE),
           "--host", "127.0.0.1", "--port", str(port), "--workers", "1", "--no-access-log",
           "--log-level", "warning",
           # as `relaydesk serve` runs it (relaydesk/cli/serve.py), for every target
           "--ws-per-message-deflate", "false"]
    with process(cmd, env, log, [port]) as pid:
        yield f"http://127.0.0.1:{port}", pid


# --- Results ---


@dataclass
class Result:
    target: str
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    tool: str
    connections: int = 0
    #: offered rate (requests/s) of an open-loop run; None for a closed-loop run
    rate: float | None = None
    #: open loop: the p99 of (sent - scheduled); large when the load generator fell behind
    send_lag_p99_ms: float | None = None
    #: open loop: scheduled requests never sent before the hard deadline (then not valid)
    unsent: int = 0
    server_cpu_ms: float | None = None  # server's user + system CPU per request (/proc)
    #: the same for other processes taking part (measure(also=...)), by name
    other_cpu_ms: dict[str, float] | None = None
    error_sample: str | None = None


def http_request(method: str, url: str, headers: dict[str, str] | None = None,
                 body: bytes | str | None = None) -> str:
    """One raw HTTP/1.1 keep-alive request (UTF-8 text) for the asyncio load generator."""
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    data = body.encode() if isinstance(body, str) else body
    lines = [f"{method} {target} HTTP/1.1", f"Host: {parts.netloc}",
             *(f"{k}: {v}" for k, v in (headers or {}).items())]
    if data is not None:
        lines.append(f"Content-Length: {len(data)}")
    return "\r\n".join(lines) + "\r\n\r\n" + (data or b"").decode()


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def run_wrk(url: str, headers: dict[str, str], connections: int, seconds: float,
            threads: int = 1, script: Path | None = None,
            script_args: Sequence[str] = ()) -> Result:
    """Closed-loop load with wrk (one request in flight per connection): GETs of ``url``, or
    what the Lua ``script`` makes (with ``script_args`` after ``--``)."""
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s",
           "--latency", "--timeout", "10s", *(f"-H{k}: {v}" for k, v in headers.items())]
    cmd += [*(["-s", str(script)] if script else []), url]
    cmd += ["--", *script_args] if script_args else []
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
    return Result("", rps, ms("50%"), ms("99%"), ints(r"(\d+) requests in")[0], errors, "wrk",
                  connections=connections)


def run_loadgen(url: str, requests: Sequence[str], connections: int, seconds: float,
                rate: float | None = None, expect: Sequence[str] = (),
                requests_file: Path | None = None) -> Result:
    """The asyncio load generator (bench/_loadgen.py) in a separate process: ``requests``
    (see :func:`http_request`), or the NUL-separated raw requests of ``requests_file``, are
    sent in turn; closed loop, or open loop at ``rate``/s. A response that is not 2xx or
    lacks one of the ``expect`` strings is an error."""
    job = {"url": url, "requests": list(requests), "connections": connections,
           "seconds": seconds, "rate": rate, "expect": list(expect),
           "requests_file": str(requests_file) if requests_file else None}
    done = subprocess.run([sys.executable, str(HERE / "_loadgen.py")],
                          input=json.dumps(job), capture_output=True, text=True,
                          timeout=seconds + 120)
    if done.returncode != 0:
        raise SystemExit(f"load generator failed:\n{done.stderr[-3000:]}")
    return Result(**{**json.loads(done.stdout), "target": ""})


def measure(run: Callable[[float], Result], pid: int, seconds: float, warmup: float,
            profile: Path | None = None, py_spy: str = "py-spy",
            also: dict[str, int] | None = None) -> Result:
    """``run(warmup)``, then the timed ``run(seconds)`` with the CPU time per request of the
    server ``pid`` (and of the ``also`` processes); sampled by py-spy into ``profile`` (.svg
    flame graph, .json speedscope, else collapsed stacks)."""
    if warmup > 0:
        run(warmup)
    spy = None
    if profile is not None:
        profile.parent.mkdir(parents=True, exist_ok=True)
        fmt = {".svg": "flamegraph", ".json": "speedscope"}.get(profile.suffix, "raw")
        spy = subprocess.Popen(
            [py_spy, "record", "--pid", str(pid), "--duration", str(max(1, int(seconds))),
             "--rate", "200", "--gil", "--format", fmt, "--output", str(profile),
             "--nonblocking"],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    pids = {"": pid, **(also or {})}
    before = {name: cpu_seconds(p) for name, p in pids.items()}
    try:
        result = run(seconds)
    finally:
        if spy is not None:
            spy.wait(timeout=60)
    spent = {}
    for name, p in pids.items():
        start, end = before[name], cpu_seconds(p)
        if start is not None and end is not None and result.requests:
            spent[name] = (end - start) / result.requests * 1000
    result.server_cpu_ms = spent.pop("", None)
    result.other_cpu_ms = spent or None
    return result


def percentile(sorted_values: Sequence[float], p: float) -> float:
    n = len(sorted_values)
    return sorted_values[min(n - 1, int(p * n))] * 1000 if n else float("nan")


def main(argv: list[str] | None = None) -> int:
    print("bench/_common.py holds shared helpers; run bench/api_read.py or another script")
    return 0


if __name__ == "__main__":
    sys.exit(main())
