"""The measuring half of ``bench/events_e2e.py``: the tenant and endpoint it delivers to, the
producers (one event per committed transaction), the receiver's arrivals, and the two
measurements (throughput, closed loop; latency at a fixed rate, open loop) for Relaydesk and
for the baseline (signed POSTs straight to the receiver).
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from typing import Any

ORDER = {"status": "shipped", "customer_phone": "13912345678", "receiver_name": "王小明",
         "receiver_phone": "13812341234", "receiver_address": "广东省深圳市南山区科技园南路88号",
         "carrier": "SF", "tracking_no": "SF1234567890"}  # fmt: skip


async def seed(settings: Any, receiver_url: str) -> tuple[uuid.UUID, str]:
    """A fresh tenant with one endpoint for ``order.*``; returns (tenant id, secret)."""
    from relaydesk.kit.crypto import Keyring
    from relaydesk.kit.db import Database
    from relaydesk.kit.ids import uuid7
    from relaydesk.migrations.runner import upgrade
    from relaydesk.tenancy.service import create_tenant
    from relaydesk.webhooks.dispatch import encrypt_secret
    from relaydesk.webhooks.models import WebhookEndpoint
    from relaydesk.webhooks.signing import generate_secret

    db = Database.from_url(settings.database_url)
    try:
        await upgrade(db.engine)
        secret = generate_secret()
        async with db.job(system=True) as session:
            tenant = await create_tenant(session, slug=f"bench-{uuid.uuid4().hex[:8]}",
                                         name="Bench 事件")  # fmt: skip
            endpoint = WebhookEndpoint(
                id=uuid7(), tenant_id=tenant.id, url=receiver_url, description="bench",
                event_types=["order.*"], allow_network=["127.0.0.1"], version=1)  # fmt: skip
            endpoint.secret_encrypted = encrypt_secret(Keyring.from_settings(settings), endpoint,
                                                       secret)  # fmt: skip
            session.add(endpoint)
        return tenant.id, secret
    finally:
        await db.dispose()


FAILED_COMMITS: list[str] = []


async def _emit_one(db: Any, tenant_id: uuid.UUID, seq: int) -> float | None:
    """One state change: a transaction that emits one event; its commit time (None and the
    error counted when the commit failed, e.g. SQLite's lock wait timed out)."""
    from sqlalchemy.exc import OperationalError

    from relaydesk.events.outbox import emit

    try:
        async with db.job(tenant_id) as session:
            await emit(session, "order.shipped", {**ORDER, "order_no": f"SO{seq:012d}",
                       "seq": seq}, tenant_id=tenant_id)  # fmt: skip
    except OperationalError as exc:
        FAILED_COMMITS.append(str(exc.orig))
        return None
    return time.time()


async def _arrivals(client: Any, base: str, expected: int, wait: float) -> dict[int, float]:
    """The receiver's arrivals once ``expected`` arrived or after ``wait`` seconds (and reset)."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if int((await client.get(f"{base}/count")).text) >= expected:
            break
        await asyncio.sleep(0.05)
    data = (await client.get(f"{base}/arrivals")).json()
    return {int(k): float(v) for k, v in data.items()}


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2) if ordered else -1.0


async def measure_relaydesk(db: Any, tenant_id: uuid.UUID, base: str,
                            args: argparse.Namespace) -> dict[str, Any]:  # fmt: skip
    import httpx

    out: dict[str, Any] = {}
    async with httpx.AsyncClient(timeout=30) as client:
        await client.get(f"{base}/arrivals")
        # warm-up
        await asyncio.gather(*(_emit_one(db, tenant_id, -1 - n) for n in range(50)))
        await _arrivals(client, base, 50, 60)
        # throughput: producers commit as fast as they can
        counter = iter(range(args.events))
        commits: dict[int, float] = {}

        async def producer() -> None:
            for seq in counter:
                if (at := await _emit_one(db, tenant_id, seq)) is not None:
                    commits[seq] = at

        FAILED_COMMITS.clear()
        started, cpu = time.time(), time.process_time()
        await asyncio.gather(*(producer() for _ in range(args.producers)))
        committed = time.time()
        got = await _arrivals(client, base, len(commits), args.timeout)
        last = max(got.values()) if got else committed
        cpu = time.process_time() - cpu
        out["throughput"] = {
            "events": len(commits), "delivered": len(got), "failed_commits": len(FAILED_COMMITS),
            "events_per_s": round(len(got) / (last - started), 1),
            "commits_per_s": round(len(commits) / (committed - started), 1),
            # this process: producers, and in-process also relay, consumers and delivery
            "cpu_ms_per_event": round(cpu * 1000 / max(1, len(commits)), 3),
        }  # fmt: skip
        # latency at a fixed rate, open loop
        count = int(args.rate * args.seconds)
        commits.clear()
        tasks = []
        t0 = time.monotonic() + 0.1
        for n in range(count):
            delay = t0 + n / args.rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            seq = 1_000_000 + n

            async def one(seq: int = seq) -> None:
                if (at := await _emit_one(db, tenant_id, seq)) is not None:
                    commits[seq] = at

            tasks.append(asyncio.create_task(one()))
        FAILED_COMMITS.clear()
        await asyncio.gather(*tasks)
        got = await _arrivals(client, base, len(commits), args.timeout)
        lat = [(got[s] - c) * 1000 for s, c in commits.items() if s in got]
        out["latency"] = {"rate": args.rate, "events": len(commits), "delivered": len(lat),
                          "failed_commits": len(FAILED_COMMITS),
                          "p50_ms": _pct(lat, 0.5), "p99_ms": _pct(lat, 0.99)}  # fmt: skip
    return out


async def measure_baseline(base: str, args: argparse.Namespace) -> dict[str, Any]:
    """The receiver called directly: a signed POST per event, no database, no bus."""
    import httpx

    from relaydesk.webhooks.payloads import body_bytes
    from relaydesk.webhooks.signing import generate_secret, headers, parse_secret

    key = parse_secret(generate_secret())
    limits = httpx.Limits(max_connections=100)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:

        async def post(seq: int) -> None:
            import datetime as dt

            body = body_bytes("order.shipped", dt.datetime.now(dt.UTC),
                              {**ORDER, "order_no": f"SO{seq:012d}", "seq": seq})  # fmt: skip
            signed = headers([key], str(uuid.uuid4()), int(time.time()), body)
            signed["content-type"] = "application/json"
            r = await client.post(f"{base}/hook", content=body, headers=signed)
            r.raise_for_status()

        await client.get(f"{base}/arrivals")
        counter = iter(range(args.events))

        async def worker() -> None:
            for seq in counter:
                await post(seq)

        started = time.time()
        await asyncio.gather(*(worker() for _ in range(args.producers)))
        got = await _arrivals(client, base, args.events, 60)
        throughput = round(len(got) / (max(got.values()) - started), 1)
        count = int(args.rate * args.seconds)
        scheduled: dict[int, float] = {}
        tasks = []
        t0 = time.monotonic() + 0.1
        for n in range(count):
            delay = t0 + n / args.rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            scheduled[1_000_000 + n] = time.time()
            tasks.append(asyncio.create_task(post(1_000_000 + n)))
        await asyncio.gather(*tasks)
        got = await _arrivals(client, base, count, 60)
        lat = [(got[s] - t) * 1000 for s, t in scheduled.items() if s in got]
    latency = {"rate": args.rate, "p50_ms": _pct(lat, 0.5), "p99_ms": _pct(lat, 0.99)}
    return {"throughput": {"events_per_s": throughput}, "latency": latency}
