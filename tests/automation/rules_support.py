"""Helpers of the automation tests: the rules API mounted on the test app, a stand-in for the
bus (outbox rows handed to the rules consumer in their own transaction, as the relay does),
and the job queue driven deterministically."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from relaydesk.automation import tasks  # noqa: F401 - registers the job handlers
from relaydesk.automation.api import router as rules_router
from relaydesk.automation.consumers import handle
from relaydesk.automation.models import RuleExecution
from relaydesk.automation.runtime import AutomationRuntime, Limits, bind_runtime
from relaydesk.config import Settings
from relaydesk.events.envelope import Envelope
from relaydesk.events.models import OutboxEvent
from relaydesk.events.outbox import emit, to_envelope
from relaydesk.integrations.registry import RuntimeRegistry
from relaydesk.jobs import JobRunner
from relaydesk.jobs.models import Job
from relaydesk.kit.crypto import Keyring
from relaydesk.kit.db import Database, utcnow
from relaydesk.kit.ratelimit import MemoryRateLimiter
from relaydesk.notifications.api import router as notifications_router
from relaydesk.notifications.models import Notification

API = "/api/v1"


def mount(app: FastAPI) -> FastAPI:
    """Add the rules and notifications routes (the lead wires them into app.py)."""
    paths = {getattr(r, "path", "") for r in app.routes}
    if f"{API}/rules" not in paths:
        app.include_router(rules_router, prefix=API)
        app.include_router(notifications_router, prefix=API)
        app.openapi_schema = None
    return app


class Bus:
    """Delivers outbox rows to the rules consumer, once each, in emission order."""

    def __init__(self, db: Database, tenant_id: uuid.UUID) -> None:
        self.db, self.tenant_id = db, tenant_id
        self.delivered: set[uuid.UUID] = set()

    async def emit(self, event_type: str, payload: Mapping[str, Any], **kw: Any) -> Envelope:
        async with self.db.job(self.tenant_id) as session:
            envelope = await emit(session, event_type, payload, tenant_id=self.tenant_id, **kw)
        await self.pump()
        return envelope

    async def pump(self) -> int:
        async with self.db.job(self.tenant_id) as session:
            rows = list(await session.scalars(select(OutboxEvent).order_by(OutboxEvent.id)))
        count = 0
        for row in rows:
            if row.id in self.delivered:
                continue
            self.delivered.add(row.id)
            async with self.db.job(self.tenant_id) as session:
                await handle(session, to_envelope(row))
            count += 1
        return count

    async def settle(self, at: dt.datetime | None = None, rounds: int = 100) -> int:
        """Run due jobs (``at``: as if it were that time) and deliver the events they emit,
        until nothing is left to do; returns how many jobs ran."""
        ran = 0
        for _ in range(rounds):
            done = await run_jobs(self.db, at=at)
            pumped = await self.pump()
            ran += done
            if not done and not pumped:
                return ran
        raise AssertionError("jobs and events did not settle")


async def run_jobs(db: Database, at: dt.datetime | None = None, limit: int = 200) -> int:
    """Run due jobs one at a time (the test database is one shared connection)."""
    runner = JobRunner(db, concurrency=1)
    ran = 0
    while ran < limit:
        jobs = await runner.claim(1, now=at or utcnow())
        if not jobs:
            break
        await runner.run_job(jobs[0])
        ran += 1
    return ran


async def executions(db: Database, tenant_id: uuid.UUID, rule_id: str | uuid.UUID | None = None
                     ) -> list[RuleExecution]:  # fmt: skip
    async with db.job(tenant_id) as session:
        stmt = select(RuleExecution).order_by(RuleExecution.id)
        if rule_id is not None:
            stmt = stmt.where(RuleExecution.rule_id == uuid.UUID(str(rule_id)))
        return list(await session.scalars(stmt))


async def notifications(db: Database, tenant_id: uuid.UUID) -> list[Notification]:
    async with db.job(tenant_id) as session:
        return list(await session.scalars(select(Notification).order_by(Notification.id)))


async def outbox(db: Database, tenant_id: uuid.UUID, event_type: str) -> list[OutboxEvent]:
    async with db.job(tenant_id) as session:
        stmt = select(OutboxEvent).where(OutboxEvent.type == event_type).order_by(OutboxEvent.id)
        return list(await session.scalars(stmt))


async def pending_jobs(db: Database, kind: str | None = None) -> list[Job]:
    async with db.job(system=True) as session:
        stmt = select(Job).where(Job.status == "pending").order_by(Job.run_at)
        if kind is not None:
            stmt = stmt.where(Job.kind == kind)
        return list(await session.scalars(stmt))


async def create_rule(client: httpx.AsyncClient, headers: dict[str, str], body: dict[str, Any]
                      ) -> dict[str, Any]:  # fmt: skip
    r = await client.post(f"{API}/rules", headers=headers, json=body)
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


def rule(name: str, trigger: Any, actions: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    if isinstance(trigger, str):
        trigger = {"type": "event", "event": trigger}
    return {"name": name, "trigger": trigger, "actions": actions, **extra}


def notify_step(title: str = "{{ event.type }} {{ event.payload.order_no }}", **extra: Any
                ) -> dict[str, Any]:  # fmt: skip
    return {"type": "notify", "params": {"role": "supervisor", "title": title}, **extra}


# --- fixtures (test modules import them: a conftest.py here would shadow the root one) ----


@pytest.fixture(name="runtime")
def runtime_fixture(db: Database, settings: Settings) -> AutomationRuntime:
    """The runtime bound to the test database: in-memory rate limiter, no retry wait."""
    return bind_runtime(db, AutomationRuntime(
        registry=RuntimeRegistry(), keyring=Keyring.from_settings(settings),
        rate_limiter=MemoryRateLimiter(), limits=Limits(retry_base_seconds=0.0),
    ))  # fmt: skip


@pytest.fixture(name="rules_app")
def rules_app_fixture(app: FastAPI, runtime: AutomationRuntime) -> FastAPI:
    return mount(app)


@pytest.fixture(name="bus")
def bus_fixture(db: Database, org_a: Any, runtime: AutomationRuntime) -> Bus:
    return Bus(db, org_a.id)
