"""The saga runner: one durable job per step (``saga.step``) and per undo (``saga.compensate``).

Each job runs in three phases (see :mod:`relaydesk.sagas.calls`): plan in a short
transaction (which marks the call *in flight*: status ``running``), call the system with no
transaction open, then record the call and the outcome, and enqueue what comes next, in one
transaction. Jobs are at least once, so every phase first checks that the saga is still
where the job expects it: a job that runs again after its work was recorded does nothing.

A worker that dies during the call leaves the step ``running``; its job's lease expires and
another worker runs it again. What happens then depends on the action (its spec's ``effect``
and ``idempotent``):

* a read, or an idempotent write (the system de-duplicates, e.g. by ``out_refund_no`` sent
  as ``{{ saga.step_key }}``): sent again;
* a non-idempotent write: its outcome is *unknown*. With ``verify``, a read action looks for
  the record the write would have made: found, it is the step's output; not found, the step
  is sent again. Without, ``on_unknown: compensate`` (default) marks the step ``unknown``,
  undoes the earlier steps and ends ``failed`` with a note for a person; ``on_unknown:
  retry`` sends it again (accepting a possible duplicate).

The same rules apply to answers that leave the outcome open (timeouts, 5xx, an answer that
cannot be read). A refused write (a business error such as ``refund_needs_review``) fails
the step and starts compensation. Compensations run in reverse order, one job each; one
recorded ``done`` never runs again, and ``done_codes`` make a repeated undo whose first
attempt did reach the system count as done.
"""

from __future__ import annotations

import uuid
from typing import Any

import jmespath.exceptions
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.errors import AppError
from relaydesk.integrations.outcome import ActionOutcome
from relaydesk.integrations.pipeline import Execution
from relaydesk.integrations.spec_models.base import compile_jmespath
from relaydesk.integrations.templating import TemplateError, render, to_text
from relaydesk.jobs import JobContext, RetryLater, job_handler
from relaydesk.kit.db import utcnow
from relaydesk.sagas import policy
from relaydesk.sagas.calls import SagaRuntime, StepCaller, runtime_for
from relaydesk.sagas.context import evaluate_when, step_context
from relaydesk.sagas.definition import SagaDocument
from relaydesk.sagas.models import COMPENSATING, FAILED, RUNNING, Saga, SagaStep
from relaydesk.sagas.policy import Plan, compensation_for, error_of, judge, load, message_of
from relaydesk.sagas.state import STEP_JOB, UNDO_JOB, advance, fail_step, finish, starter_principal
from relaydesk.sagas.undo import run_undo

__all__ = ["run_step_job", "run_undo_job"]

log = structlog.get_logger("relaydesk.sagas")


# --- forward steps ---------------------------------------------------------------------------


async def _plan_step(
    session: AsyncSession, rt: SagaRuntime, saga_id: uuid.UUID, position: int
) -> Plan | None:
    loaded = await load(session, saga_id)
    if loaded is None:
        return None
    saga, steps = loaded
    if saga.status != RUNNING or saga.current_step != position:
        return None
    step = steps[position]
    if step.status not in ("pending", "running"):
        return None
    sdef = SagaDocument.model_validate(saga.document).steps[position]
    context = step_context(saga, steps, position)
    caller = StepCaller(session, starter_principal(saga), rt.registry, rt.keyring)
    in_doubt = step.status == "running"
    try:
        if sdef.when is not None and not evaluate_when(sdef.when, context):
            step.status, step.finished_at = "skipped", utcnow()
            await advance(session, saga, steps, position)
            return None
        call = await caller.prepare(sdef.instance, sdef.action, render(sdef.params, context))
        match = None
        if in_doubt and not call.safe_to_repeat and sdef.verify is not None:
            match = {k: to_text(render(v, context)) for k, v in sdef.verify.match.items()}
            verify = render(sdef.verify.params, context)
            call = await caller.prepare(sdef.instance, sdef.verify.action, verify)
    except (AppError, TemplateError) as exc:
        code, message = message_of(exc)
        await fail_step(session, saga, steps, step, code, message)
        return None
    if in_doubt and not call.safe_to_repeat and match is None and sdef.on_unknown == "compensate":
        await _unknown(session, saga, steps, step, "the worker stopped during the call")
        return None
    limit = sdef.max_attempts + (policy.VERIFY_ATTEMPTS if match is not None else 0)
    if step.attempts >= limit:
        if match is not None or (in_doubt and not call.safe_to_repeat):
            await _unknown(session, saga, steps, step, "no attempts left to find out")
        else:
            last = (step.error or {}).get("message") or "no attempts left"
            await fail_step(session, saga, steps, step, "attempts_exhausted", str(last))
        return None
    step.attempts += 1
    if match is None:
        step.status = "running"  # in flight: a crash from here on leaves the outcome open
        step.params = call.shown_params()
        step.started_at = step.started_at or utcnow()
    return Plan(saga_id, position, step.attempts, caller, call, sdef, verify_match=match)


async def _unknown(
    session: AsyncSession, saga: Saga, steps: list[SagaStep], step: SagaStep, why: str
) -> None:
    note = (f"{step.name}: the outcome of {step.instance}.{step.action} is unknown ({why}); "
            f"check {step.instance} by hand")  # fmt: skip
    await fail_step(session, saga, steps, step, "outcome_unknown",
                    f"{step.instance}.{step.action}: outcome unknown ({why})",
                    status="unknown", attention=note)  # fmt: skip


