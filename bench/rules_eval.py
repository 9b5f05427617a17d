"""Rule evaluation cost per event with 100 active rules per tenant, against 1 rule, in one run.

Two figures, each for 1 rule (the baseline) and for 100 rules:

(a) **evaluate**: the in-process work for one event: trigger matching and the condition tree
    of every rule of the tenant (compiled definitions: keywords with NFKC, numbers, lists,
    RE2 regexes), nothing else;
(b) **consume**: the rules consumer's ``handle()`` for one event in its own committed
    transaction on a real database: the indexed query for the rules the event concerns, the
    per-version definition cache, the event-only conditions, and a ``rules.run`` job enqueued
    per rule that may match (as the bus runs it in production).

The 100 rules are a realistic mix over 10 event types (order, ticket, customer, message),
of which 10 listen to the event measured; the event meets the conditions of 1 of them. The
1-rule baseline is that one. Prints microseconds per event (median of ``--repeat`` rounds)
and the ratio 100 rules / 1 rule.

    .venv/bin/python bench/rules_eval.py [--events 2000] [--repeat 5]
                                         [--database-url sqlite|postgresql+asyncpg://...]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from relaydesk.auth.permissions import WILDCARD
from relaydesk.auth.principal import Principal
from relaydesk.automation.consumers import handle
from relaydesk.automation.definition import CompiledRule, compile_definition
from relaydesk.automation.repository import event_patterns
from relaydesk.automation.schemas import RuleIn
from relaydesk.automation.service import RuleService
from relaydesk.events.envelope import Envelope
from relaydesk.kit.db import Database, make_engine, utcnow
from relaydesk.kit.ids import uuid7
from relaydesk.migrations.runner import upgrade
from relaydesk.tenancy.service import create_tenant

TYPES = ["custom.message_received", "order.paid", "order.shipped", "order.delivered",
         "order.cancelled", "order.refunded", "ticket.status_changed", "customer.created",
         "customer.updated", "custom.refund_requested"]  # fmt: skip
KEYWORDS = [["查订单", "where is my order"], ["退款", "refund"], ["投诉", "complaint"],
            ["发票", "invoice"], ["地址", "change address"], ["催单", "hurry"],
            ["人工", "human agent"], ["取消", "cancel my order"], ["会员", "membership"],
            ["物流", "tracking"]]  # fmt: skip
EVENT_PAYLOAD = {"text": "你好，请帮我查订单，Where is my ORDER？谢谢", "channel": "web",
                 "customer_phone": "13912345678", "total": "1299.00", "vip": True}  # fmt: skip


def rule_body(i: int) -> dict[str, Any]:
    """Rule i: listens to TYPES[i % 10]; its conditions vary with i // 10."""
    event = TYPES[i % len(TYPES)]
    variant = i // len(TYPES)
    conditions: list[dict[str, Any]] = [
        {"path": "event.payload.text", "op": "keywords", "value": KEYWORDS[variant]},
    ]
    if variant % 3 == 1:
        conditions.append({"path": "event.payload.total", "op": "gte", "value": 1000})
    if variant % 3 == 2:
        conditions.append({"any": [
            {"path": "event.payload.channel", "op": "in", "value": ["web", "wechat", "app"]},
            {"path": "event.payload.customer_phone", "op": "regex", "value": r"^1[3-9]\d{9}$"},
        ]})  # fmt: skip
    if variant == 4:
        conditions.append({"not": {"path": "event.payload.vip", "op": "equals", "value": False}})
    return {
        "name": f"rule {i:03d}", "trigger": {"type": "event", "event": event},
        "conditions": {"all": conditions},
        "actions": [{"type": "notify", "params": {"role": "supervisor",
                                                  "title": "{{ event.payload.text }}"}}],
    }  # fmt: skip


def tenant_rules(count: int) -> list[dict[str, Any]]:
    return [rule_body(i) for i in range(count)] if count > 1 else [rule_body(0)]


# --- (a) in-process evaluation -------------------------------------------------------------------


