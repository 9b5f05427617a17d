"""Request and response bodies of the connector API (``/api/v1/connectors``,
``/api/v1/connector-instances``). Secrets never appear in a response model: configs go out
through :func:`relaydesk.integrations.secrets.public_config`."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import Field

from relaydesk.integrations.outcome import ActionOutcome, OutcomeProblem
from relaydesk.integrations.spec_models.base import CONNECTOR_NAME
from relaydesk.kit.schemas import RequestModel, ResponseModel

__all__ = [
    "ActionHealthOut",
    "ActionOut",
    "ActionOutcome",
    "CallOut",
    "ConfigFieldOut",
    "InstanceHealthOut",
    "InstanceIn",
    "InstanceOut",
    "InstancePatch",
    "LastErrorOut",
    "MappingPreviewIn",
    "MappingPreviewOut",
    "RunIn",
    "SpecProblemOut",
    "ValidateIn",
    "ValidateOut",
]

SpecText = str | dict[str, Any]
SPEC_DESCRIPTION = "The connector spec: YAML or JSON text, or the spec as a JSON object"


# --- specs -------------------------------------------------------------------------------


class ValidateIn(RequestModel):
    spec: SpecText = Field(description=SPEC_DESCRIPTION)


class SpecProblemOut(ResponseModel):
    file: str
    line: int | None = Field(None, description="1-based line in the text (null for objects)")
    path: str = Field(description="Field path, e.g. actions.get_order.request.path")
    message: str


class ValidateOut(ResponseModel):
    valid: bool
    problems: list[SpecProblemOut]


class MappingPreviewIn(RequestModel):
    spec: SpecText = Field(description=SPEC_DESCRIPTION)
    action: str = Field(max_length=63)
    sample: Any = Field(None, description="A decoded response body (any JSON value)")
    sample_xml: str | None = Field(
        None, max_length=1_000_000, description="Or: a response body as XML text"
    )


class MappingPreviewOut(ResponseModel):
    value: Any
    errors: list[OutcomeProblem]


# --- instances ---------------------------------------------------------------------------


class InstanceIn(RequestModel):
    name: str | None = Field(
        None, pattern=CONNECTOR_NAME,
        description="Unique in the organisation; used in callback URLs. Default: the spec's name",
    )  # fmt: skip
    spec: SpecText = Field(description=SPEC_DESCRIPTION)
    config: dict[str, Any] = Field(
        default_factory=dict, description="Values for the spec's config fields (secrets included)"
    )
    enabled: bool = True
    sandbox: bool = Field(False, description="Points at a test environment of the system")
    allow_network: list[str] = Field(
        default_factory=list, max_length=50,
        description="Private/loopback CIDRs or host names this instance may reach (intranet)",
    )  # fmt: skip
    title: str | None = Field(None, max_length=200)


class InstancePatch(RequestModel):
    """Fields sent are changed. ``config`` replaces the config, except that a secret sent back
    as the placeholder ``********`` (or left out) keeps its stored value."""

    spec: SpecText | None = Field(None, description=SPEC_DESCRIPTION)
    config: dict[str, Any] | None = None
    enabled: bool | None = None
    sandbox: bool | None = None
    allow_network: list[str] | None = Field(None, max_length=50)
    title: str | None = Field(None, max_length=200)


class ConfigFieldOut(ResponseModel):
    name: str
    type: str
    required: bool
    secret: bool
    default: Any = None
    title: str | None = None
    description: str | None = None


class InstanceOut(ResponseModel):
    id: uuid.UUID
    name: str
    connector: str = Field(description="The spec's name (permissions use it)")
    kind: str
    title: str
    description: str | None = None
    enabled: bool
    sandbox: bool
    allow_network: list[str]
    version: int
    config: dict[str, Any] = Field(description="Secret values replaced by ********")
    config_fields: list[ConfigFieldOut] = Field(description="What the spec asks for (a form)")
    actions: list[str]
    callbacks: list[str]
    spec: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime


# --- actions -----------------------------------------------------------------------------


class ActionOut(ResponseModel):
    name: str
    title: str | None = None
    description: str | None = None
    effect: Literal["read", "write"]
    permission: str
    allowed: bool = Field(description="The caller holds the permission")
    params_schema: dict[str, Any] = Field(description="JSON Schema of the params object")
    output: str | None = Field(None, description="Canonical shape of the output")
    many: bool
    pii: dict[str, str] = Field(description="Output field → kind of personal data (masked)")
    idempotent: bool
    cache: bool


class RunIn(RequestModel):
    params: dict[str, Any] = Field(default_factory=dict)


# --- call log and health -----------------------------------------------------------------


class CallOut(ResponseModel):
    id: uuid.UUID
    created_at: dt.datetime
    action: str
    actor_type: str
    actor_id: str | None
    priority: str
    outcome: Literal["success", "error"]
    error_class: str | None
    error_code: str | None
    error_message: str | None
    http_status: int | None
    attempts: int
    cached: bool
    stale: bool
    latency_ms: float
    params: dict[str, Any] = Field(description="As called, personal data masked")


class LastErrorOut(ResponseModel):
    at: dt.datetime
    error_class: str | None
    code: str | None
    message: str | None


class ActionHealthOut(ResponseModel):
    action: str
    calls: int = Field(description="Calls in the window (the last N of this action)")
    successes: int
    failures: int = Field(description="Includes calls answered from a stale cache")
    success_rate: float | None = Field(None, description="successes / calls; null without calls")
    cache_hits: int
    p50_ms: float | None = Field(None, description="Latency of calls that reached the system")
    p95_ms: float | None = None
    last_success_at: dt.datetime | None = None
    last_failure_at: dt.datetime | None = None
    last_error: LastErrorOut | None = None
    breaker: str = Field(description="closed | open | half_open (shared by the instance)")


class InstanceHealthOut(ResponseModel):
    instance_id: uuid.UUID
    name: str
    enabled: bool
    sandbox: bool
    breaker: str
    window: int = Field(description="How many recent calls per action the figures cover")
    actions: list[ActionHealthOut]
