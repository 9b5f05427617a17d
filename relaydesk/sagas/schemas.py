"""Request and response bodies of ``/api/v1/sagas``."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import Field

from relaydesk.kit.schemas import RequestModel, ResponseModel

DEFINITION_DESCRIPTION = (
    "The saga definition: a JSON object, or its YAML (or JSON) text. See docs/sagas.md: name, "
    "title, input (typed fields), steps (instance, action, params with {{ }} templates, when, "
    "compensate, verify, on_unknown, max_attempts)"
)


class DefinitionIn(RequestModel):
    definition: dict[str, Any] | str = Field(description=DEFINITION_DESCRIPTION)
    enabled: bool = True


class DefinitionOut(ResponseModel):
    id: uuid.UUID
    name: str
    title: str
    version: int = Field(description="Goes up on every change; sagas keep the version they ran")
    enabled: bool
    document: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime


class SagaRunIn(RequestModel):
    definition: str = Field(
        min_length=1, max_length=63, description="The definition's name (or id)"
    )
    input: dict[str, Any] = Field(default_factory=dict, description="Values for its input")


class Problem(ResponseModel):
    loc: list[str | int]
    msg: str


class PreviewCompensation(ResponseModel):
    instance: str
    action: str
    title: str | None = None
    from_spec: bool = Field(description="The action's own compensate from its connector spec")
    params: dict[str, Any]
    unresolved: list[str] = Field(description="Parameters known only when the saga runs")
    permission: str
    allowed: bool


class PreviewStep(ResponseModel):
    position: int
    name: str
    title: str | None = None
    instance: str
    action: str
    action_title: str | None = None
    effect: str | None = None
    idempotent: bool = False
    permission: str | None = None
    allowed: bool
    when: str | None = None
    runs: bool | None = Field(
        None, description="Whether the step will run (null: decided by earlier steps' output)"
    )
    params: dict[str, Any] = Field(description="Resolved where possible (personal data masked)")
    unresolved: list[str] = Field(description="Parameters known only when the saga runs")
    on_unknown: str
    verify: bool = Field(description="An unknown outcome is checked with a read action")
    compensation: PreviewCompensation | None = None
    problems: list[Problem] = Field(default_factory=list)


class PreviewOut(ResponseModel):
    definition: str
    definition_id: uuid.UUID
    version: int
    title: str | None = None
    input: dict[str, Any]
    allowed: bool = Field(description="The caller may start it (holds every permission)")
    missing_permissions: list[str]
    steps: list[PreviewStep]
    problems: list[Problem] = Field(default_factory=list)


class Actor(ResponseModel):
    type: str
    id: str | None = None
    label: str | None = None


class CompensationOut(ResponseModel):
    status: str = Field(description="none | pending | running | done | failed | skipped")
    action: str | None = None
    attempts: int
    params: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    call_id: uuid.UUID | None = None
    at: dt.datetime | None = None


class StepOut(ResponseModel):
    position: int
    name: str
    instance: str
    action: str
    status: str = Field(
        description="pending | running | succeeded | failed | skipped | unknown | cancelled"
    )
    attempts: int
    params: dict[str, Any] | None = Field(None, description="Last call's, personal data masked")
    output: Any = None
    error: dict[str, Any] | None = None
    call_id: uuid.UUID | None = Field(None, description="The call-log entry of the last call")
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    compensation: CompensationOut
    attention: str | None = Field(None, description="What a person should check")


class SagaOut(ResponseModel):
    id: uuid.UUID
    definition: str
    definition_id: uuid.UUID | None = None
    definition_version: int
    status: str = Field(description="running | completed | compensating | compensated | failed")
    current_step: int
    input: dict[str, Any]
    error: dict[str, Any] | None = None
    started_by: Actor
    created_at: dt.datetime
    updated_at: dt.datetime
    finished_at: dt.datetime | None = None
    steps: list[StepOut] | None = Field(None, description="Given when one saga is read")
