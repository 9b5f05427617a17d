"""A saga's transitions, each inside the caller's transaction: the next step's job, the start
of compensation (reverse order, one job at a time), and the final status with its event.

::

    running ──every step succeeded or skipped──▶ completed
       │ a step was refused / failed / its outcome is unknown
       ▼
    compensating ──every undo done──▶ compensated
                 ──an undo failed, or a step's outcome is unknown──▶ failed (needs a person)
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.auth.principal import Principal
from relaydesk.events.envelope import Envelope
from relaydesk.events.outbox import emit
from relaydesk.integrations.outcome import mask_output, mask_params
from relaydesk.jobs import enqueue
from relaydesk.kit.db import utcnow
from relaydesk.kit.masking import PiiKind
from relaydesk.sagas import events as _events  # noqa: F401 - registers the saga events
from relaydesk.sagas.definition import SagaDocument
from relaydesk.sagas.models import (
    COMPENSATED,
    COMPENSATING,
    COMPLETED,
    FAILED,
    Saga,
    SagaStep,
)

__all__ = [
    "JOB_ATTEMPTS",
    "STEP_JOB",
    "UNDO_JOB",
    "advance",
    "begin_compensation",
    "enqueue_step",
    "fail_step",
    "finish",
    "masked_input",
    "masked_output",
    "next_compensation",
    "starter_principal",
]

STEP_JOB = "saga.step"
UNDO_JOB = "saga.compensate"
#: the job's own limit; steps and undos count their attempts themselves, well below it
JOB_ATTEMPTS = 100


def starter_principal(saga: Saga) -> Principal:
    """Who runs the steps: the starter, with the permissions checked when it started."""
    who = saga.started_by
    return Principal(
        kind=str(who.get("type") or "system"),
        id=uuid.UUID(str(who.get("id") or uuid.UUID(int=0))),
        tenant_id=saga.tenant_id,
        tenant_slug=str(who.get("tenant_slug") or ""),
        label=f"{who.get('label') or 'system'} (saga {saga.definition_name})",
        permissions=frozenset(who.get("permissions") or ()),
        user_id=uuid.UUID(who["user_id"]) if who.get("user_id") else None,
    )


def masked_input(document: SagaDocument, values: dict[str, Any]) -> dict[str, Any]:
    """The input with the fields the definition marks ``pii`` (and personal data found in
    any other text) masked."""
    return mask_params(values, document.input)


def masked_output(step: SagaStep) -> Any:
    pii = {field: PiiKind(kind) for field, kind in (step.pii or {}).items()}
    return mask_output(step.output, pii)


async def enqueue_step(session: AsyncSession, saga: Saga, position: int) -> None:
    await enqueue(
        session, STEP_JOB, {"saga_id": str(saga.id), "position": position},
        tenant_id=saga.tenant_id, dedupe_key=f"saga:{saga.id}:step:{position}",
        max_attempts=JOB_ATTEMPTS,
    )  # fmt: skip


async def _enqueue_undo(session: AsyncSession, saga: Saga, position: int) -> None:
    await enqueue(
        session, UNDO_JOB, {"saga_id": str(saga.id), "position": position},
        tenant_id=saga.tenant_id, dedupe_key=f"saga:{saga.id}:undo:{position}",
        max_attempts=JOB_ATTEMPTS,
    )  # fmt: skip


async def advance(
    session: AsyncSession, saga: Saga, steps: Sequence[SagaStep], position: int
) -> None:
    """Step ``position`` is done (succeeded or skipped): run the next one, or complete."""
    following = position + 1
    if following < len(steps):
        saga.current_step = following
        await enqueue_step(session, saga, following)
    else:
        await finish(session, saga, steps, COMPLETED)


async def fail_step(
    session: AsyncSession,
    saga: Saga,
    steps: Sequence[SagaStep],
    step: SagaStep,
    code: str | None,
    message: str,
    *,
    status: str = "failed",
    attention: str | None = None,
) -> None:
    """The step failed (or its outcome is unknown): record why and start compensating."""
    step.status = status
    step.error = {"code": code, "message": message}
    step.finished_at = utcnow()
    if attention:
        step.attention = attention
    await begin_compensation(session, saga, steps, step, code, message)


async def begin_compensation(
    session: AsyncSession,
    saga: Saga,
    steps: Sequence[SagaStep],
    failed: SagaStep,
    code: str | None,
    message: str,
) -> None:
    saga.status = COMPENSATING
    saga.error = {"step": failed.name, "code": code, "message": message}
    for step in steps:
        if step.position > failed.position and step.status == "pending":
            step.status = "cancelled"
        if step.status == "succeeded" and step.compensation_action:
            step.compensation_status = "pending"
        elif step.compensation_status == "none" and step.position <= failed.position:
            step.compensation_status = "skipped"
    await next_compensation(session, saga, steps)


async def next_compensation(session: AsyncSession, saga: Saga, steps: Sequence[SagaStep]) -> None:
    """Undo the latest step still to undo (reverse order), or finish the rollback."""
    waiting = [s for s in steps if s.compensation_status in ("pending", "running")]
    if waiting:
        latest = max(waiting, key=lambda s: s.position)
        saga.current_step = latest.position
        await _enqueue_undo(session, saga, latest.position)
        return
    broken = any(s.compensation_status == "failed" or s.status == "unknown" for s in steps)
    await finish(session, saga, steps, FAILED if broken else COMPENSATED)


async def finish(session: AsyncSession, saga: Saga, steps: Sequence[SagaStep], status: str) -> None:
    """The final status and its event (``saga.<status>``), in this transaction."""
    saga.status = status
    saga.finished_at = utcnow()
    document = SagaDocument.model_validate(saga.document)
    who = saga.started_by
    payload = {
        "saga_id": str(saga.id),
        "definition": saga.definition_name,
        "definition_version": saga.definition_version,
        "status": status,
        "input": masked_input(document, dict(saga.input or {})),
        "started_by": {"type": who.get("type") or "system", "id": who.get("id"),
                       "label": who.get("label")},
        "error": saga.error,
        "attention": [s.attention for s in steps if s.attention],
        "steps": [
            {"name": s.name, "instance": s.instance, "action": s.action, "status": s.status,
             "compensation": s.compensation_status, "output": masked_output(s)}
            for s in steps
        ],
    }  # fmt: skip
    await emit(
        session, f"saga.{status}", payload, tenant_id=saga.tenant_id, key=str(saga.id),
        source={"kind": "saga", "saga_id": str(saga.id), "definition": saga.definition_name},
        cause=_cause(saga),
    )  # fmt: skip


def _cause(saga: Saga) -> Envelope | None:
    """The event that started the saga (a rule's trigger), so that its final event counts one
    automation hop more (loop protection) and keeps the correlation id."""
    cause = saga.started_by.get("cause")
    if not cause:
        return None
    return Envelope(
        id=uuid.UUID(cause["id"]), tenant_id=saga.tenant_id, type=str(cause.get("type") or ""),
        version=1, key=str(saga.id), payload={}, occurred_at=saga.created_at,
        source={}, causation_id=None, correlation_id=cause.get("correlation_id"),
        depth=int(cause.get("depth") or 0),
    )  # fmt: skip
