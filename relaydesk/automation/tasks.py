"""Job handlers: run a rule for an event, resume it, fire a cron tick, check an absence."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from relaydesk.automation.context import tick_envelope
from relaydesk.automation.definition import compiled
from relaydesk.automation.engine import Engine
from relaydesk.automation.models import Rule, RuleVersion
from relaydesk.automation.repository import WatchRepository
from relaydesk.automation.scheduling import (
    ABSENCE_JOB,
    CRON_JOB,
    RESUME_JOB,
    RUN_JOB,
    schedule_tick,
    tick_key,
)
from relaydesk.errors import AppError
from relaydesk.events.envelope import Envelope
from relaydesk.jobs import JobContext, job_handler

__all__ = ["absence_check", "cron_tick", "resume_rule", "run_rule"]


def _tenant(ctx: JobContext) -> uuid.UUID:
    if ctx.tenant_id is None:
        raise ValueError(f"job {ctx.job_id} has no tenant")
    return ctx.tenant_id


@job_handler(RUN_JOB)
async def run_rule(ctx: JobContext, payload: dict[str, Any]) -> None:
    envelope = Envelope.from_json(payload["event"])
    rule_id = uuid.UUID(payload["rule_id"])
    await Engine(ctx.db).start(
        _tenant(ctx),
        rule_id,
        envelope,
        f"rule:{rule_id}:{envelope.id}",
        version_id=uuid.UUID(payload["version_id"]) if payload.get("version_id") else None,
    )


@job_handler(RESUME_JOB)
async def resume_rule(ctx: JobContext, payload: dict[str, Any]) -> None:
    await Engine(ctx.db).resume(_tenant(ctx), uuid.UUID(payload["execution_id"]))


@job_handler(CRON_JOB)
async def cron_tick(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Enqueue the next tick (its own commit, so the chain survives this run failing), then
    run the rule for this one, if the rule still wants this tick."""
    tenant_id = _tenant(ctx)
    rule_id = uuid.UUID(payload["rule_id"])
    tick = dt.datetime.fromisoformat(payload["tick"])
    async with ctx.db.job(tenant_id) as session:
        rule = await session.get(Rule, rule_id)
        if rule is None or not rule.enabled or rule.trigger_kind != "cron":
            return  # deleted, disabled or no longer timed: saving it again schedules anew
        version = await session.get(RuleVersion, rule.version_id)
        if version is None:
            return
        try:
            trigger = compiled(version.id, version.definition).trigger
        except AppError:
            return
        if trigger.next_tick(tick - dt.timedelta(minutes=1)) != tick:
            return  # the schedule changed since this tick was planned
        await schedule_tick(session, tenant_id, rule_id, trigger, after=tick)
    envelope = tick_envelope(tenant_id, rule_id, tick)
    await Engine(ctx.db).start(tenant_id, rule_id, envelope, tick_key(rule_id, tick),
                               trigger_kind="cron")  # fmt: skip


@job_handler(ABSENCE_JOB)
async def absence_check(ctx: JobContext, payload: dict[str, Any]) -> None:
    tenant_id = _tenant(ctx)
    async with ctx.db.job(tenant_id) as session:
        watch = await WatchRepository(session).get(uuid.UUID(payload["watch_id"]))
        if watch is None or watch.status == "satisfied":
            return
        watch.status = "fired"
        rule_id, version_id = watch.rule_id, watch.version_id
        envelope = Envelope.from_json(watch.trigger)
    await Engine(ctx.db).start(tenant_id, rule_id, envelope, f"rule:{rule_id}:{envelope.id}",
                               trigger_kind="absence", version_id=version_id)  # fmt: skip
