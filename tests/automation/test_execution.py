"""Rules running for events: matching, execution records, policies, loops, limits, delays,
and a worker that dies in the middle of an execution."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from conftest import Org, login
from fastapi import FastAPI
from pydantic import BaseModel
from rules_support import (  # noqa: F401 - the *_fixture names are fixtures
    API,
    Bus,
    bus_fixture,
    create_rule,
    executions,
    notifications,
    notify_step,
    outbox,
    pending_jobs,
    rule,
    rules_app_fixture,
    run_jobs,
    runtime_fixture,
)
from sqlalchemy import select

from relaydesk.automation.actions import (
    ActionContext,
    ActionType,
    register_action,
    unregister_action,
)
from relaydesk.automation.consumers import handle
from relaydesk.jobs.models import Job
from relaydesk.kit.db import Database, utcnow
from relaydesk.tenancy.models import Tenant

SHIPPED = {
    "order_no": "YQ20261118001234",
    "status": "shipped",
    "carrier": "顺丰速运",
    "tracking_no": "SF1234567890",
    "customer_phone": "13912345678",
    "total": "1299.00",
}


async def admin(client: httpx.AsyncClient, org: Org) -> dict[str, str]:
    return await login(client, org, "owner")


async def test_an_event_runs_its_rule_once_with_a_full_record(
    rules_app: FastAPI, client: httpx.AsyncClient, org_a: Org, db: Database, bus: Bus
) -> None:
    owner = await admin(client, org_a)
    created = await create_rule(client, owner, rule(
        "大单发货", "order.*", [notify_step("订单 {{ event.payload.order_no }} 由 "
                                          "{{ event.payload.carrier }} 发出")],
        conditions={"path": "event.payload.total", "op": "gte", "value": 1000}))  # fmt: skip
    event = await bus.emit("order.shipped", SHIPPED)
    await bus.emit("order.shipped", {**SHIPPED, "order_no": "YQ1", "total": "10"})  # no match
    async with db.job(org_a.id) as session:  # the bus delivers the first event again
        await handle(session, event)
    assert len(await pending_jobs(db, "rules.run")) == 1  # one job per (rule, event)
    await bus.settle()

    (execution,) = await executions(db, org_a.id)
    assert execution.status == "succeeded" and execution.matched is True
    assert execution.event_id == event.id and execution.version == 1
    assert execution.conditions == [{"loc": "conditions", "path": "event.payload.total",
                                     "op": "gte", "value": 1000, "actual": "1299.00",
                                     "result": True}]  # fmt: skip
    (step,) = execution.steps
    assert step["status"] == "succeeded" and step["attempts"] == 1
    assert step["output"]["notified"] == 1  # the org's one supervisor
    (note,) = await notifications(db, org_a.id)
    assert note.title == "订单 YQ20261118001234 由 顺丰速运 发出"
    assert note.user_id == org_a.users["supervisor"]

    r = await client.get(f"{API}/rules/{created['id']}/executions", headers=owner)
    (shown,) = r.json()["items"]
    assert shown["status"] == "succeeded" and shown["steps"][0]["status"] == "succeeded"
    r = await client.get(f"{API}/rules/{created['id']}/executions?status=failed", headers=owner)
    assert r.json()["items"] == []


async def test_customer_conditions_and_tags(
    rules_app: FastAPI, client: httpx.AsyncClient, org_a: Org, db: Database, bus: Bus
) -> None:
    owner = await admin(client, org_a)
    r = await client.post(
        f"{API}/customers",
        headers=owner,
        json={"name": "李娜", "phone": "13912345678", "attributes": {}, "tags": ["金卡"]},
    )
    assert r.status_code == 201, r.text
    customer_id = r.json()["id"]
    created = await create_rule(client, owner, rule(
        "金卡发货", "order.shipped", [{"type": "set_tags", "params": {"add": ["已发货"]}}],
        conditions={"path": "customer.tags", "op": "contains", "value": "金卡"},
        run_as=["customers.write"]))  # fmt: skip
    await bus.emit("order.shipped", SHIPPED)  # customer found by the payload's phone
    await bus.emit("order.shipped", {**SHIPPED, "order_no": "YQ2",
                                     "customer_phone": "13700000000"})  # nobody  # fmt: skip
    await bus.settle()
    done, skipped = await executions(db, org_a.id, created["id"])
    assert done.status == "succeeded" and str(done.customer_id) == customer_id
    assert skipped.status == "not_matched" and skipped.customer_id is None
    assert skipped.conditions[0]["actual"] is None
    got = (await client.get(f"{API}/customers/{customer_id}", headers=owner)).json()
    assert got["tags"] == ["金卡", "已发货"]


@pytest.mark.parametrize("policy", ["stop", "continue", "retry"])
async def test_on_error_policies(
    rules_app: FastAPI,
    client: httpx.AsyncClient,
    org_a: Org,
    db: Database,
    bus: Bus,
    policy: str,
) -> None:
    on_error: Any = policy if policy != "retry" else {"policy": "retry", "max_attempts": 3}
    await create_rule(client, await admin(client, org_a), rule(
        "policy", "custom.nobody_home", [
            {"id": "tag", "type": "set_tags", "params": {"add": ["x"]}},  # no customer: fails
            notify_step("after the failure"),
        ], on_error=on_error, run_as=["customers.write"]))  # fmt: skip
    await bus.emit("custom.nobody_home", {"note": "no customer here"})
    await bus.settle()
    (execution,) = await executions(db, org_a.id)
    tag, after = execution.steps
    assert tag["status"] == "failed" and tag["error"]["code"] == "no_customer"
    if policy == "continue":
        assert execution.status == "partial" and after["status"] == "succeeded"
        assert len(await notifications(db, org_a.id)) == 1
    else:
        assert execution.status == "failed" and after["status"] == "skipped"
        assert execution.reason.startswith("tag (set_tags): no customer")
        assert await notifications(db, org_a.id) == []
    assert tag["attempts"] == (3 if policy == "retry" else 1)


async def test_loop_protection(
    rules_app: FastAPI, client: httpx.AsyncClient, org_a: Org, db: Database, bus: Bus
) -> None:
    owner = await admin(client, org_a)

    def relay(name: str, source: str, target: str) -> dict[str, Any]:
        return rule(
            name,
            source,
            [{"type": "event.emit", "params": {"type": target, "payload": {"via": name}}}],
        )

    # a ping-pong between two rules, and a rule that feeds itself
    ping = await create_rule(client, owner, relay("ping", "custom.ping", "custom.pong"))
    pong = await create_rule(client, owner, relay("pong", "custom.pong", "custom.ping"))
    echo = await create_rule(client, owner, relay("echo", "custom.echo", "custom.echo"))
    await bus.emit("custom.ping", {})
    await bus.emit("custom.echo", {})
    await bus.settle()
    ping_runs = await executions(db, org_a.id, ping["id"])
    assert [e.status for e in ping_runs] == ["succeeded", "refused"]
    assert "caused by this rule" in ping_runs[1].reason and ping_runs[1].depth == 2
    assert [e.status for e in await executions(db, org_a.id, pong["id"])] == ["succeeded"]
    assert [e.status for e in await executions(db, org_a.id, echo["id"])] == [
        "succeeded",
        "refused",
    ]
    assert len(await outbox(db, org_a.id, "custom.ping")) == 2  # the original and one hop

    # a chain of distinct rules stops at the depth limit (5 hops)
    for i in range(7):
        await create_rule(client, owner, relay(f"hop{i}", f"custom.hop{i}", f"custom.hop{i + 1}"))
    await bus.emit("custom.hop0", {})
    await bus.settle()
    depths = sorted(e.depth for e in await executions(db, org_a.id) if e.status == "refused"
                    and e.event_type.startswith("custom.hop"))  # fmt: skip
    assert depths == [5]
    assert [e.depth for e in await outbox(db, org_a.id, "custom.hop5")] == [5]
    assert await outbox(db, org_a.id, "custom.hop6") == []


async def test_per_tenant_execution_limit(
    rules_app: FastAPI, client: httpx.AsyncClient, org_a: Org, db: Database, bus: Bus
) -> None:
    async with db.job(system=True) as session:
        tenant = await session.get(Tenant, org_a.id)
        assert tenant is not None
        tenant.settings = {**tenant.settings, "automation": {"executions_per_minute": 2}}
    await create_rule(
        client, await admin(client, org_a), rule("busy", "custom.tick", [notify_step("tick")])
    )
    for i in range(3):
        await bus.emit("custom.tick", {"i": i})
    await bus.settle()
    statuses = [e.status for e in await executions(db, org_a.id)]
    assert statuses == ["succeeded", "succeeded", "rate_limited"]
    limited = (await executions(db, org_a.id))[2]
    assert "limit of 2 rule executions per minute" in limited.reason
    assert len(await notifications(db, org_a.id)) == 2


async def test_delay_continues_later_through_the_job_queue(
    rules_app: FastAPI, client: httpx.AsyncClient, org_a: Org, db: Database, bus: Bus
) -> None:
    await create_rule(client, await admin(client, org_a), rule("later", "custom.call_me", [
        notify_step("now"), {"type": "delay", "params": {"minutes": 10}},
        notify_step("ten minutes later")]))  # fmt: skip
    await bus.emit("custom.call_me", {})
    await bus.settle()
    (execution,) = await executions(db, org_a.id)
    assert execution.status == "waiting" and execution.next_step == 2
    assert [n.title for n in await notifications(db, org_a.id)] == ["now"]
    (job,) = await pending_jobs(db, "rules.resume")
    assert dt.timedelta(minutes=9) < job.run_at - utcnow() <= dt.timedelta(minutes=10)
    await bus.settle(at=utcnow() + dt.timedelta(minutes=11))
    (execution,) = await executions(db, org_a.id)
    assert execution.status == "succeeded"
    assert [n.title for n in await notifications(db, org_a.id)] == ["now", "ten minutes later"]


# --- a worker dies in the middle --------------------------------------------------------------


class WorkerDied(BaseException):
    """Stands for SIGKILL: nothing after it runs, nothing catches it."""


class Knock(BaseModel):
    who: str = "x"


CALLS: list[str] = []


@pytest.fixture
def flaky_actions() -> Iterator[None]:
    async def dies_once(ctx: ActionContext, params: Knock) -> dict[str, Any]:
        CALLS.append(params.who)
        if len(CALLS) == 1:
            raise WorkerDied
        return {"knocked": params.who}

    register_action(ActionType("test.unsafe", Knock, dies_once, "dies once, not idempotent"))
    register_action(ActionType("test.safe", Knock, dies_once, "dies once, idempotent",
                               idempotent=True))  # fmt: skip
    CALLS.clear()
    yield
    unregister_action("test.unsafe")
    unregister_action("test.safe")


@pytest.mark.parametrize("kind", ["test.unsafe", "test.safe"])
async def test_a_dead_worker_resumes_without_repeating_side_effects(
    rules_app: FastAPI,
    client: httpx.AsyncClient,
    org_a: Org,
    db: Database,
    bus: Bus,
    flaky_actions: None,
    kind: str,
) -> None:
    await create_rule(client, await admin(client, org_a), rule("crash", "custom.crash", [
        notify_step("before"), {"id": "knock", "type": kind, "params": {"who": "erp"}},
        notify_step("after")], on_error="continue"))  # fmt: skip
    await bus.emit("custom.crash", {})
    with pytest.raises(WorkerDied):
        await run_jobs(db)
    async with db.job(system=True) as session:
        (job,) = list(await session.scalars(select(Job).where(Job.kind == "rules.run")))
    assert job.status == "running"  # its lease has not expired yet
    assert await run_jobs(db) == 0
    await bus.settle(at=utcnow() + dt.timedelta(minutes=10))  # another worker, lease expired

    (execution,) = await executions(db, org_a.id)
    before, knock, _after = execution.steps
    assert before["attempts"] == 1  # done before the crash, not repeated
    assert [n.title for n in await notifications(db, org_a.id)] == ["before", "after"]
    if kind == "test.safe":
        assert knock["status"] == "succeeded" and CALLS == ["erp", "erp"]
        assert execution.status == "succeeded"
    else:
        assert knock["status"] == "failed" and knock["error"]["code"] == "interrupted"
        assert CALLS == ["erp"]  # never called twice
        assert execution.status == "partial"


async def test_an_action_type_missing_in_the_worker_is_recorded(
    rules_app: FastAPI, client: httpx.AsyncClient, org_a: Org, db: Database, bus: Bus
) -> None:
    async def knock(ctx: ActionContext, params: Knock) -> dict[str, Any]:
        return {}

    register_action(ActionType("test.gone", Knock, knock, "registered only while saving"))
    try:
        await create_rule(client, await admin(client, org_a), rule("gone", "custom.gone", [
            {"id": "knock", "type": "test.gone", "params": {}}]))  # fmt: skip
    finally:
        unregister_action("test.gone")
    await bus.emit("custom.gone", {})
    await bus.settle()
    (execution,) = await executions(db, org_a.id)
    assert execution.status == "failed"
    assert "unknown action type 'test.gone'" in execution.reason