def evaluate_all(rules: list[CompiledRule], event: dict[str, Any]) -> int:
    matched = 0
    known = frozenset({"event"})
    patterns = frozenset(event_patterns(event["type"]))  # what the consumer's query does
    for rule in rules:
        if rule.trigger.event not in patterns:
            continue
        if rule.condition is None or rule.condition.evaluate({"event": event}, known, None):
            matched += 1
    return matched


def bench_evaluate(count: int, events: int, repeat: int) -> tuple[float, int]:
    keys = ("trigger", "conditions", "lookups", "actions", "on_error", "run_as")
    rules = [compile_definition({k: body.get(k) for k in keys}) for body in tenant_rules(count)]
    event = {"type": TYPES[0], "key": "c-1", "payload": EVENT_PAYLOAD, "depth": 0}
    rounds = []
    matched = evaluate_all(rules, event)
    for _ in range(repeat):
        started = time.perf_counter()
        for _ in range(events):
            evaluate_all(rules, event)
        rounds.append((time.perf_counter() - started) / events * 1e6)
    return statistics.median(rounds), matched


# --- (b) the consumer on a database --------------------------------------------------------------


async def seeded(db: Database, count: int) -> uuid.UUID:
    async with db.job(system=True) as session:
        tenant = await create_tenant(session, slug=f"bench-{uuid.uuid4().hex[:8]}", name="B")
    author = Principal(kind="system", id=uuid.UUID(int=0), tenant_id=tenant.id,
                       tenant_slug=tenant.slug, label="bench",
                       permissions=frozenset({WILDCARD}))  # fmt: skip
    async with db.job(tenant.id) as session:
        service = RuleService(session, author)
        for body in tenant_rules(count):
            await service.create(RuleIn.model_validate(body))
    return tenant.id


def envelope(tenant_id: uuid.UUID) -> Envelope:
    return Envelope(
        id=uuid7(),
        tenant_id=tenant_id,
        type=TYPES[0],
        version=1,
        key="c-1",
        payload=EVENT_PAYLOAD,
        occurred_at=utcnow(),
        source={"kind": "bench"},
    )


async def bench_consume(db: Database, count: int, events: int, repeat: int) -> float:
    tenant_id = await seeded(db, count)
    for _ in range(20):  # warm the definition cache and the connection pool
        async with db.job(tenant_id) as session:
            await handle(session, envelope(tenant_id))
    rounds = []
    for _ in range(repeat):
        batch = [envelope(tenant_id) for _ in range(events)]
        started = time.perf_counter()
        for item in batch:
            async with db.job(tenant_id) as session:
                await handle(session, item)
        rounds.append((time.perf_counter() - started) / events * 1e6)
    return statistics.median(rounds)


async def consume_figures(url: str, events: int, repeat: int) -> dict[int, float]:
    engine = make_engine(url)
    await upgrade(engine)
    await engine.dispose()
    db = Database.from_url(url)
    try:
        return {count: await bench_consume(db, count, events, repeat) for count in (1, 100)}
    finally:
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000, help="events per round (consume)")
    parser.add_argument("--repeat", type=int, default=5, help="rounds; the median is shown")
    parser.add_argument(
        "--database-url",
        default="sqlite",
        help="sqlite (a temporary file) or a postgresql+asyncpg:// URL",
    )
    args = parser.parse_args()

    print("(a) evaluate: trigger matching + condition trees, in process")
    figures = {count: bench_evaluate(count, args.events * 10, args.repeat) for count in (1, 100)}
    for count, (us, matched) in figures.items():
        print(f"    {count:>3} rule(s): {us:8.2f} µs/event  ({matched} matched)")
    print(f"    ratio 100/1: {figures[100][0] / figures[1][0]:.1f}x")

    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url
        if url == "sqlite":
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'rules_eval.db'}"
        print(f"(b) consume: handle() in a committed transaction on {url.split(':')[0]}")
        consume = asyncio.run(consume_figures(url, args.events, args.repeat))
    for count, us in consume.items():
        print(f"    {count:>3} rule(s): {us:8.1f} µs/event")
    print(f"    ratio 100/1: {consume[100] / consume[1]:.2f}x")


if __name__ == "__main__":
    main()
