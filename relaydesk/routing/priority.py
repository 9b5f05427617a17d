"""Priority routing: before a new conversation is assigned, look its customer up in the
connected systems and let the first matching rule set its priority, team and skills.

The ``routing.assign`` job runs :func:`route` in three parts, so that no write transaction
(on SQLite, *the* write lock) stays open while another system answers:

1. read (a read-only session): the conversation — still open, unassigned and not decided
   before — the tenant's enabled rules, their connector instances, the customer and its
   **trusted** identities (the Customer 360 template context: an unverified phone typed into
   a pre-chat form never makes anyone a VIP);
2. evaluate (no session): per rule, in order, the parameters rendered from the customer, the
   action called through the integration hub's pipeline as the rule's own service identity
   (exactly the action's permission: output masked like for any caller without
   ``customers.pii.view``), within the rule's timeout and a total budget; the condition
   (JMESPath over ``{result, customer}``) decides. The first match wins. A failed lookup
   (system down, timeout, breaker open, misconfiguration) never stops routing: the next rule
   is tried and, without a match, the conversation is routed normally;
3. write (one job transaction): the hub's call-log rows and ``connector.action_called``
   audit rows, the conversation's new priority, tags and team (audited as
   ``routing.priority_applied``), the :class:`RoutingDecision` with the reason, then the usual
   assignment. A conversation someone assigned meanwhile keeps its agent and team.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import structlog
from jmespath.exceptions import JMESPathError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.audit import service as audit
from relaydesk.auth.principal import Principal
from relaydesk.automation.runtime import runtime_for
from relaydesk.conversations.models import Conversation
from relaydesk.conversations.schemas import AssignIn, ConversationPatch
from relaydesk.conversations.service import ConversationService
from relaydesk.customer360.caller import PanelCall
from relaydesk.customer360.context import customer_context, render_params
from relaydesk.customers.models import Customer
from relaydesk.customers.repository import IdentityRepository
from relaydesk.errors import ValidationFailed
from relaydesk.integrations.limits import Priority
from relaydesk.integrations.models import ConnectorInstance
from relaydesk.integrations.outcome import PII_VIEW, ActionOutcome, OutcomeError, mask_output
from relaydesk.integrations.pipeline import Execution
from relaydesk.integrations.resilience import ErrorClass, ErrorKind
from relaydesk.integrations.secrets import instance_spec
from relaydesk.integrations.service import IntegrationService
from relaydesk.integrations.spec import ConnectorSpec, action_permission, validate_params
from relaydesk.integrations.spec_models.base import compile_jmespath, jmespath_reason
from relaydesk.kit.db import Database
from relaydesk.kit.ids import uuid7
from relaydesk.kit.masking import detect_and_mask_text
from relaydesk.routing import service
from relaydesk.routing.models import PriorityRule, RoutingDecision
from relaydesk.tenancy.models import Team, Tenant

__all__ = ["BUDGET_SECONDS", "Decision", "route"]

log = structlog.get_logger("relaydesk.routing")

#: a customer is waiting for an agent: the lookups share the interactive bucket
PRIORITY: Priority = "interactive"
#: every rule's lookup together waits at most this long
BUDGET_SECONDS = 10.0


@dataclass
class _Target:
    rule: PriorityRule
    instance: ConnectorInstance
    spec: ConnectorSpec


@dataclass
class _Plan:
    conversation_id: uuid.UUID
    tenant_id: uuid.UUID
    tenant_slug: str
    targets: list[_Target]
    context: dict[str, Any]


@dataclass
class Decision:
    outcome: str = "no_match"  # matched | no_match | failed
    reason: str = ""
    rule: PriorityRule | None = None
    checks: list[dict[str, Any]] = field(default_factory=list)
    #: (the rule's identity, the call) for the call log and audit rows
    calls: list[tuple[Principal, PanelCall]] = field(default_factory=list)
    latency_ms: float = 0.0


def rule_principal(rule: PriorityRule, tenant_slug: str, permission: str) -> Principal:
    """The rule's own service identity: exactly the permission of its action."""
    return Principal(kind="routing_rule", id=rule.id, tenant_id=rule.tenant_id,
                     tenant_slug=tenant_slug, label=f"routing rule {rule.name}"[:200],
                     permissions=frozenset({permission}))  # fmt: skip


def truthy(value: Any) -> bool:
    """JMESPath's truth: false, null and empty strings, lists and objects are false; 0 is true."""
    return value is not None and value is not False and value not in ("", [], {})


