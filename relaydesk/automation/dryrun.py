"""Dry runs: evaluate a rule (saved or not) against a sample event, without side effects.

The trigger is matched, loop protection applied, the customer resolved, lookups run (they
only read), the conditions evaluated with their values, and each action's parameters
rendered and validated. Actions without side effects (a connector *read*, a delay) run for
real so later actions can use their output; every other action is only described. Nothing
is written except what reading a connector always writes: its call-log and audit rows.
"""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.auth.principal import Principal
from relaydesk.automation.actions import ActionContext, ActionFailed, Wait, action_type
from relaydesk.automation.context import event_json, rule_principal, tick_envelope
from relaydesk.automation.definition import CompiledRule
from relaydesk.automation.engine import loop_refusal
from relaydesk.automation.evaluate import evaluate
from relaydesk.automation.repository import matches
from relaydesk.automation.runtime import AutomationRuntime
from relaydesk.automation.schemas import DryRunAction, DryRunIn, DryRunOut
from relaydesk.errors import ValidationFailed
from relaydesk.events.catalogue import validate_payload
from relaydesk.events.envelope import Envelope
from relaydesk.integrations.templating import TemplateError, render
from relaydesk.kit.db import Database, utcnow
from relaydesk.kit.ids import uuid7

__all__ = ["dry_run"]


def _sample(tenant_id: uuid.UUID, body: DryRunIn, rule_id: uuid.UUID, rule: CompiledRule
            ) -> Envelope:  # fmt: skip
    if body.event is None:
        if rule.trigger.kind == "cron":
            return tick_envelope(tenant_id, rule_id, rule.trigger.next_tick(utcnow()))
        raise ValidationFailed("event: a sample event is required for this trigger",
                               details=[{"loc": ["body", "event"], "msg": "required",
                                         "type": "missing"}])  # fmt: skip
    sample = body.event
    try:
        spec, payload = validate_payload(sample.type, sample.payload)
    except ValidationFailed as exc:
        details = [{**d, "loc": ["body", "event", *d["loc"]]} for d in exc.details or []]
        raise ValidationFailed(exc.message, details=details) from None
    event_id = uuid7()
    key = sample.key or (str(payload.get(spec.key)) if spec.key and payload.get(spec.key)
                         else str(event_id))  # fmt: skip
    return Envelope(id=event_id, tenant_id=tenant_id, type=sample.type, version=spec.version,
                    key=key, payload=payload, occurred_at=utcnow(),
                    source=sample.source or {"kind": "dry_run"}, depth=sample.depth)  # fmt: skip


async def dry_run(
    session: AsyncSession,
    db: Database,
    runtime: AutomationRuntime,
    author: Principal,
    rule: CompiledRule,
    body: DryRunIn,
    *,
    rule_id: uuid.UUID | None = None,
    name: str = "(unsaved rule)",
) -> DryRunOut:
    rule_id = rule_id or uuid.UUID(int=0)
    envelope = _sample(author.tenant_id, body, rule_id, rule)
    notes: list[str] = []
    trigger = rule.trigger
    if trigger.kind == "cron":
        trigger_matches = True
        notes.append(f"a cron rule: evaluated as at its next tick {envelope.payload['tick']}")
    else:
        trigger_matches = matches(trigger.event, envelope.type)
        if trigger.kind == "absence":
            notes.append(f"an absence rule: evaluated as if no {trigger.end_event} with key "
                         f"{envelope.key!r} followed within {trigger.within}")  # fmt: skip
    refused = loop_refusal(rule_id, envelope, runtime.limits.max_depth)
    principal = rule_principal(author.tenant_id, author.tenant_slug, rule_id, name, rule.run_as)
    result = await evaluate(db, runtime, principal, rule, envelope,
                            customer_id=body.customer_id, session=session)  # fmt: skip
    if result.failure:
        notes.append(f"{result.failure} (on_error {rule.on_error.policy} applies)")
    context: dict[str, Any] = {
        "event": event_json(envelope), "customer": result.customer,
        "lookup": result.lookup_data, "steps": {}, "rule": {"id": str(rule_id), "name": name},
        "execution": {"id": "dry-run"}, "now": utcnow().isoformat(),
    }  # fmt: skip
    actions = [await _action(session, db, runtime, principal, rule, i, envelope, context,
                             result.customer_id) for i in range(len(rule.steps))]  # fmt: skip
    if not trigger_matches:
        notes.append(f"a {envelope.type} event does not start this rule (trigger: "
                     f"{trigger.event})")  # fmt: skip
    return DryRunOut(
        trigger_matches=trigger_matches, refused=refused, matched=result.matched,
        conditions=result.trace, customer=result.customer, lookups=result.lookups,
        actions=actions, notes=notes,
    )  # fmt: skip


async def _action(
    session: AsyncSession,
    db: Database,
    runtime: AutomationRuntime,
    principal: Principal,
    rule: CompiledRule,
    index: int,
    envelope: Envelope,
    context: dict[str, Any],
    customer_id: uuid.UUID | None,
) -> DryRunAction:
    step = rule.steps[index]
    kind = action_type(step.type)
    out = DryRunAction(id=step.id, type=step.type, outcome="would_run")
    context["steps"][step.id] = {"status": "would_run", "output": None}
    if kind is None:
        out.outcome, out.error = "invalid", {"code": "unregistered", "message": step.type}
        return out
    try:
        rendered = render(step.params, context)
        params = kind.params_model.model_validate(rendered)
    except (TemplateError, ValidationError) as exc:
        out.outcome = "invalid"
        out.error = {"code": "invalid_params", "message": str(exc).splitlines()[0]}
        return out
    out.params = rendered
    out.description = kind.describe(params) if kind.describe else kind.description
    ctx = ActionContext(
        db=db, tenant_id=principal.tenant_id, principal=principal, runtime=runtime,
        rule_id=principal.id, rule_name=principal.label, execution_id=uuid.UUID(int=0),
        step_id=step.id, trigger=envelope, context=context, idempotency_key="dry-run",
        session=session, dry_run=True, customer_id=customer_id,
    )  # fmt: skip
    if kind.permission and not principal.has(kind.permission):
        out.outcome = "invalid"
        out.error = {"code": "forbidden", "message": f"run_as lacks {kind.permission}"}
        return out
    if not await kind.read_only(ctx, params) or step.type == "delay":
        return out
    try:
        result = await kind.run(ctx, params)
    except ActionFailed as exc:
        out.outcome, out.error = "ran", {"code": exc.code, "message": exc.message}
        context["steps"][step.id] = {"status": "failed", "output": exc.output}
        return out
    output = result.output if isinstance(result, Wait) else result
    out.outcome, out.output = "ran", output
    context["steps"][step.id] = {"status": "succeeded", "output": output}
    return out
