"""What a saga's templates see, and rendering them (fully at run time, partly for a preview).

Step params, ``when`` and ``verify`` see ``{input, steps, saga}``: ``steps.<name>`` holds
``{status, output}`` of the earlier steps. Compensations also see ``result`` (the step's
output), ``params`` (its parameters) and ``failure`` (``{step, code, message}``: why the saga
is rolling back). ``saga`` is ``{id, ref, name, step_key}``: ``ref`` is the id without dashes
and ``step_key`` a stable key per step (``<ref>-<position>``, ``-undo`` for compensations),
made to be sent as a caller reference (an idempotency key, ``out_refund_no``).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from jmespath.exceptions import JMESPathError

from relaydesk.integrations.spec_models.base import compile_jmespath, jmespath_reason
from relaydesk.integrations.templating import TemplateError, render, template_references
from relaydesk.sagas.models import Saga, SagaStep

__all__ = [
    "FAILURE_MESSAGE_LIMIT",
    "compensation_context",
    "evaluate_when",
    "render_partially",
    "saga_keys",
    "step_context",
]

#: ``failure.message`` is cut to this (it usually ends up in a field such as a close reason)
FAILURE_MESSAGE_LIMIT = 150


def saga_keys(
    saga_id: uuid.UUID, name: str, position: int, *, undo: bool = False
) -> dict[str, Any]:
    ref = saga_id.hex
    return {
        "id": str(saga_id),
        "ref": ref,
        "name": name,
        "step_key": f"{ref}-{position}{'-undo' if undo else ''}",
    }


def step_context(saga: Saga, steps: Sequence[SagaStep], position: int) -> dict[str, Any]:
    return {
        "input": dict(saga.input or {}),
        "steps": {
            s.name: {"status": s.status, "output": s.output} for s in steps if s.position < position
        },
        "saga": saga_keys(saga.id, saga.definition_name, position),
    }


def compensation_context(
    saga: Saga, steps: Sequence[SagaStep], step: SagaStep, params: Mapping[str, Any]
) -> dict[str, Any]:
    error = dict(saga.error or {})
    message = str(error.get("message") or "")
    if len(message) > FAILURE_MESSAGE_LIMIT:
        message = message[: FAILURE_MESSAGE_LIMIT - 1] + "…"
    return {
        "input": dict(saga.input or {}),
        "steps": {
            s.name: {"status": s.status, "output": s.output}
            for s in steps
            if s.position <= step.position
        },
        "saga": saga_keys(saga.id, saga.definition_name, step.position, undo=True),
        "result": step.output,
        "params": dict(params),
        "failure": {"step": error.get("step"), "code": error.get("code"), "message": message},
    }


def _truthy(value: Any) -> bool:
    """JMESPath truthiness: false, null, "", [] and {} are false; 0 is true."""
    return value is not None and value is not False and value not in ("", [], {})


def evaluate_when(expression: str, context: Mapping[str, Any]) -> bool:
    """Whether a step's ``when`` holds; :class:`TemplateError` when it cannot be evaluated."""
    try:
        return _truthy(compile_jmespath(expression).search(dict(context)))
    except JMESPathError as exc:
        raise TemplateError(f"when {expression!r}: {jmespath_reason(exc)}") from None


def render_partially(
    template: Mapping[str, Any], context: Mapping[str, Any], known: frozenset[str]
) -> tuple[dict[str, Any], list[str]]:
    """Render each top-level value whose templates read only ``known`` roots; the others
    stay as written. Returns (values, names of the values left unresolved)."""
    values: dict[str, Any] = {}
    unresolved: list[str] = []
    for key, item in template.items():
        try:
            roots = {ref.split(".")[0] for ref in template_references(item)}
        except TemplateError:
            roots = {"?"}
        if roots <= known:
            try:
                values[key] = render(item, context)
                continue
            except TemplateError:
                pass
        values[key] = item
        unresolved.append(key)
    return values, unresolved