async def _plan(db: Database, tenant_id: uuid.UUID, conversation_id: uuid.UUID) -> _Plan | None:
    """What to evaluate, or None (nothing to decide: assign as usual)."""
    async with db.reader(tenant_id) as session:
        conversation = await session.get(Conversation, conversation_id)
        if (conversation is None or conversation.assignee_id is not None
                or conversation.status not in service.ACTIVE):  # fmt: skip
            return None
        decided = await session.scalar(
            select(RoutingDecision.id).where(RoutingDecision.conversation_id == conversation_id)
        )
        if decided is not None:
            return None
        rules = list(await session.scalars(
            select(PriorityRule).where(PriorityRule.enabled.is_(True))
            .order_by(PriorityRule.position, PriorityRule.id)
        ))  # fmt: skip
        if not rules:
            return None
        found = await session.scalars(select(ConnectorInstance).where(
            ConnectorInstance.id.in_({r.instance_id for r in rules})))  # fmt: skip
        instances = {i.id: i for i in found}
        targets = [
            _Target(rule, instances[rule.instance_id], instance_spec(instances[rule.instance_id]))
            for rule in rules if rule.instance_id in instances
        ]  # fmt: skip
        customer = await session.get(Customer, conversation.customer_id)
        identities = await IdentityRepository(session).of_customer(conversation.customer_id)
        tenant = await session.get(Tenant, tenant_id)
        context = customer_context(customer, identities) if customer is not None else {}
        slug = tenant.slug if tenant is not None else ""
    return _Plan(conversation_id, tenant_id, slug, targets, context)


def _timed_out(seconds: float) -> Execution:
    error = OutcomeError(
        cls=ErrorClass.retry.value, kind=ErrorKind.transient.value, code="timeout",
        message=f"no answer within {seconds:g} s (the rule's timeout)",
    )  # fmt: skip
    return Execution(False, dt.datetime.now(dt.UTC), error=error, attempts=1)


class _Caller(IntegrationService):
    """The hub's own pipeline and records, with a timeout (the call needs no session)."""

    async def lookup(
        self, target: _Target, params: dict[str, Any], within: float
    ) -> tuple[Execution, ActionOutcome]:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(within):
                execution = await self.call(target.instance, target.spec, target.rule.action,
                                            params, priority=PRIORITY)  # fmt: skip
        except TimeoutError:
            execution = _timed_out(within)
        data = execution.value
        action = target.spec.action(target.rule.action)
        if execution.ok and action.pii and not self.principal.has(PII_VIEW):
            data = mask_output(data, action.pii)
        outcome = ActionOutcome(
            ok=execution.ok, data=data, error=execution.error, fetched_at=execution.fetched_at,
            cached=execution.cached, stale=execution.stale, sandbox=target.instance.sandbox,
            call_id=uuid7(), latency_ms=round((time.perf_counter() - started) * 1000, 3),
            attempts=execution.attempts,
        )  # fmt: skip
        return execution, outcome


def _check(target: _Target, result: str, reason: str,
           call_id: uuid.UUID | None = None) -> dict[str, Any]:  # fmt: skip
    # a system's error message may echo what it was asked: personal data is masked
    return {"rule_id": str(target.rule.id), "rule": target.rule.name, "result": result,
            "reason": detect_and_mask_text(reason)[:300],
            "call_id": str(call_id) if call_id else None}  # fmt: skip


async def evaluate(db: Database, plan: _Plan) -> Decision:
    """Try the rules in order (see the module docstring); never raises for what systems do."""
    runtime = runtime_for(db)
    decision = Decision()
    started = time.perf_counter()
    answers: dict[str, ActionOutcome] = {}  # one call for rules that ask the same thing
    for target in plan.targets:
        rule, name = target.rule, f"{target.instance.name}.{target.rule.action}"
        left = BUDGET_SECONDS - (time.perf_counter() - started)
        if left <= 0.05:
            decision.checks.append(_check(target, "skipped", f"the lookups' budget of "
                                          f"{BUDGET_SECONDS:g} s was used up"))  # fmt: skip
            continue
        if rule.action not in target.spec.actions:
            decision.checks.append(_check(target, "failed", f"{name}: the action is gone"))
            continue
        if not target.instance.enabled:
            decision.checks.append(_check(target, "failed", f"{name}: the connector instance "
                                          "is disabled"))  # fmt: skip
            continue
        rendered = render_params(rule.params or {}, target.spec, rule.action,
                                 {"customer": plan.context})  # fmt: skip
        if rendered.error is not None:
            decision.checks.append(_check(target, "failed", f"{name}: {rendered.error}"))
            continue
        if rendered.missing:
            missing = ", ".join(rendered.missing)
            decision.checks.append(_check(target, "not_applicable", f"the customer has no "
                                          f"trusted value for {missing}"))  # fmt: skip
            continue
        try:
            params = validate_params(target.spec, rule.action, rendered.params)
        except ValidationFailed as exc:
            bad = {str(d["loc"][1]) for d in exc.details or [] if len(d.get("loc", [])) > 1}
            result = "not_applicable" if bad and bad <= rendered.templated else "failed"
            decision.checks.append(_check(target, result, f"{name}: {exc.message}"))
            continue
        key = json.dumps([str(target.instance.id), rule.action, params], sort_keys=True,
                         default=str)  # fmt: skip
        outcome = answers.get(key)
        if outcome is None:
            principal = rule_principal(rule, plan.tenant_slug,
                                       action_permission(target.spec, rule.action))  # fmt: skip
            caller = _Caller(None, principal, runtime.registry, runtime.keyring)  # type: ignore[arg-type]
            execution, outcome = await caller.lookup(
                target, params, min(rule.timeout_seconds, left)
            )
            answers[key] = outcome
            decision.calls.append((principal, PanelCall(target.instance, target.spec,
                                                        rule.action, params, execution,
                                                        outcome)))  # fmt: skip
        if not outcome.ok:
            error = outcome.error
            why = f"{error.code}: {error.message}" if error is not None else "the call failed"
            decision.checks.append(_check(target, "failed", f"{name}: {why}", outcome.call_id))
            continue
        try:
            value = compile_jmespath(rule.condition).search(
                {"result": outcome.data, "customer": plan.context}
            )
        except JMESPathError as exc:
            decision.checks.append(_check(target, "failed", f"condition: "
                                          f"{jmespath_reason(exc)}", outcome.call_id))  # fmt: skip
            continue
        stale = " (stale answer: the system did not answer)" if outcome.stale else ""
        if truthy(value):
            decision.checks.append(_check(target, "matched", f"{name}: {rule.condition}{stale}",
                                          outcome.call_id))  # fmt: skip
            decision.outcome, decision.rule = "matched", rule
            break
        decision.checks.append(_check(target, "no_match", f"{name}: the condition does not "
                                      f"hold{stale}", outcome.call_id))  # fmt: skip
    decision.latency_ms = round((time.perf_counter() - started) * 1000, 3)
    failed = [c for c in decision.checks if c["result"] in ("failed", "skipped")]
    if decision.rule is not None:
        decision.reason = f"rule {decision.rule.name!r} matched"
    elif failed:
        decision.outcome = "failed"
        decision.reason = ("; ".join(f"{c['rule']}: {c['reason']}" for c in failed)
                           + " — routed normally")[:1000]  # fmt: skip
    else:
        decision.reason = "no rule matched"
    return decision


