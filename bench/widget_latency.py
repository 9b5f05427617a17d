"""Web chat latency (issue 5): a visitor's message in through the widget's WebSocket until the
agent's WebSocket has it, at a fixed offered rate, against a bare WebSocket relay in the same
run.

Relaydesk (``uvicorn _common:relaydesk_app --factory``, one worker, embedded event runtime) is
seeded with a tenant, an agent who is online and a web chat inbox. Visitors' tokens are
signed with the server's own key, as ``POST /widget/api/{inbox}/session`` signs them for
anonymous visitors (that endpoint allows 60 sessions a minute per address). The load comes
from another process (``bench/_widget_client.py``): one agent socket (``/api/v1/realtime``,
first-frame auth) and ``--visitors`` widget sockets (``/widget/ws/{inbox}``, ``hello``). Message
*i* is due at *start + i/rate* and goes out on visitor *i mod visitors*; its latency is counted
from that due time to the agent's ``message.received`` frame that carries it (the path: rate
limit, identity, ``ConversationService.receive``, commit, outbox relay, the realtime consumer,
the hub, the agent's socket). The visitor's ``ack`` is timed too.

First comes the *opening*: each visitor's first message, at the same rate, starts its
conversation (the new-conversation path: routing and priority rules, jobs); it is timed on its
own (``open p99`` in the report) and waited for, then ``--settle`` seconds, so that the steady
state is not measured in the backlog of 200 conversations started within one second. Then
messages flow at ``--rate``; the first ``--warmup`` seconds of them are not counted.

The baseline is a bare Starlette WebSocket app (``widget_latency:bare_app``) under the same
uvicorn flags, loaded by the same client: it echoes each visitor frame to its sender (the ack)
and sends it on to every agent socket. Prints p50/p99 of both, the ratios, the server's CPU
per message, and whether the goal (p99 < 30 ms at 200 messages/s) is met.

    .venv/bin/python bench/widget_latency.py [--rate 200] [--seconds 20] [--warmup 5] [--settle 2]
        [--visitors 200] [--database-url sqlite|postgresql+asyncpg://...]... [--json out.json]
        [--max-load 1.0] [--wait 300] [--profile DIR] [--py-spy /tmp/pyspy/bin/py-spy]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    cpu_seconds,
    ensure_pg_database,
    load_average,
    server,
    wait_for_quiet,
)
from _widget_client import SITE

PASSWORD = "bench-password-123"
PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/relaydesk_bench_ws"
GOAL_P99_MS, GOAL_RATE = 30.0, 200.0


# --- the baseline -----------------------------------------------------------------------------


def bare_app() -> Any:
    """Visitor frames echoed to the sender and sent on to every agent socket; nothing else."""
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect

    agents: set[WebSocket] = set()

    async def agent(ws: WebSocket) -> None:
        await ws.accept()
        agents.add(ws)
        try:
            while True:
                await ws.receive_text()
        except WebSocketDisconnect:
            pass
        finally:
            agents.discard(ws)

    async def visitor(ws: WebSocket) -> None:
        await ws.accept()
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                data = await ws.receive_text()
                await ws.send_text(data)
                for other in list(agents):
                    await other.send_text(data)

    return Starlette(routes=[WebSocketRoute("/agent", agent), WebSocketRoute("/visitor", visitor)])


# --- seeding Relaydesk --------------------------------------------------------------------------


async def seed(env: dict[str, str], visitors: int) -> dict[str, Any]:
    """Migrate; a fresh tenant, an agent, a web chat inbox; the visitors' tokens."""
    os.environ.update(env)
    import relaydesk.channels.webchat  # noqa: F401 - registers the web_chat settings
    from relaydesk.channels import apply_settings
    from relaydesk.channels.webchat.tokens import Signer, VisitorSession
    from relaydesk.config import load_settings
    from relaydesk.conversations.models import Inbox
    from relaydesk.kit.crypto import Keyring
    from relaydesk.kit.db import Database, mark_system, scope_session
    from relaydesk.migrations.runner import upgrade
    from relaydesk.tenancy.service import create_tenant, create_user

    settings = load_settings()
    db = Database.from_url(settings.database_url)
    try:
        await upgrade(db.engine)
        slug = f"bench-{uuid.uuid4().hex[:8]}"
        email = f"agent@{slug}.example.cn"
        async with db.job(system=True) as session:
            tenant = await create_tenant(session, slug=slug, name="基准测试公司")
            scope_session(session, tenant.id)
            mark_system(session)
            await create_user(session, email=email, display_name="坐席小王", password=PASSWORD,
                              role_names=("agent",))  # fmt: skip
            inbox = Inbox(tenant_id=tenant.id, name="官网在线客服", channel="web_chat")
            # 60 messages a minute per visitor at the default load: above the default of 30
            apply_settings(inbox, {"allowed_origins": [SITE], "messages_per_minute": 120},
                           Keyring.from_settings(settings))  # fmt: skip
            session.add(inbox)
            await session.flush()
            inbox_id = inbox.id
    finally:
        await db.dispose()
    signer = Signer(settings.secret_key())
    tokens = [signer.visitor_token(VisitorSession(inbox_id, uuid.uuid4().hex))
              for _ in range(visitors)]  # fmt: skip
    return {"slug": slug, "email": email, "inbox": str(inbox_id), "tokens": tokens}


