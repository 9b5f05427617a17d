"""The action loop of one execution: each action rendered, checked, run and recorded.

See :mod:`relaydesk.automation.engine` for the execution as a whole and
:mod:`relaydesk.automation.actions` for what is repeated after a crash and what is not.
"""

from __future__ import annotations

import copy
import datetime as dt
import uuid
from typing import TYPE_CHECKING, Any

import structlog
from pydantic import ValidationError

from relaydesk.automation.actions import ActionContext, ActionFailed, Wait, action_type
from relaydesk.automation.definition import CompiledRule, OnError
from relaydesk.automation.models import Rule, RuleExecution
from relaydesk.automation.records import bounded, close
from relaydesk.automation.repository import ExecutionRepository
from relaydesk.events.envelope import Envelope
from relaydesk.integrations.templating import TemplateError, render
from relaydesk.kit.db import utcnow

if TYPE_CHECKING:
    from relaydesk.automation.engine import Engine

__all__ = ["StepRunner"]

log = structlog.get_logger("relaydesk.automation")


class StepRunner:
    """The action loop of one execution."""

    def __init__(
        self,
        engine: Engine,
        tenant_id: uuid.UUID,
        execution_id: uuid.UUID,
        rule: Rule,
        rule_def: CompiledRule,
        principal: Any,
        envelope: Envelope,
        customer_id: uuid.UUID | None,
        context: dict[str, Any],
    ) -> None:
        self.engine, self.db = engine, engine.db
        self.tenant_id, self.execution_id = tenant_id, execution_id
        self.rule, self.rule_def, self.principal = rule, rule_def, principal
        self.envelope, self.customer_id, self.context = envelope, customer_id, context

    def _context(self, states: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            **self.context,
            "steps": {s["id"]: {"status": s["status"], "output": s.get("output")}
                      for s in states},
            "rule": {"id": str(self.rule.id), "name": self.rule.name},
            "execution": {"id": str(self.execution_id)},
            "now": utcnow().isoformat(),
        }  # fmt: skip

    async def _save(self, session: Any, states: list[dict[str, Any]], next_step: int
                    ) -> RuleExecution:  # fmt: skip
        row = await ExecutionRepository(session).get(self.execution_id)
        assert row is not None
        row.steps, row.next_step = copy.deepcopy(states), next_step
        return row

    async def run(self, start: int, states: list[dict[str, Any]]) -> None:
        failed_any = any(s.get("status") == "failed" for s in states[:start])
        for index in range(start, len(self.rule_def.steps)):
            outcome = await self._step(index, states)
            if outcome == "suspended" or outcome == "stopped":
                return
            failed_any = failed_any or outcome == "failed"
        async with self.db.job(self.tenant_id) as session:
            row = await self._save(session, states, len(states))
            close(row, "partial" if failed_any else "succeeded",
                          "an action failed; the rule went on (on_error: continue)"
                          if failed_any else None)  # fmt: skip

    async def _step(self, index: int, states: list[dict[str, Any]]) -> str:
        step, state = self.rule_def.steps[index], states[index]
        kind = action_type(step.type)
        interrupted = state.get("status") == "running"
        ctx = ActionContext(
            db=self.db, tenant_id=self.tenant_id, principal=self.principal,
            runtime=self.engine.runtime, rule_id=self.rule.id, rule_name=self.rule.name,
            execution_id=self.execution_id, step_id=step.id, trigger=self.envelope,
            context=self._context(states), idempotency_key=f"{self.execution_id}:{step.id}",
            customer_id=self.customer_id,
        )  # fmt: skip
        if kind is None:
            return await self._failed(
                index, states, "unregistered", f"action type {step.type!r} is not available", False
            )
        try:
            rendered = render(step.params, ctx.context)
            params = kind.params_model.model_validate(rendered)
        except (TemplateError, ValidationError) as exc:
            reason = (
                str(exc).splitlines()[0]
                if isinstance(exc, TemplateError)
                else "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            )
            return await self._failed(index, states, "invalid_params", reason, False)
        if kind.permission and not self.principal.has(kind.permission):
            return await self._failed(
                index, states, "forbidden", f"the rule's run_as lacks {kind.permission}", False
            )
        if interrupted and not await kind.repeatable(ctx, params):
            return await self._failed(
                index,
                states,
                "interrupted",
                "the worker stopped while this action ran; "
                "its outcome is unknown and it is not idempotent, so it was not repeated",
                False,
            )
        state["params"] = bounded(rendered)
        state["started_at"] = utcnow().isoformat()
        state["attempts"] = int(state.get("attempts") or 0) + 1
        if kind.transactional:
            try:
                async with self.db.job(self.tenant_id) as session:
                    ctx.session = session
                    result = await kind.run(ctx, params)
                    return await self._done(session, index, states, result)
            except ActionFailed as exc:
                return await self._failed(index, states, exc.code, exc.message, True, exc.output)
            except Exception as exc:
                log.exception("rule.action_crashed", rule=str(self.rule.id), action=step.type)
                return await self._failed(
                    index, states, "internal_error", f"{type(exc).__name__} inside Relaydesk", True
                )
        state["status"] = "running"
        async with self.db.job(self.tenant_id) as session:
            await self._save(session, states, index)
        try:
            result = await kind.run(ctx, params)
        except ActionFailed as exc:
            return await self._failed(index, states, exc.code, exc.message, True, exc.output)
        except Exception as exc:
            log.exception("rule.action_crashed", rule=str(self.rule.id), action=step.type)
            return await self._failed(
                index, states, "internal_error", f"{type(exc).__name__} inside Relaydesk", True
            )
        async with self.db.job(self.tenant_id) as session:
            return await self._done(session, index, states, result)

    async def _done(self, session: Any, index: int, states: list[dict[str, Any]],
                    result: dict[str, Any] | Wait | None) -> str:  # fmt: skip
        state = states[index]
        state.update(status="succeeded", finished_at=utcnow().isoformat(), error=None)
        state["output"] = bounded(result.output if isinstance(result, Wait) else result)
        row = await self._save(session, states, index + 1)
        if isinstance(result, Wait):
            if index + 1 >= len(states):
                return "done"  # nothing left to wait for
            resume_at = utcnow() + dt.timedelta(seconds=result.seconds)
            state["resume_at"] = resume_at.isoformat()
            row.steps = copy.deepcopy(states)
            await self.engine._suspend(session, row, result.seconds, f"{index}:wait",
                                       f"waiting until {resume_at.isoformat()}")  # fmt: skip
            return "suspended"
        return "done"

    async def _failed(
        self,
        index: int,
        states: list[dict[str, Any]],
        code: str,
        message: str,
        retryable: bool,
        output: Any = None,
    ) -> str:
        state = states[index]
        state.update(error={"code": code, "message": message[:2000]},
                     finished_at=utcnow().isoformat())  # fmt: skip
        if output is not None:
            state["output"] = bounded(output)
        state["attempts"] = max(int(state.get("attempts") or 0), 1)
        policy: OnError = self.rule_def.step_policy(index)
        async with self.db.job(self.tenant_id) as session:
            if policy.policy == "retry" and retryable and state["attempts"] < policy.max_attempts:
                state["status"] = "retry_wait"
                row = await self._save(session, states, index)
                await self.engine._suspend(
                    session,
                    row,
                    self.engine._backoff(state["attempts"]),
                    f"{index}:{state['attempts']}",
                    f"{state['id']}: {message}; retrying",
                )
                return "suspended"
            state["status"] = "failed"
            go_on = policy.policy == "continue" or \
                (policy.policy == "retry" and policy.then == "continue")  # fmt: skip
            if go_on:
                await self._save(session, states, index + 1)
                return "failed"
            for later in states[index + 1 :]:
                later["status"] = "skipped"
            row = await self._save(session, states, len(states))
            close(row, "failed", f"{state['id']} ({state['type']}): {message}")
            return "stopped"