async def _apply(db: Database, plan: _Plan, decision: Decision) -> None:
    """Record the calls and the decision, change the conversation, then assign it."""
    runtime = runtime_for(db)
    async with db.job(plan.tenant_id) as session:
        for principal, call in decision.calls:
            recorder = IntegrationService(session, principal, runtime.registry, runtime.keyring)
            await recorder.record_call(call.instance, call.spec, call.action_name, call.params,
                                       call.execution, call.outcome, priority=PRIORITY)  # fmt: skip
        conversation = await session.get(Conversation, plan.conversation_id)
        if conversation is None:
            return
        decided = await session.scalar(select(RoutingDecision.id).where(
            RoutingDecision.conversation_id == conversation.id))  # fmt: skip
        if decided is not None:  # another run of this job got there first
            await service.assign(session, conversation)
            return
        rule = decision.rule
        team_id = rule.team_id if rule is not None else None
        if team_id is not None and await session.get(Team, team_id) is None:
            team_id = None  # deleted meanwhile
        if rule is not None:
            await _change(session, conversation, rule, team_id)
        session.add(RoutingDecision(
            tenant_id=plan.tenant_id, conversation_id=conversation.id, outcome=decision.outcome,
            reason=decision.reason, rule_id=rule.id if rule is not None else None,
            priority=rule.priority if rule is not None else None, team_id=team_id,
            skills=list(rule.skills or []) if rule is not None else [],
            checks=decision.checks, latency_ms=decision.latency_ms,
        ))  # fmt: skip
        await session.flush()
        log.info("routing.priority_decided", conversation_id=str(conversation.id),
                 outcome=decision.outcome, rule=rule.name if rule is not None else None,
                 latency_ms=decision.latency_ms)  # fmt: skip
        await service.assign(session, conversation)


async def _change(
    session: AsyncSession, conversation: Conversation, rule: PriorityRule, team: uuid.UUID | None
) -> None:
    conversations = ConversationService(session, service.ROUTER)
    patch: dict[str, Any] = {}
    if rule.priority is not None and rule.priority != conversation.priority:
        patch["priority"] = rule.priority
    tags = sorted({*(conversation.tags or []), *(rule.skills or [])})
    if tags != sorted(conversation.tags or []):
        patch["tags"] = tags
    if patch:
        await conversations.update(conversation.id, ConversationPatch(**patch))
    moved = team is not None and conversation.assignee_id is None and conversation.team_id != team
    if moved:
        await conversations.assign(conversation.id, AssignIn(team_id=team))
    await audit.record(
        session, tenant_id=conversation.tenant_id, action="routing.priority_applied",
        actor=service.ROUTER, target_type="conversation", target_id=conversation.id,
        details={"rule_id": str(rule.id), "rule": rule.name, "priority": conversation.priority,
                 "team_id": str(conversation.team_id) if conversation.team_id else None,
                 "moved": moved, "skills": list(rule.skills or [])},
    )  # fmt: skip


async def route(db: Database, tenant_id: uuid.UUID, conversation_id: uuid.UUID) -> None:
    """The ``routing.assign`` job: priority rules first (when there are any), then assign."""
    plan = await _plan(db, tenant_id, conversation_id)
    if plan is None:
        async with db.job(tenant_id) as session:
            conversation = await session.get(Conversation, conversation_id)
            if conversation is not None:
                await service.assign(session, conversation)
        return
    decision = await evaluate(db, plan)
    await _apply(db, plan, decision)
