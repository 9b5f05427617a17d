"""Evaluating a rule's conditions for one trigger: customer, lookups, condition tree.

Shared by executions and dry runs. Lookups call connectors (read actions only) as the rule's
identity; they are skipped when the conditions are already false without them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.auth.principal import Principal
from relaydesk.automation.actions import ActionFailed
from relaydesk.automation.conditions import CONDITION_ROOTS, Trace
from relaydesk.automation.connector_calls import call_connector, read_session
from relaydesk.automation.context import event_json, resolve_customer
from relaydesk.automation.definition import CompiledRule
from relaydesk.automation.runtime import AutomationRuntime
from relaydesk.events.envelope import Envelope
from relaydesk.integrations.templating import TemplateError, render
from relaydesk.kit.db import Database

__all__ = ["Evaluation", "evaluate"]

_WITHOUT_LOOKUPS = frozenset({"event", "customer"})


@dataclass
class Evaluation:
    matched: bool
    trace: Trace
    customer_id: uuid.UUID | None
    customer: dict[str, Any] | None
    #: name -> {"ok": bool, "data"?, "error"?, "fetched_at"?}
    lookups: dict[str, Any] = field(default_factory=dict)
    #: the first lookup that failed (its message), when one did
    failure: str | None = None

    @property
    def lookup_data(self) -> dict[str, Any]:
        return {name: entry.get("data") for name, entry in self.lookups.items()}


async def evaluate(
    db: Database,
    runtime: AutomationRuntime,
    principal: Principal,
    rule: CompiledRule,
    envelope: Envelope,
    *,
    customer_id: uuid.UUID | None = None,
    session: AsyncSession | None = None,
) -> Evaluation:
    """``session``: a request's unit of work (dry runs); executions pass none."""
    event = event_json(envelope)
    if session is not None:
        found_id, customer = await resolve_customer(session, envelope.payload, principal,
                                                    customer_id)  # fmt: skip
    else:
        async with read_session(db, envelope.tenant_id) as reader:
            found_id, customer = await resolve_customer(reader, envelope.payload, principal,
                                                        customer_id)  # fmt: skip
    context: dict[str, Any] = {"event": event, "customer": customer, "lookup": {}}
    result = Evaluation(True, [], found_id, customer)
    if rule.condition is not None:
        early = rule.condition.evaluate(context, _WITHOUT_LOOKUPS, None)
        if early is False:  # decided without calling anything: record why
            trace: Trace = []
            rule.condition.evaluate(context, _WITHOUT_LOOKUPS, trace)
            result.matched, result.trace = False, trace
            return result
    for lookup in rule.lookups:
        try:
            params = render(lookup.params, {"event": event, "customer": customer})
            outcome = await call_connector(db, runtime, principal, lookup.instance,
                                           lookup.action, params, read_only=True,
                                           session=session)  # fmt: skip
        except (ActionFailed, TemplateError) as exc:
            message = exc.message if isinstance(exc, ActionFailed) else str(exc)
            result.lookups[lookup.name] = {"ok": False, "error": {"message": message}}
            result.failure = result.failure or f"lookup {lookup.name}: {message}"
            continue
        entry: dict[str, Any] = {"ok": outcome.ok, "data": outcome.data,
                                 "fetched_at": outcome.fetched_at.isoformat(),
                                 "stale": outcome.stale}  # fmt: skip
        if outcome.error is not None:
            entry["error"] = outcome.error.model_dump(mode="json", by_alias=True)
            if not outcome.ok:
                result.failure = result.failure or \
                    f"lookup {lookup.name}: {outcome.error.message}"  # fmt: skip
        result.lookups[lookup.name] = entry
    context["lookup"] = result.lookup_data
    if rule.condition is not None:
        trace = []
        result.matched = rule.condition.evaluate(context, CONDITION_ROOTS, trace) is True
        result.trace = trace
    return result
