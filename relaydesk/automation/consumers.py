"""The rules consumer: from each committed event, the rule jobs it calls for.

``handle`` runs inside the bus's transaction for the event and only touches the database:
it finds the enabled rules whose trigger the event matches (one indexed query; definitions
come from a per-version cache), drops those whose event-only conditions are already false,
refuses loops (recorded as ``refused`` executions), and enqueues one ``rules.run`` job per
remaining rule with the dedupe key ``rule:<rule id>:<event id>``. For absence rules it opens
or closes watches. Conditions that need the customer or a lookup, and every action, run in
the job, outside this transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.automation.conditions import Condition
from relaydesk.automation.definition import CompiledRule, compiled, is_compiled
from relaydesk.automation.engine import loop_refusal
from relaydesk.automation.models import RuleExecution
from relaydesk.automation.repository import (
    RuleRepository,
    VersionRepository,
    WatchRepository,
    matches,
)
from relaydesk.automation.runtime import Limits
from relaydesk.automation.scheduling import RUN_JOB, open_watch
from relaydesk.errors import AppError
from relaydesk.events.consumers import Consumer, register_consumer
from relaydesk.events.envelope import Envelope
from relaydesk.jobs import enqueue, enqueue_many, job_row
from relaydesk.kit.db import utcnow

__all__ = ["CONSUMER", "handle", "handle_batch", "register", "rules_for"]

CONSUMER = "automation.rules"
_EVENT_ONLY = frozenset({"event"})
#: loop protection uses the default limits here (the job checks again with the runtime's)
_LIMITS = Limits()


async def rules_for(
    session: AsyncSession, event_type: str
) -> list[tuple[Any, CompiledRule | None]]:
    """(rule row, compiled current version) of every enabled rule this event concerns; the
    version is None when it no longer compiles (e.g. its action type is not registered)."""
    rows = await RuleRepository(session).triggered_by(event_type)
    if not rows:
        return []
    missing = {row.version_id for row in rows if row.version_id is not None}
    definitions = await VersionRepository(session).definitions(
        [v for v in missing if not is_compiled(v)]
    )
    out: list[tuple[Any, CompiledRule | None]] = []
    for row in rows:
        if row.version_id is None:
            continue
        try:
            out.append((row, compiled(row.version_id, definitions.get(row.version_id) or {})))
        except AppError:
            out.append((row, None))
    return out


def _may_match(condition: Condition | None, event: dict[str, Any]) -> bool:
    if condition is None:
        return True
    return condition.evaluate({"event": event}, _EVENT_ONLY, None) is not False


async def handle(session: AsyncSession, envelope: Envelope) -> None:
    await _handle(session, envelope, await rules_for(session, envelope.type), None)


async def handle_batch(session: AsyncSession, envelopes: Sequence[Envelope]) -> None:
    """``handle`` on each event in turn, with the rules looked up once per event type (the
    batch's transaction writes no rule) and the jobs of the batch enqueued together."""
    found: dict[str, list[tuple[Any, CompiledRule | None]]] = {}
    jobs: list[dict[str, Any]] = []
    for envelope in envelopes:
        candidates = found.get(envelope.type)
        if candidates is None:
            candidates = found[envelope.type] = await rules_for(session, envelope.type)
        await _handle(session, envelope, candidates, jobs)
    await enqueue_many(session, jobs)


async def _handle(
    session: AsyncSession,
    envelope: Envelope,
    candidates: list[tuple[Any, CompiledRule | None]],
    jobs: list[dict[str, Any]] | None,
) -> None:
    """The rules' work for one event; ``jobs`` collects the rule jobs (None: enqueue now)."""
    if not candidates:
        return
    event = envelope.to_json()
    closing = [
        row.id
        for row, rule in candidates
        if rule is not None
        and rule.trigger.kind == "absence"
        and matches(rule.trigger.end_event, envelope.type)
    ]
    if closing:
        await WatchRepository(session).satisfy(closing, envelope.key, envelope.id,
                                               envelope.occurred_at)  # fmt: skip
    for row, rule in candidates:
        if rule is None:  # the job records why the definition cannot run
            if row.trigger_kind == "event" and matches(row.trigger_event, envelope.type):
                await _enqueue(session, row, envelope, event, jobs)
            continue
        if not matches(rule.trigger.event, envelope.type):
            continue
        if not _may_match(rule.condition, event):
            continue
        refusal = loop_refusal(row.id, envelope, _LIMITS.max_depth)
        if refusal is not None:
            _refuse(session, row, envelope, refusal)
            continue
        if rule.trigger.kind == "absence":
            await open_watch(session, row.id, row.version_id, rule.trigger, envelope)
            continue
        await _enqueue(session, row, envelope, event, jobs)


async def _enqueue(
    session: AsyncSession,
    row: Any,
    envelope: Envelope,
    event: dict[str, Any],
    jobs: list[dict[str, Any]] | None,
) -> None:
    payload = {"rule_id": str(row.id), "version_id": str(row.version_id), "event": event}
    key = f"rule:{row.id}:{envelope.id}"
    if jobs is not None:
        jobs.append(job_row(RUN_JOB, payload, tenant_id=envelope.tenant_id, dedupe_key=key))
    else:
        await enqueue(session, RUN_JOB, payload, tenant_id=envelope.tenant_id, dedupe_key=key)


def _refuse(session: AsyncSession, row: Any, envelope: Envelope, reason: str) -> None:
    now = utcnow()
    session.add(RuleExecution(
        tenant_id=envelope.tenant_id, rule_id=row.id, version_id=row.version_id,
        version=row.version,
        dedupe_key=f"rule:{row.id}:{envelope.id}", trigger_kind="event", event_id=envelope.id,
        event_type=envelope.type, depth=envelope.depth, trigger=envelope.to_json(),
        status="refused", reason=reason, started_at=now, finished_at=now,
    ))  # fmt: skip


def register() -> Consumer:
    """Subscribe the rules consumer to every event (idempotent)."""
    return register_consumer(Consumer(CONSUMER, handle, types=("*",), handle_batch=handle_batch))