def agent_online(base: str, slug: str, email: str) -> str:
    """Sign the agent in and set them online (so messages are not 'offline'); the token."""
    import httpx

    with httpx.Client(base_url=base, timeout=30) as http:
        r = http.post("/api/v1/auth/login", json={"tenant": slug, "email": email,
                                                  "password": PASSWORD})  # fmt: skip
        r.raise_for_status()
        token = str(r.json()["access_token"])
        r = http.put("/api/v1/routing/presence/me", json={"status": "online"},
                     headers={"Authorization": f"Bearer {token}"})  # fmt: skip
        r.raise_for_status()
    return token


# --- one target -----------------------------------------------------------------------------


def load(job: dict[str, Any], pid: int, args: argparse.Namespace,
         profile: Path | None) -> dict[str, Any]:  # fmt: skip
    """Run the client process against a server; CPU per counted message (and py-spy)."""
    client = str(Path(__file__).resolve().parent / "_widget_client.py")
    proc = subprocess.Popen([sys.executable, client], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(json.dumps(job) + "\n")
    proc.stdin.close()
    cpu, spy, result = [], None, None
    for line in proc.stdout:
        if line.strip() in ("measure", "done"):
            cpu.append(cpu_seconds(pid))
            if line.strip() == "measure" and profile is not None:
                profile.parent.mkdir(parents=True, exist_ok=True)
                spy = subprocess.Popen(
                    [args.py_spy, "record", "--pid", str(pid), "--duration",
                     str(max(1, int(args.seconds))), "--rate", "200", "--format", "raw",
                     "--output", str(profile), "--nonblocking", *args.py_spy_flags],
                    stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)  # fmt: skip
        elif line.startswith("{"):
            result = json.loads(line)
    if proc.wait(timeout=120) != 0 or result is None:
        raise SystemExit("the load client failed")
    if spy is not None:
        spy.wait(timeout=60)
    if len(cpu) == 2 and None not in cpu and result["messages"]:
        result["server_cpu_ms"] = (cpu[1] - cpu[0]) / result["messages"] * 1000
    result["valid"] = (result["errors"] == 0 and result["pushed"] == result["messages"]
                       and result["opened"] == result["visitors"]
                       and result["acked"] == result["messages"]
                       and result["send_lag_p99_ms"] < 5)  # fmt: skip
    return result


def run_database(url: str | None, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    name = "postgresql" if url else "sqlite"
    data_dir = workdir / name
    data_dir.mkdir()
    env = {"RELAYDESK_DATA_DIR": str(data_dir), "RELAYDESK_LOG_LEVEL": "WARNING",
           "RELAYDESK_DATABASE__URL": url or f"sqlite+aiosqlite:///{data_dir / 'relaydesk.db'}",
           "RELAYDESK_HTTP__RATE_LIMIT_IP_PER_MINUTE": str(10**9)}  # fmt: skip
    seeded = asyncio.run(seed(env, args.visitors))
    common = {"rate": args.rate, "warmup": args.warmup, "seconds": args.seconds,
              "settle": args.settle,
              "drain": args.drain, "tag": f"wl{uuid.uuid4().hex[:6]}"}  # fmt: skip
    profile = (args.profile / f"widget-{name}.txt") if args.profile else None
    with server("widget_latency:bare_app", {}, data_dir / "bare.log") as (base, pid):
        ws = base.replace("http", "ws")
        bare = load({**common, "agent_url": f"{ws}/agent", "agent_first": None,
                     "visitor_url": f"{ws}/visitor", "hellos": [None] * args.visitors},
                    pid, args, None)  # fmt: skip
    with server("_common:relaydesk_app", env, data_dir / "relaydesk.log") as (base, pid):
        token = agent_online(base, seeded["slug"], seeded["email"])
        ws = base.replace("http", "ws")
        hellos = [json.dumps({"type": "hello", "token": t}) for t in seeded["tokens"]]
        ours = load({**common, "agent_url": f"{ws}/api/v1/realtime",
                     "agent_first": json.dumps({"type": "auth", "token": token}),
                     "visitor_url": f"{ws}/widget/ws/{seeded['inbox']}", "hellos": hellos},
                    pid, args, profile)  # fmt: skip
    if not ours["valid"]:
        print((data_dir / "relaydesk.log").read_text()[-3000:])
    return {"database": name, "bare": bare, "relaydesk": ours}


def report(run: dict[str, Any], load_at_start: float) -> None:
    print(f"\n{run['database']} (load average at the start {load_at_start}, now "
          f"{load_average()})")  # fmt: skip
    print(f"  {'':<12}{'msgs':>6}{'push p50':>10}{'p99':>8}{'max':>8}{'ack p50':>9}{'p99':>8}"
          f"{'acks/s':>8}{'cpu ms':>8}{'lag p99':>9}  valid")  # fmt: skip
    for label, r in (("bare relay", run["bare"]), ("relaydesk", run["relaydesk"])):
        cpu = r.get("server_cpu_ms")
        print(f"  {label:<12}{r['messages']:>6}{r['push_p50_ms']:>10.2f}{r['push_p99_ms']:>8.2f}"
              f"{r['push_max_ms'] or 0:>8.1f}{r['ack_p50_ms']:>9.2f}{r['ack_p99_ms']:>8.2f}"
              f"{r['acked_per_s']:>8.0f}"
              f"{cpu if cpu is not None else float('nan'):>8.2f}{r['send_lag_p99_ms']:>9.2f}  "
              f"{'yes' if r['valid'] else 'NO'}")  # fmt: skip
        if r["errors"] or r["pushed"] < r["messages"] or r["acked"] < r["messages"]:
            print(
                f"    {r['errors']} errors, {r['messages'] - r['pushed']} not pushed, "
                f"{r['messages'] - r['acked']} not acked; {r['error_sample'] or ''}"
            )
        print(f"    opening: {r['opened']} of {r['visitors']} conversations "
              f"started, push p50 {r['open_p50_ms']:.2f} ms, p99 {r['open_p99_ms']:.2f} ms")
        if r["offline"]:
            print(f"    {r['offline']} messages were acked as offline")
    ours, bare = run["relaydesk"], run["bare"]
    print(
        f"  ratio relaydesk / bare: push p50 {ours['push_p50_ms'] / bare['push_p50_ms']:.1f}x, "
        f"p99 {ours['push_p99_ms'] / bare['push_p99_ms']:.1f}x"
    )
    met = ours["valid"] and ours["push_p99_ms"] < GOAL_P99_MS
    print(
        f"  goal p99 < {GOAL_P99_MS:g} ms at {GOAL_RATE:g}/s: "
        f"{'met' if met else 'NOT met'} (offered {run['rate']:g}/s)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=GOAL_RATE, help="messages per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--settle", type=float, default=2.0,
                        help="seconds between the opening and the steady state")
    parser.add_argument("--drain", type=float, default=15.0, help="wait for late frames")
    parser.add_argument("--visitors", type=int, default=200)
    parser.add_argument("--database-url", action="append", dest="urls",
                        help="sqlite (a temporary file) or a PostgreSQL URL; default: SQLite, "
                        f"then {PG_URL} if it answers (created afresh, dropped)")  # fmt: skip
    parser.add_argument("--json", type=Path)
    parser.add_argument("--max-load", type=float, default=1.0)
    parser.add_argument("--wait", type=float, default=300.0)
    parser.add_argument("--profile", type=Path, help="py-spy collapsed stacks of Relaydesk here")
    parser.add_argument("--py-spy", default="py-spy")
    parser.add_argument(
        "--py-spy-flags",
        nargs="*",
        default=["--gil"],
        help="e.g. --idle to see waiting too (default --gil: where CPU goes)",
    )
    args = parser.parse_args(argv)
    urls = args.urls or ["sqlite", PG_URL]
    print(f"widget → agent latency at {args.rate:g} messages/s, {args.visitors} visitors, "
          f"{os.cpu_count()} CPUs, one uvicorn worker each")  # fmt: skip
    runs = []
    with tempfile.TemporaryDirectory(prefix="relaydesk-bench-ws-") as tmp:
        for url in urls:
            pg = url.startswith("postgresql")
            if pg and not asyncio.run(ensure_pg_database(url, fresh=True)):
                continue
            started = wait_for_quiet(args.max_load, args.wait)
            try:
                run = run_database(url if pg else None, args, Path(tmp))
            finally:
                if pg:
                    asyncio.run(ensure_pg_database(url, fresh=True, create=False))
            run.update(rate=args.rate, load_at_start=started, load_at_end=load_average())
            report(run, started)
            runs.append(run)
    if args.json:
        args.json.write_text(json.dumps(runs, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
