"""How many agents' WebSockets one API process holds, and the memory they cost (issue 5).

Goal: 5,000 concurrent connections under 1 GiB RSS for one API process. The baseline, in the
same run: a bare Starlette WebSocket endpoint (accept, then wait) holding the same number of
connections under the same uvicorn. Relaydesk's connections are real agents' sockets: each
sends its first-frame auth (an access token), is registered in the realtime hub and gets its
"ready" frame. RSS is read 1 s after the last one is open. Then one agent sends a typing
signal, which the hub fans out to every agent of the tenant (the bare endpoint sends such a
frame on to every socket it holds): the time until every socket has it is reported too.

    python bench/ws_connections.py [--connections 5000] [--max-load 1.0] [--wait 300]

The soft limit of open files is raised (to the hard limit at most) for this process and the
servers it starts: each connection is a descriptor on both sides. Prints the figures and a
JSON line; a run at a load average above 2 is marked noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import free_port, load_average, process, wait_for_quiet

PASSWORD = "bench-password-123"
GOAL_CONNECTIONS, GOAL_RSS_MIB = 5_000, 1_024


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


BARE_APP = '''
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute

held = set()

async def hold(ws):
    await ws.accept()
    await ws.receive_text()
    await ws.send_text('{"type": "ready"}')
    held.add(ws)
    try:
        while True:
            frame = await ws.receive_text()
            for other in list(held):  # a signal to everyone, as the hub fans one out
                await other.send_text(frame)
    except Exception:
        pass
    finally:
        held.discard(ws)

app = Starlette(routes=[WebSocketRoute("/ws", hold)])
'''
#: what a held socket sends to be fanned out, and what marks it on arrival
SIGNAL = json.dumps({"type": "typing", "conversation_id": "bench-fanout", "on": True})
MARK = "bench-fanout"


def raise_file_limit(connections: int) -> int:
    """Soft RLIMIT_NOFILE up to what ``connections`` need (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = connections + 1_024
    if soft != resource.RLIM_INFINITY and soft < want:
        new = want if hard == resource.RLIM_INFINITY else min(want, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        soft = new
    return int(soft)


async def open_all(url: str, n: int, first: str) -> tuple[list[Any], float]:
    started = time.perf_counter()
    sockets: list[Any] = []
    sem = asyncio.Semaphore(200)

    async def one() -> None:
        async with sem:
            ws = await websockets.connect(url, max_queue=4, open_timeout=60, ping_interval=None)
            await ws.send(first)
            while json.loads(await ws.recv())["type"] != "ready":
                pass
            sockets.append(ws)

    await asyncio.gather(*(one() for _ in range(n)))
    return sockets, time.perf_counter() - started


async def fan_out(sockets: list[Any]) -> float:
    """One socket sends the signal; seconds until every socket has received it."""

    async def arrival(ws: Any) -> None:
        while MARK not in await ws.recv():
            pass

    waiting = [asyncio.ensure_future(arrival(ws)) for ws in sockets]
    started = time.perf_counter()
    await sockets[0].send(SIGNAL)
    await asyncio.wait_for(asyncio.gather(*waiting), 120)
    return time.perf_counter() - started


async def close_all(sockets: list[Any]) -> None:
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)


def run_bare(n: int, workdir: Path) -> dict[str, Any]:
    (workdir / "bare_ws.py").write_text(BARE_APP)
    port = free_port()
    cmd = [sys.executable, "-m", "uvicorn", "bare_ws:app", "--app-dir", str(workdir),
           "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
           "--log-level", "warning", "--ws", "websockets-sansio"]  # fmt: skip
    with process(cmd, {}, workdir / "bare.log", [port]) as pid:
        idle = rss_mib(pid)
        sockets, took = asyncio.run(_hold(f"ws://127.0.0.1:{port}/ws", n, "{}", pid))
    return {"idle_mib": idle, **sockets, "open_s": took}


async def _hold(url: str, n: int, first: str, pid: int) -> tuple[dict[str, Any], float]:
    sockets, took = await open_all(url, n, first)
    await asyncio.sleep(1.0)
    held = {"connections": len(sockets), "rss_mib": rss_mib(pid)}
    held["fan_out_s"] = await fan_out(sockets)
    await close_all(sockets)
    return held, took


async def _relaydesk_run(base: str, n: int, pid: int) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base) as http:
        r = await http.post("/api/v1/auth/login", json={
            "tenant": "bench", "email": "agent@bench.example.com", "password": PASSWORD})
        r.raise_for_status()
        token = r.json()["access_token"]
    url = base.replace("http", "ws") + "/api/v1/realtime"
    idle = rss_mib(pid)
    sockets, took = await open_all(url, n, json.dumps({"type": "auth", "token": token}))
    await asyncio.sleep(1.0)
    held = rss_mib(pid)
    fanned = await fan_out(sockets)
    await close_all(sockets)
    return {"idle_mib": idle, "connections": len(sockets), "rss_mib": held, "open_s": took,
            "fan_out_s": fanned}


