"""The saga events: ``saga.completed``, ``saga.compensated``, ``saga.failed``.

Emitted in the transaction that gives the saga its final status. Personal data is masked
before it is written (input fields the definition marks ``pii``, output fields the actions
mark ``pii``), so these payloads carry none.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from relaydesk.events.catalogue import EventSpec, register_event

__all__ = ["SagaFinished", "SagaStepSummary"]


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SagaActor(_Payload):
    type: str
    id: str | None = None
    label: str | None = None


class SagaError(_Payload):
    step: str | None = None
    code: str | None = None
    message: str | None = None


class SagaStepSummary(_Payload):
    name: str
    instance: str
    action: str
    status: str = Field(description="succeeded | failed | skipped | unknown | cancelled")
    compensation: str = Field(description="none | done | failed | skipped")
    output: Any = Field(None, description="The step's output (personal data masked)")


class SagaFinished(_Payload):
    saga_id: str
    definition: str
    definition_version: int
    status: str = Field(description="completed | compensated | failed")
    input: dict[str, Any] = Field(description="The saga's input (personal data masked)")
    started_by: SagaActor
    error: SagaError | None = Field(None, description="Why it rolled back or failed")
    attention: list[str] = Field(
        default_factory=list, description="What needs a person: unknown outcomes, failed undos"
    )
    steps: list[SagaStepSummary]


def _example(status: str) -> dict[str, Any]:
    refused = status != "completed"
    steps = [
        (
            "ticket",
            "tickets",
            "create_ticket",
            "succeeded",
            "done" if refused else "none",
            {"ticket_no": "GD202611210016", "status": "new"},
        ),
        (
            "refund",
            "orders",
            "request_refund",
            "failed" if refused else "succeeded",
            "skipped" if refused else "none",
            None if refused else {"refund_id": "RF20261121000007", "status": "pending"},
        ),
    ]
    return {
        "saga_id": "0193a6a2-6c1e-7b52-9f0e-3c5f1e2d4a10", "definition": "refund",
        "definition_version": 1, "status": status,
        "input": {"order_no": "YQ20261022000640", "amount": "5499.00" if refused else "99.00",
                  "reason": "不想要了", "customer_mobile": "139****4964"},
        "started_by": {"type": "user", "id": "0193a6a0-1f00-7c3e-8a55-2b1d9e0c7f01",
                       "label": "supervisor@demo.relaydesk.local"},
        "error": {"step": "refund", "code": "refund_needs_review",
                  "message": "单笔退款超过 5000.00 元，需财务人工审核，请通过人工审核流程提交"}
        if refused else None,
        "attention": ["ticket: could not undo tickets.create_ticket (工单不存在); undo it by "
                      "hand in tickets"] if status == "failed" else [],
        "steps": [{"name": n, "instance": i, "action": a, "status": st, "compensation": c,
                   "output": o} for n, i, a, st, c, o in steps],
    }  # fmt: skip


for _name, _text in {
    "saga.completed": "Every step of a saga (multi-system action) succeeded.",
    "saga.compensated": "A saga step was refused or failed; the earlier steps were undone "
    "(compensations ran in reverse order).",
    "saga.failed": "A saga stopped in a state that needs a person: a step's outcome is "
    "unknown or a compensation failed.",
}.items():
    register_event(EventSpec(_name, SagaFinished, _text, key="saga_id", source="sagas",
                             examples=(_example(_name.split(".")[1]),)))  # fmt: skip
