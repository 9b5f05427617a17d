"""How a saga step's or undo's answer is judged, and the pieces the runner's phases share:
the compensation of a step, the plan of one call, loading a saga locked for update."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.errors import AppError
from relaydesk.integrations.outcome import OutcomeError
from relaydesk.integrations.spec import ConnectorSpec
from relaydesk.jobs.runner import backoff
from relaydesk.sagas.calls import PreparedCall, StepCaller
from relaydesk.sagas.definition import CompensationDef, StepDef
from relaydesk.sagas.models import Saga, SagaStep
from relaydesk.sagas.repository import SagaRepository

__all__ = [
    "NOT_SENT",
    "RETRY_BASE_SECONDS",
    "UNDO_ATTEMPTS",
    "VERIFY_ATTEMPTS",
    "Compensation",
    "Plan",
    "compensation_for",
    "delay",
    "error_of",
    "judge",
    "load",
    "message_of",
]

#: first retry delay of a step or undo (doubles each attempt, with jitter, up to a minute)
RETRY_BASE_SECONDS = 2.0
#: calls an undo gets before it is given up (it must try hard: the rollback depends on it)
UNDO_ATTEMPTS = 8
#: extra runs a verify gets beyond the step's max_attempts
VERIFY_ATTEMPTS = 3
#: errors that prove the request never reached the system
NOT_SENT = frozenset({"circuit_open", "local_rate_limit"})


def judge(error: OutcomeError | None, safe: bool) -> str:
    """``retry`` (send again), ``unknown`` (it may have happened) or ``refused``."""
    if error is None:
        return "refused"
    if error.code in NOT_SENT or error.cls in ("rate_limited", "refresh_token"):
        return "retry"
    if error.cls == "retry":
        return "retry" if safe else "unknown"
    if error.kind == "system" and not safe:
        return "unknown"  # it answered, but the answer could not be read
    return "refused"


def delay(error: OutcomeError | None, attempt: int) -> float:
    wait = backoff(attempt, base=RETRY_BASE_SECONDS, cap=60.0)
    if error is not None and error.retry_after:
        wait = max(wait, error.retry_after)
    return wait


def error_of(error: OutcomeError | None) -> dict[str, Any]:
    if error is None:
        return {"code": "failed", "message": "the call failed"}
    return {"class": error.cls, "kind": error.kind, "code": error.code,
            "message": error.message, "status": error.status}  # fmt: skip


@dataclass
class Compensation:
    instance: str
    action: str
    params: dict[str, Any]
    done_codes: list[str] = field(default_factory=list)
    from_spec: bool = False

    @property
    def label(self) -> str:
        return f"{self.instance}.{self.action}"


def compensation_for(step: StepDef, spec: ConnectorSpec) -> Compensation | None:
    """The step's own compensation, else its action's ``compensate`` in the spec, else none."""
    if step.compensate == "none":
        return None
    if isinstance(step.compensate, CompensationDef):
        c = step.compensate
        return Compensation(c.instance or step.instance, c.action, c.params, list(c.done_codes))
    declared = spec.action(step.action).compensate
    if declared is None:
        return None
    return Compensation(step.instance, declared.action, declared.params, from_spec=True)


@dataclass
class Plan:
    saga_id: uuid.UUID
    position: int
    attempt: int
    caller: StepCaller
    call: PreparedCall
    step: StepDef
    verify_match: dict[str, str] | None = None
    done_codes: list[str] = field(default_factory=list)


async def load(session: AsyncSession, saga_id: uuid.UUID) -> tuple[Saga, list[SagaStep]] | None:
    repo = SagaRepository(session)
    saga = await repo.for_update(saga_id)
    if saga is None:
        return None
    return saga, await repo.steps(saga_id)


def message_of(exc: Exception) -> tuple[str, str]:
    if isinstance(exc, AppError):
        return exc.code, exc.message
    return "template_failed", str(exc)
