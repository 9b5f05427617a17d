"""Running a rule for one trigger: the execution's state machine.

``start`` creates the :class:`RuleExecution` for a trigger (or finds the one a previous
delivery created: the dedupe key is unique), after the loop and rate checks. ``run`` then
evaluates the conditions (once: the result is stored) and runs the actions from
``next_step`` on, recording each one. A job that dies is run again and resumes after the
last recorded step (see :mod:`relaydesk.automation.actions` for what is repeated and what is
not). ``delay`` and retries suspend the execution (``waiting``) and enqueue ``rules.resume``.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass
from typing import Any

import structlog

from relaydesk.automation.connector_calls import read_session
from relaydesk.automation.context import event_json, resolve_customer, rule_principal
from relaydesk.automation.definition import CompiledRule, compiled
from relaydesk.automation.evaluate import evaluate
from relaydesk.automation.models import Rule, RuleExecution, RuleVersion
from relaydesk.automation.records import bounded, close
from relaydesk.automation.repository import ExecutionRepository, RuleRepository
from relaydesk.automation.runtime import AutomationRuntime, runtime_for
from relaydesk.automation.scheduling import RESUME_JOB
from relaydesk.automation.steps import StepRunner
from relaydesk.errors import AppError
from relaydesk.events.envelope import Envelope
from relaydesk.jobs import enqueue
from relaydesk.kit.db import Database, utcnow
from relaydesk.tenancy.models import Tenant

__all__ = ["Engine", "loop_refusal"]

log = structlog.get_logger("relaydesk.automation")
ACTIVE = ("pending", "running")


def loop_refusal(rule_id: uuid.UUID, envelope: Envelope, max_depth: int) -> str | None:
    """Why this event may not trigger this rule (loop protection), or None."""
    if envelope.depth >= max_depth:
        return (f"loop protection: the event is {envelope.depth} automation hops deep "
                f"(at most {max_depth - 1} may trigger rules)")  # fmt: skip
    source = envelope.source or {}
    if source.get("kind") == "rule" and str(rule_id) in (source.get("chain") or []):
        return "loop protection: the event was caused by this rule (a rule never re-triggers " \
            "itself through its own events)"  # fmt: skip
    return None


@dataclass
class _Loaded:
    execution: RuleExecution
    rule: Rule
    version: RuleVersion
    slug: str


class Engine:
    def __init__(self, db: Database, runtime: AutomationRuntime | None = None) -> None:
        self.db = db
        self.runtime = runtime or runtime_for(db)

    # --- creating ------------------------------------------------------------------------

    async def start(
        self,
        tenant_id: uuid.UUID,
        rule_id: uuid.UUID,
        envelope: Envelope,
        dedupe_key: str,
        *,
        trigger_kind: str = "event",
        version_id: uuid.UUID | None = None,
    ) -> uuid.UUID | None:
        """Create (or find) the execution of this trigger, then run it; returns its id."""
        async with self.db.job(tenant_id) as session:
            existing = await ExecutionRepository(session).by_key(dedupe_key)
            if existing is not None:
                if existing.status not in ACTIVE:
                    return existing.id  # finished, refused, or waiting for its resume job
                execution_id = existing.id
            else:
                created = await self._create(session, tenant_id, rule_id, envelope, dedupe_key,
                                             trigger_kind, version_id)  # fmt: skip
                if created is None or created.status not in ACTIVE:
                    return created.id if created is not None else None
                execution_id = created.id
        await self.run(tenant_id, execution_id)
        return execution_id

    async def _create(
        self,
        session: Any,
        tenant_id: uuid.UUID,
        rule_id: uuid.UUID,
        envelope: Envelope,
        dedupe_key: str,
        trigger_kind: str,
        version_id: uuid.UUID | None,
    ) -> RuleExecution | None:
        rule = await RuleRepository(session).get(rule_id)
        if rule is None or not rule.enabled:
            return None  # deleted or disabled since the trigger: nothing to do
        version = await session.get(RuleVersion, version_id or rule.version_id)
        if version is None or version.rule_id != rule.id:
            return None
        execution = RuleExecution(
            tenant_id=tenant_id, rule_id=rule.id, version_id=version.id, version=version.number,
            dedupe_key=dedupe_key, trigger_kind=trigger_kind,
            event_id=envelope.id if trigger_kind != "cron" else None,
            event_type=envelope.type, depth=envelope.depth, trigger=envelope.to_json(),
            status="running", started_at=utcnow(),
        )  # fmt: skip
        try:
            rule_def = compiled(version.id, version.definition)
        except AppError as exc:
            execution.status, execution.reason = "failed", f"invalid definition: {exc.message}"
        else:
            execution.steps = [{"id": s.id, "type": s.type, "status": "pending", "attempts": 0}
                               for s in rule_def.steps]  # fmt: skip
            limits = self.runtime.limits
            refusal = loop_refusal(rule.id, envelope, limits.max_depth)
            if refusal is not None:
                execution.status, execution.reason = "refused", refusal
            elif (why := await self._rate_limited(session, tenant_id)) is not None:
                execution.status, execution.reason = "rate_limited", why
        if execution.status != "running":
            execution.finished_at = utcnow()
            log.info("rule.not_run", rule=str(rule.id), status=execution.status,
                     reason=execution.reason)  # fmt: skip
        session.add(execution)
        await session.flush()
        return execution

    async def _rate_limited(self, session: Any, tenant_id: uuid.UUID) -> str | None:
        tenant = await session.get(Tenant, tenant_id)
        settings = (tenant.settings or {}).get("automation", {}) if tenant else {}
        limit = int(settings.get("executions_per_minute") or
                    self.runtime.limits.executions_per_minute)  # fmt: skip
        decision = await self.runtime.rate_limiter.hit(f"automation:{tenant_id}", limit, 60)
        if decision.allowed:
            return None
        return f"the organisation's limit of {limit} rule executions per minute was reached"

    # --- running -------------------------------------------------------------------------

    async def _load(self, session: Any, execution_id: uuid.UUID) -> _Loaded | None:
        execution = await ExecutionRepository(session).get(execution_id)
        if execution is None:
            return None
        rule = await session.get(Rule, execution.rule_id)
        version = await session.get(RuleVersion, execution.version_id)
        tenant = await session.get(Tenant, execution.tenant_id)
        if rule is None or version is None or tenant is None:
            return None
        return _Loaded(execution, rule, version, tenant.slug)

    async def resume(self, tenant_id: uuid.UUID, execution_id: uuid.UUID) -> None:
        """Continue a waiting execution (after a delay or before a retry)."""
        async with self.db.job(tenant_id) as session:
            execution = await ExecutionRepository(session).get(execution_id)
            if execution is None or execution.status != "waiting":
                return
            execution.status = "running"
        await self.run(tenant_id, execution_id)

    async def run(self, tenant_id: uuid.UUID, execution_id: uuid.UUID) -> None:
        async with self.db.job(tenant_id) as session:
            loaded = await self._load(session, execution_id)
        if loaded is None or loaded.execution.status not in ACTIVE:
            return
        execution, rule = loaded.execution, loaded.rule
        try:
            rule_def = compiled(loaded.version.id, loaded.version.definition)
        except AppError as exc:
            await self._finish(tenant_id, execution_id, "failed",
                               f"invalid definition: {exc.message}")  # fmt: skip
            return
        principal = rule_principal(tenant_id, loaded.slug, rule.id, rule.name, rule_def.run_as)
        envelope = Envelope.from_json(execution.trigger)
        if execution.matched is None:
            ready = await self._evaluate(tenant_id, execution, rule_def, principal, envelope)
            if ready is None:
                return
            customer_id, customer, lookups = ready
        else:
            customer_id = execution.customer_id
            customer = None
            if customer_id is not None:
                async with read_session(self.db, tenant_id) as session:
                    _, customer = await resolve_customer(session, {}, principal, customer_id)
            lookups = {name: entry.get("data") for name, entry in execution.lookups.items()}
        steps = StepRunner(self, tenant_id, execution_id, rule, rule_def, principal, envelope,
                       customer_id, {"event": event_json(envelope), "customer": customer,
                                     "lookup": lookups})  # fmt: skip
        await steps.run(execution.next_step, copy.deepcopy(execution.steps))

    async def _evaluate(
        self,
        tenant_id: uuid.UUID,
        execution: RuleExecution,
        rule_def: CompiledRule,
        principal: Any,
        envelope: Envelope,
    ) -> tuple[uuid.UUID | None, dict[str, Any] | None, dict[str, Any]] | None:
        result = await evaluate(self.db, self.runtime, principal, rule_def, envelope)
        policy = rule_def.on_error
        async with self.db.job(tenant_id) as session:
            row = await ExecutionRepository(session).get(execution.id)
            assert row is not None
            row.evaluations = (row.evaluations or 0) + 1
            row.conditions, row.lookups = result.trace, bounded(result.lookups)
            row.customer_id = result.customer_id
            if result.failure and policy.policy != "continue":
                if policy.policy == "retry" and row.evaluations < policy.max_attempts:
                    await self._suspend(session, row, self._backoff(row.evaluations),
                                        f"eval:{row.evaluations}", result.failure)  # fmt: skip
                    return None
                if not (policy.policy == "retry" and policy.then == "continue"):
                    close(row, "failed", result.failure)
                    return None
            row.matched = result.matched
            if not result.matched:
                close(row, "not_matched", "the conditions are not met")
                return None
        return result.customer_id, result.customer, result.lookup_data

    # --- bookkeeping ---------------------------------------------------------------------

    def _backoff(self, attempt: int) -> float:
        return float(self.runtime.limits.retry_base_seconds * 2 ** max(0, attempt - 1))

    async def _suspend(
        self, session: Any, row: RuleExecution, seconds: float, tag: str, reason: str | None
    ) -> None:
        row.status = "waiting"
        row.reason = reason
        await enqueue(session, RESUME_JOB, {"execution_id": str(row.id)},
                      tenant_id=row.tenant_id, delay=max(seconds, 0.0),
                      dedupe_key=f"rule-exec:{row.id}:{tag}")  # fmt: skip

    async def _finish(self, tenant_id: uuid.UUID, execution_id: uuid.UUID, status: str,
                      reason: str | None) -> None:  # fmt: skip
        async with self.db.job(tenant_id) as session:
            row = await ExecutionRepository(session).get(execution_id)
            if row is not None:
                close(row, status, reason)
