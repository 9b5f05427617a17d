"""Compensations: one job per step to undo (``saga.compensate``), newest step first.

Same three phases as a step (plan and mark in flight, call with no transaction open, record
with the outcome). A compensation recorded ``done`` never runs again; one that was in flight
when its worker died is sent again, and an error code in the step's ``done_codes`` (the
system's "already undone") counts as done. Transient failures are retried up to
:data:`~relaydesk.sagas.policy.UNDO_ATTEMPTS` calls; a refused undo is recorded ``failed``
with a note for a person, and the remaining undos still run.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.errors import AppError
from relaydesk.integrations.outcome import ActionOutcome
from relaydesk.integrations.pipeline import Execution
from relaydesk.integrations.templating import TemplateError, render
from relaydesk.jobs import JobContext, RetryLater
from relaydesk.kit.db import utcnow
from relaydesk.sagas import policy
from relaydesk.sagas.calls import SagaRuntime, StepCaller, runtime_for
from relaydesk.sagas.context import compensation_context, step_context
from relaydesk.sagas.definition import SagaDocument
from relaydesk.sagas.models import COMPENSATING, Saga, SagaStep
from relaydesk.sagas.policy import Plan, compensation_for, error_of, judge, load, message_of
from relaydesk.sagas.state import next_compensation, starter_principal

__all__ = ["run_undo"]


async def _plan_undo(
    session: AsyncSession, rt: SagaRuntime, saga_id: uuid.UUID, position: int
) -> Plan | None:
    loaded = await load(session, saga_id)
    if loaded is None:
        return None
    saga, steps = loaded
    step = steps[position]
    if saga.status != COMPENSATING or step.compensation_status not in ("pending", "running"):
        return None
    sdef = SagaDocument.model_validate(saga.document).steps[position]
    caller = StepCaller(session, starter_principal(saga), rt.registry, rt.keyring)
    try:
        instance = await caller.instances.find(sdef.instance)
        spec = caller.instances.spec_of(instance)
        compensation = compensation_for(sdef, spec)
        if compensation is None:
            raise TemplateError(f"{step.name} has no compensation any more")
        try:
            params = render(sdef.params, step_context(saga, steps, position))
        except TemplateError:
            params = {}
        context = compensation_context(saga, steps, step, params)
        if compensation.from_spec:
            context["config"] = caller.instances.config_of(instance)
            context["now"] = utcnow().isoformat()
        rendered = render(compensation.params, context)
        call = await caller.prepare(compensation.instance, compensation.action, rendered)
    except (AppError, TemplateError) as exc:
        code, message = message_of(exc)
        await _undo_failed(session, saga, steps, step, code, message)
        return None
    if step.compensation_attempts >= policy.UNDO_ATTEMPTS:
        last = (step.compensation_error or {}).get("message") or "no attempts left"
        await _undo_failed(session, saga, steps, step, "attempts_exhausted", str(last))
        return None
    step.compensation_attempts += 1
    step.compensation_status = "running"
    step.compensation_action = compensation.label
    step.compensation_params = call.shown_params()
    return Plan(saga_id, position, step.compensation_attempts, caller, call, sdef,
                done_codes=compensation.done_codes)  # fmt: skip


async def _undo_failed(
    session: AsyncSession, saga: Saga, steps: list[SagaStep], step: SagaStep, code: str | None,
    message: str,
) -> None:  # fmt: skip
    step.compensation_status = "failed"
    step.compensation_error = {"code": code, "message": message}
    step.attention = (f"{step.name}: could not undo {step.instance}.{step.action} "
                      f"({message}); undo it by hand in {step.instance}")  # fmt: skip
    await next_compensation(session, saga, steps)


async def _settle_undo(
    session: AsyncSession, rt: SagaRuntime, plan: Plan, execution: Execution,
    outcome: ActionOutcome,
) -> float | None:  # fmt: skip
    recorder = StepCaller(session, plan.caller.principal, rt.registry, rt.keyring)
    call_id = await recorder.record(plan.call, execution, outcome)
    loaded = await load(session, plan.saga_id)
    if loaded is None:
        return None
    saga, steps = loaded
    step = steps[plan.position]
    if (
        saga.status != COMPENSATING
        or step.compensation_status not in ("pending", "running")
        or step.compensation_attempts != plan.attempt
    ):
        return None
    error = outcome.error
    step.compensation_call_id = call_id
    if outcome.ok or (error is not None and error.code in plan.done_codes):
        step.compensation_status, step.compensation_error = "done", None
        step.compensated_at = utcnow()
        await next_compensation(session, saga, steps)
        return None
    step.compensation_error = error_of(error)
    transient = judge(error, True) == "retry"
    if transient and step.compensation_attempts < policy.UNDO_ATTEMPTS:
        step.compensation_status = "pending"
        return policy.delay(error, step.compensation_attempts)
    await _undo_failed(session, saga, steps, step, error.code if error else None,
                       error.message if error else "the call failed")  # fmt: skip
    return None


async def run_undo(ctx: JobContext, saga_id: uuid.UUID, position: int) -> None:
    rt = runtime_for(ctx.db)
    async with ctx.db.job(ctx.tenant_id) as session:
        plan = await _plan_undo(session, rt, saga_id, position)
    if plan is None:
        return
    execution, outcome = await plan.caller.execute(plan.call)
    async with ctx.db.job(ctx.tenant_id) as session:
        delay = await _settle_undo(session, rt, plan, execution, outcome)
    if delay is not None:
        raise RetryLater(delay, f"saga undo of {plan.step.name}: run again")