def _find(data: Any, match: dict[str, str]) -> Any:
    records = data if isinstance(data, list) else [data]
    for record in records:
        if not isinstance(record, dict):
            continue
        try:
            found = all(
                expected in to_text(compile_jmespath(path).search(record))
                for path, expected in match.items()
            )
        except jmespath.exceptions.JMESPathError:
            return None
        if found:
            return record
    return None


async def _succeed(
    session: AsyncSession, saga: Saga, steps: list[SagaStep], step: SagaStep, plan: Plan,
    output: Any, call_id: uuid.UUID,
) -> None:  # fmt: skip
    step.status, step.output, step.error = "succeeded", output, None
    # the output's personal fields, by the action that produced it (the verify action's, for
    # a record found by verify)
    step.pii = {name: str(kind) for name, kind in plan.call.action.pii.items()}
    step.call_id, step.finished_at = call_id, utcnow()
    compensation = compensation_for(plan.step, plan.call.spec)
    step.compensation_action = compensation.label if compensation else None
    await advance(session, saga, steps, step.position)


async def _settle_step(
    session: AsyncSession, rt: SagaRuntime, plan: Plan, execution: Execution,
    outcome: ActionOutcome,
) -> float | None:  # fmt: skip
    """Record the call and what it means; returns a delay when the step should run again."""
    recorder = StepCaller(session, plan.caller.principal, rt.registry, rt.keyring)
    call_id = await recorder.record(plan.call, execution, outcome)
    loaded = await load(session, plan.saga_id)
    if loaded is None:
        return None
    saga, steps = loaded
    step = steps[plan.position]
    if (
        saga.status != RUNNING
        or saga.current_step != plan.position
        or step.status not in ("pending", "running")
        or step.attempts != plan.attempt
    ):
        return None  # another worker took over meanwhile; the call itself is recorded
    error = outcome.error
    if plan.verify_match is not None:
        if not outcome.ok:
            step.error = error_of(error)
            return policy.delay(error, step.attempts)
        found = _find(outcome.data, plan.verify_match)
        if found is None:  # the write did not happen: send it again now
            step.status = "pending"
            return 0.0
        await _succeed(session, saga, steps, step, plan, found, call_id)
        return None
    if outcome.ok:
        await _succeed(session, saga, steps, step, plan, outcome.data, call_id)
        return None
    step.error, step.call_id = error_of(error), call_id
    verdict = judge(error, plan.call.safe_to_repeat)
    more = step.attempts < plan.step.max_attempts
    if verdict == "retry" and more:
        step.status = "pending"
        return policy.delay(error, step.attempts)
    if verdict == "unknown":
        if plan.step.verify is not None:
            return policy.delay(error, step.attempts)  # stays in doubt: the next run verifies
        if plan.step.on_unknown == "retry" and more:
            step.status = "pending"
            return policy.delay(error, step.attempts)
        reason = error.message if error is not None else "no answer"
        await _unknown(session, saga, steps, step, reason)
        return None
    code = error.code if error is not None else "failed"
    message = error.message if error is not None else "the call failed"
    await fail_step(session, saga, steps, step, code, message)
    return None


async def _run_step(ctx: JobContext, saga_id: uuid.UUID, position: int) -> None:
    rt = runtime_for(ctx.db)
    async with ctx.db.job(ctx.tenant_id) as session:
        plan = await _plan_step(session, rt, saga_id, position)
    if plan is None:
        return
    execution, outcome = await plan.caller.execute(plan.call)
    async with ctx.db.job(ctx.tenant_id) as session:
        delay = await _settle_step(session, rt, plan, execution, outcome)
    if delay is not None:
        raise RetryLater(delay, f"saga step {plan.step.name}: run again")


# --- the job handlers ------------------------------------------------------------------------


async def _give_up(ctx: JobContext, saga_id: uuid.UUID, reason: str) -> None:
    """The job's last attempt failed: end the saga as failed instead of leaving it hanging."""
    async with ctx.db.job(ctx.tenant_id) as session:
        loaded = await load(session, saga_id)
        if loaded is None or loaded[0].status not in (RUNNING, COMPENSATING):
            return
        saga, steps = loaded
        step = steps[min(saga.current_step, len(steps) - 1)]
        step.attention = f"{step.name}: the saga's job gave up ({reason[:300]}); check by hand"
        await finish(session, saga, steps, FAILED)


async def _guarded(ctx: JobContext, payload: dict[str, Any], undo: bool) -> None:
    saga_id, position = uuid.UUID(str(payload["saga_id"])), int(payload["position"])
    try:
        if undo:
            await run_undo(ctx, saga_id, position)
        else:
            await _run_step(ctx, saga_id, position)
    except Exception as exc:
        if ctx.attempt >= ctx.max_attempts:
            log.warning("saga.job_gave_up", saga_id=str(saga_id), position=position)
            await _give_up(ctx, saga_id, str(exc) or type(exc).__name__)
        raise


@job_handler(STEP_JOB)
async def run_step_job(ctx: JobContext, payload: dict[str, Any]) -> None:
    await _guarded(ctx, payload, undo=False)


@job_handler(UNDO_JOB)
async def run_undo_job(ctx: JobContext, payload: dict[str, Any]) -> None:
    await _guarded(ctx, payload, undo=True)
