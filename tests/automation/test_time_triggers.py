"""Time-based triggers: cron ticks run exactly once with two workers racing for them, and
"X not followed by Y within N minutes" (absence)."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from conftest import PG_URL, Org, login
from fastapi import FastAPI
from rules_support import (  # noqa: F401 - the *_fixture names are fixtures
    Bus,
    bus_fixture,
    create_rule,
    executions,
    notifications,
    notify_step,
    rule,
    rules_app_fixture,
    runtime_fixture,
)
from sqlalchemy import select, text

from relaydesk.auth.permissions import WILDCARD
from relaydesk.auth.principal import Principal
from relaydesk.automation import tasks
from relaydesk.automation.definition import Trigger
from relaydesk.automation.models import RuleExecution, RuleWatch
from relaydesk.automation.runtime import AutomationRuntime, bind_runtime
from relaydesk.automation.scheduling import schedule_tick
from relaydesk.automation.schemas import RuleIn
from relaydesk.automation.service import RuleService
from relaydesk.config import Settings
from relaydesk.events.models import OutboxEvent
from relaydesk.integrations.registry import RuntimeRegistry
from relaydesk.jobs import JobRunner
from relaydesk.jobs.models import Job
from relaydesk.kit.crypto import Keyring
from relaydesk.kit.db import Database, make_engine, utcnow
from relaydesk.migrations.runner import upgrade
from relaydesk.tenancy.service import create_tenant

# --- cron: two workers, real commits ----------------------------------------------------------

EVERY_MINUTE = Trigger("cron", cron="* * * * *", timezone="Asia/Shanghai")


@pytest.fixture
async def workers(backend: str, tmp_path: Path, settings: Settings
                  ) -> AsyncIterator[tuple[Database, Database]]:  # fmt: skip
    """Two processes' worth of database handles (own engines, own pools) on a real database
    that commits: the rolled-back test transaction cannot show two workers racing."""
    if backend == "postgres":
        base, _, name = PG_URL.rpartition("/")
        url = f"{base}/{name}_cron"
        admin = make_engine(f"{base}/postgres")
        async with admin.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}_cron" WITH (FORCE)'))
            await conn.execute(text(f'CREATE DATABASE "{name}_cron"'))
        await admin.dispose()
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'cron.db'}"
    engine = make_engine(url)
    await upgrade(engine)
    await engine.dispose()
    first, second = Database.from_url(url), Database.from_url(url)
    for db in (first, second):
        bind_runtime(db, AutomationRuntime(registry=RuntimeRegistry(),
                                           keyring=Keyring.from_settings(settings)))  # fmt: skip
    try:
        yield first, second
    finally:
        await first.dispose()
        await second.dispose()


async def _cron_rule(db: Database) -> tuple[uuid.UUID, uuid.UUID]:
    async with db.job(system=True) as session:
        tenant = await create_tenant(session, slug=f"cron-{uuid.uuid4().hex[:8]}", name="Cron")
    async with db.job(tenant.id) as session:
        author = Principal(kind="system", id=uuid.UUID(int=0), tenant_id=tenant.id,
                           tenant_slug=tenant.slug, label="test",
                           permissions=frozenset({WILDCARD}))  # fmt: skip
        created, _ = await RuleService(session, author).create(RuleIn.model_validate(rule(
            "每分钟", {"type": "cron", "cron": "* * * * *", "timezone": "Asia/Shanghai"},
            [{"type": "event.emit", "params": {"type": "custom.minute_passed",
                                               "payload": {"at": "{{ event.payload.tick }}"}}}],
        )))  # fmt: skip
    return tenant.id, created.id


async def _pending_tick(db: Database) -> Job | None:
    async with db.job(system=True) as session:
        return (
            await session.scalars(
                select(Job).where(Job.kind == "rules.cron", Job.status == "pending")
            )
        ).one_or_none()


async def test_each_cron_tick_runs_once_with_two_workers(
    workers: tuple[Database, Database],
) -> None:
    first, second = workers
    tenant_id, rule_id = await _cron_rule(first)
    job = await _pending_tick(first)
    assert job is not None and job.dedupe_key.startswith(f"rule:{rule_id}:")
    tick = dt.datetime.fromisoformat(job.payload["tick"])
    assert tick.second == 0 and dt.timedelta(0) < tick - utcnow() <= dt.timedelta(minutes=1)

    # both processes plan the same tick (an API node saving, a worker ticking): one job
    async def plan(db: Database) -> None:
        async with db.job(tenant_id) as session:
            await schedule_tick(session, tenant_id, rule_id, EVERY_MINUTE)

    await asyncio.gather(plan(first), plan(second))
    async with first.job(system=True) as session:
        assert len(list(await session.scalars(select(Job).where(Job.kind == "rules.cron")))) == 1

    # two workers loop; "time passes" three times (the due tick's run_at is moved to now)
    stop = asyncio.Event()
    runners = [JobRunner(db, worker=f"w{i}", poll_seconds=0.02) for i, db in enumerate(workers)]
    loops = [asyncio.create_task(r.run_forever(stop)) for r in runners]
    try:
        for n in range(1, 4):
            async with first.job(system=True) as session:
                due = (
                    await session.scalars(
                        select(Job).where(Job.kind == "rules.cron", Job.status == "pending")
                    )
                ).one()
                due.run_at = utcnow()
            async with asyncio.timeout(10):
                while len(await _executions(first, tenant_id)) < n:  # noqa: ASYNC110
                    await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)  # a duplicate, if any, would show up now
    finally:
        stop.set()
        await asyncio.gather(*loops)

    runs = await _executions(first, tenant_id)
    ticks = [r.trigger["payload"]["tick"] for r in runs]
    assert len(runs) == 3 and len(set(ticks)) == 3
    assert all(r.status == "succeeded" and r.trigger_kind == "cron" for r in runs)
    assert [dt.datetime.fromisoformat(t) for t in ticks] == [
        tick + dt.timedelta(minutes=i) for i in range(3)
    ]
    async with first.job(tenant_id) as session:
        events = list(await session.scalars(select(OutboxEvent)))
    assert sorted(e.payload["at"] for e in events) == sorted(ticks)
    assert (await _pending_tick(first)) is not None  # the fourth tick waits

    # a tick job delivered again (a worker died after running it) finds its execution
    ctx = tasks.JobContext(second, uuid.uuid4(), "rules.cron", tenant_id, 2, 10, "w9")
    await tasks.cron_tick(ctx, {"rule_id": str(rule_id), "tick": ticks[0]})
    assert len(await _executions(first, tenant_id)) == 3


async def _executions(db: Database, tenant_id: uuid.UUID) -> list[RuleExecution]:
    async with db.job(tenant_id) as session:
        return list(await session.scalars(select(RuleExecution).order_by(RuleExecution.id)))


async def test_a_disabled_cron_rule_stops_ticking(workers: tuple[Database, Database]) -> None:
    db, _ = workers
    tenant_id, rule_id = await _cron_rule(db)
    async with db.job(tenant_id) as session:
        author = Principal(
            kind="system",
            id=uuid.UUID(int=0),
            tenant_id=tenant_id,
            tenant_slug="x",
            label="test",
            permissions=frozenset({WILDCARD}),
        )
        await RuleService(session, author).set_enabled(rule_id, False)
    job = await _pending_tick(db)
    assert job is not None
    runner = JobRunner(db)
    (claimed,) = await runner.claim(1, now=job.run_at + dt.timedelta(seconds=1))
    await runner.run_job(claimed)
    assert await _executions(db, tenant_id) == []
    assert await _pending_tick(db) is None  # no next tick while disabled


# --- absence -----------------------------------------------------------------------------------

PAID = {"order_no": "YQ1", "status": "paid", "total": "99.00"}


async def test_order_not_shipped_within_the_window(
    rules_app: FastAPI, client: httpx.AsyncClient, org_a: Org, db: Database, bus: Bus
) -> None:
    owner = await login(client, org_a, "owner")
    await create_rule(client, owner, rule("未发货提醒", {
        "type": "absence", "event": "order.paid", "not_followed_by": "order.shipped",
        "within_minutes": 60,
    }, [notify_step("订单 {{ event.payload.order_no }} 付款一小时未发货")]))  # fmt: skip
    await bus.emit("order.paid", PAID)
    await bus.emit("order.paid", {**PAID, "order_no": "YQ2"})
    await bus.emit("order.shipped", {"order_no": "YQ1", "status": "shipped"})  # YQ1 in time
    await bus.emit("order.shipped", {"order_no": "YQ3", "status": "shipped"})  # another key
    await bus.settle()
    assert await executions(db, org_a.id) == []  # nothing before the deadline
    await bus.settle(at=utcnow() + dt.timedelta(minutes=61))

    (execution,) = await executions(db, org_a.id)
    assert execution.trigger_kind == "absence" and execution.status == "succeeded"
    assert execution.trigger["payload"]["order_no"] == "YQ2"
    assert [n.title for n in await notifications(db, org_a.id)] == ["订单 YQ2 付款一小时未发货"]
    async with db.job(org_a.id) as session:
        watches = {w.key: w.status for w in await session.scalars(select(RuleWatch))}
    assert watches == {"YQ1": "satisfied", "YQ2": "fired"}
