"""Request and response bodies of ``/api/v1/rules``.

The definition fields (trigger, conditions, lookups, actions, on_error, run_as) are taken as
JSON and checked by :mod:`relaydesk.automation.definition`, which names every problem by its
path (``body.conditions.all[2].op``); docs/automation.md describes them.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import Field

from relaydesk.kit.schemas import RequestModel, ResponseModel

_DEFINITION = "See docs/automation.md"


class RuleIn(RequestModel):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=1000)
    enabled: bool = True
    trigger: Any = Field(None, description="{type: event|cron|absence, ...}. " + _DEFINITION)
    conditions: Any = Field(None, description="{all|any|not: ...} or {path, op, value}")
    lookups: Any = Field(None, description="[{name, instance, action, params}]: connector reads")
    actions: Any = Field(None, description="[{id, type, params, on_error}], in order")
    on_error: Any = Field("stop", description='stop | continue | {"policy": "retry", ...}')
    run_as: Any = Field(
        default_factory=list, description="The rule's own permissions (never more than yours)"
    )

    def definition(self) -> dict[str, Any]:
        return {
            "trigger": self.trigger,
            "conditions": self.conditions,
            "lookups": self.lookups,
            "actions": self.actions,
            "on_error": self.on_error,
            "run_as": self.run_as,
        }


class RulePut(RuleIn):
    expected_version: int | None = Field(
        None, description="Refuse (409) when the rule's current version is another one"
    )


class RuleOut(ResponseModel):
    id: uuid.UUID
    name: str
    description: str
    enabled: bool
    version: int
    version_id: uuid.UUID | None
    trigger_kind: str
    definition: dict[str, Any]
    created_by: uuid.UUID | None
    created_at: dt.datetime
    updated_at: dt.datetime


class VersionOut(ResponseModel):
    id: uuid.UUID
    number: int
    definition: dict[str, Any]
    created_by: uuid.UUID | None
    created_by_label: str
    created_at: dt.datetime


class ExecutionOut(ResponseModel):
    id: uuid.UUID
    rule_id: uuid.UUID
    version: int
    status: str = Field(
        description="pending | running | waiting | succeeded | partial | failed "
        "| not_matched | refused | rate_limited"
    )
    reason: str | None
    trigger_kind: str
    event_id: uuid.UUID | None
    event_type: str | None
    depth: int
    trigger: dict[str, Any]
    matched: bool | None
    conditions: list[dict[str, Any]]
    lookups: dict[str, Any]
    customer_id: uuid.UUID | None
    steps: list[dict[str, Any]]
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    created_at: dt.datetime


class SampleEvent(RequestModel):
    type: str = Field(min_length=1, max_length=100, description="e.g. order.shipped")
    payload: dict[str, Any] = Field(default_factory=dict)
    key: str | None = Field(None, max_length=200)
    depth: int = Field(0, ge=0, le=100, description="Automation hops (loop protection)")
    source: dict[str, Any] = Field(default_factory=dict)


class DryRunIn(RequestModel):
    event: SampleEvent | None = Field(None, description="Required unless the trigger is cron")
    customer_id: uuid.UUID | None = Field(
        None, description="Use this customer (else the one the event names)"
    )


class DryRunRuleIn(DryRunIn):
    rule: RuleIn


class DryRunAction(ResponseModel):
    id: str
    type: str
    #: ran (read-only, run for real) | would_run (side effects: described only) | invalid
    outcome: str
    description: str | None = None
    params: Any = None
    output: Any = None
    error: dict[str, Any] | None = None


class DryRunOut(ResponseModel):
    trigger_matches: bool
    refused: str | None = Field(
        None, description="Why the event would not start the rule (loop protection)"
    )
    matched: bool
    conditions: list[dict[str, Any]]
    customer: dict[str, Any] | None
    lookups: dict[str, Any]
    actions: list[DryRunAction]
    notes: list[str] = Field(default_factory=list)


class ActionTypeOut(ResponseModel):
    name: str
    description: str
    side_effects: bool
    permission: str | None
    params_schema: dict[str, Any]


class OperatorOut(ResponseModel):
    name: str
    description: str
    value_schema: dict[str, Any]
    options: list[str]
