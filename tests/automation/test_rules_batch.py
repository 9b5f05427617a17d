"""The rules consumer on a batch of events (the bus's ``handle_batch``): the same rule jobs as
one event at a time (matching, event-only conditions), enqueued once however often the batch
is handed over, and run like any other."""

from __future__ import annotations

import httpx
from conftest import Org, login
from fastapi import FastAPI
from rules_support import (  # noqa: F401 - the *_fixture names are fixtures
    create_rule,
    executions,
    notify_step,
    pending_jobs,
    rule,
    rules_app_fixture,
    run_jobs,
    runtime_fixture,
)

from relaydesk.automation.consumers import handle_batch
from relaydesk.events.outbox import emit
from relaydesk.kit.db import Database

SHIPPED = {"order_no": "YQ20261118001234", "status": "shipped", "carrier": "顺丰速运",
           "tracking_no": "SF1234567890", "customer_phone": "13912345678",
           "total": "1299.00"}  # fmt: skip


async def test_a_batch_enqueues_what_each_event_would(
    rules_app: FastAPI, client: httpx.AsyncClient, org_a: Org, db: Database
) -> None:
    owner = await login(client, org_a, "owner")
    big = await create_rule(client, owner, rule(
        "大单", "order.*", [notify_step()],
        conditions={"path": "event.payload.total", "op": "gte", "value": 1000}))  # fmt: skip
    paid = await create_rule(client, owner, rule("付款", "custom.paid", [notify_step()]))
    async with db.job(org_a.id) as session:
        events = [
            await emit(session, "order.shipped", SHIPPED, tenant_id=org_a.id),
            await emit(session, "order.shipped", {**SHIPPED, "total": "10"}, tenant_id=org_a.id),
            await emit(session, "custom.paid", {"total": 5000}, tenant_id=org_a.id),
            await emit(
                session, "order.shipped", {**SHIPPED, "order_no": "YQ2"}, tenant_id=org_a.id
            ),
        ]
    for _ in range(2):  # handed over twice: still one job per (rule, event)
        async with db.job(org_a.id) as session:
            await handle_batch(session, events)
    jobs = await pending_jobs(db, "rules.run")
    keys = sorted(job.dedupe_key or "" for job in jobs)
    assert keys == sorted([f"rule:{big['id']}:{events[0].id}",
                           f"rule:{big['id']}:{events[3].id}",
                           f"rule:{paid['id']}:{events[2].id}"])  # fmt: skip
    for job in jobs:
        event = next(e for e in events if str(e.id) == job.payload["event"]["id"])
        assert job.payload["event"] == event.to_json() and job.tenant_id == org_a.id
    assert await run_jobs(db) == 3
    assert [e.status for e in await executions(db, org_a.id)] == ["succeeded"] * 3