def run_relaydesk(n: int, workdir: Path) -> dict[str, Any]:
    env = {"RELAYDESK_DATA_DIR": str(workdir / "var"), "RELAYDESK_LOG_LEVEL": "WARNING",
           "RELAYDESK_HTTP__RATE_LIMIT_IP_PER_MINUTE": "100000"}  # fmt: skip
    exe = [str(Path(sys.executable).parent / "relaydesk")]
    full = {**os.environ, **env}
    subprocess.run([*exe, "db", "upgrade"], env=full, check=True, capture_output=True)
    subprocess.run([*exe, "tenants", "create", "bench", "--name", "Bench"], env=full,
                   check=True, capture_output=True)  # fmt: skip
    subprocess.run([*exe, "users", "create", "-t", "bench", "--email", "agent@bench.example.com",
                    "--password", PASSWORD, "-r", "agent"], env=full, check=True,
                   capture_output=True)  # fmt: skip
    port = free_port()
    cmd = [*exe, "serve", "--host", "127.0.0.1", "--port", str(port)]
    with process(cmd, env, workdir / "relaydesk.log", [port]) as pid:
        return asyncio.run(_relaydesk_run(f"http://127.0.0.1:{port}", n, pid))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=GOAL_CONNECTIONS)
    parser.add_argument("--max-load", type=float, default=1.0)
    parser.add_argument("--wait", type=float, default=300.0)
    args = parser.parse_args()
    limit = raise_file_limit(args.connections)
    if limit < args.connections + 100:
        print(f"WARNING: only {limit} open files allowed (hard limit): expect failed connections")
    load = wait_for_quiet(args.max_load, args.wait)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        bare = run_bare(args.connections, workdir)
        ours = run_relaydesk(args.connections, workdir)
    per_conn = (ours["rss_mib"] - ours["idle_mib"]) * 1024 / max(ours["connections"], 1)
    per_bare = (bare["rss_mib"] - bare["idle_mib"]) * 1024 / max(bare["connections"], 1)
    met = ours["connections"] >= GOAL_CONNECTIONS and ours["rss_mib"] < GOAL_RSS_MIB
    print(f"ws_connections (load average {load}{', NOISY' if load > 2 else ''})")
    for name, r, per in (("bare websocket", bare, per_bare), ("relaydesk agents", ours, per_conn)):
        print(f"  {name:17} {r['connections']:6d} held, RSS {r['idle_mib']:.0f} → "
              f"{r['rss_mib']:.0f} MiB ({per:.1f} KiB per connection), opened in "
              f"{r['open_s']:.1f} s; one signal to all in "
              f"{r['fan_out_s'] * 1000:.0f} ms")  # fmt: skip
    ratio = per_conn / per_bare if per_bare > 0 else float("nan")
    print(f"  memory per connection: {ratio:.1f}× the bare endpoint's; goal "
          f"{GOAL_CONNECTIONS} under {GOAL_RSS_MIB} MiB: {'met' if met else 'NOT met'}")
    print(f"  load average at the end: {load_average()}")
    print(json.dumps({"bench": "ws_connections", "load": load, "bare": bare, "relaydesk": ours,
                      "kib_per_connection": per_conn, "ratio": ratio, "goal_met": met}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
