"""Request and response bodies of ``/api/v1/webhooks``."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from pydantic import AwareDatetime, Field, StringConstraints

from relaydesk.kit.schemas import RequestModel, ResponseModel

Filter = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Network = Annotated[str, StringConstraints(min_length=1, max_length=255)]


class EndpointIn(RequestModel):
    url: str = Field(
        min_length=1, max_length=2000, description="http(s) URL of the receiver (no user:pass@)"
    )
    description: str = Field("", max_length=500)
    event_types: list[Filter] = Field(
        default_factory=lambda: ["*"],
        min_length=1,
        max_length=100,
        description="Exact event types (`order.shipped`), families (`order.*`) or `*` (all)",
    )
    enabled: bool = True
    rate_limit: int | None = Field(
        None, ge=1, le=10_000, description="Deliveries per second at most (null: no limit)"
    )
    include_pii: bool = Field(
        False, description="Send personal data unmasked (needs webhooks.pii; audited)"
    )
    allow_network: list[Network] = Field(
        default_factory=list,
        max_length=50,
        description="Intranet hosts or networks (CIDR) the URL may resolve to",
    )
    secret: str | None = Field(
        None,
        max_length=200,
        description="Your own `whsec_` secret (base64 of 24-64 bytes); generated when left out",
    )


class EndpointPatch(RequestModel):
    url: str | None = Field(None, min_length=1, max_length=2000)
    description: str | None = Field(None, max_length=500)
    event_types: list[Filter] | None = Field(None, min_length=1, max_length=100)
    enabled: bool | None = Field(
        None, description="true re-enables a disabled endpoint and resets its health"
    )
    disabled_reason: str | None = Field(None, max_length=500)
    rate_limit: int | None = Field(None, ge=1, le=10_000)
    include_pii: bool | None = None
    allow_network: list[Network] | None = Field(None, max_length=50)


class EndpointHealth(ResponseModel):
    consecutive_failures: int
    circuit_open_until: dt.datetime | None = Field(
        description="While set and in the future, deliveries wait (circuit breaker open)"
    )
    failing_since: dt.datetime | None = Field(
        description="First failure since the last success; null while healthy"
    )
    last_success_at: dt.datetime | None
    last_failure_at: dt.datetime | None
    last_error: str | None


class EndpointOut(ResponseModel):
    id: uuid.UUID
    url: str
    description: str
    event_types: list[str]
    enabled: bool
    disabled_reason: str | None
    disabled_at: dt.datetime | None
    rate_limit: int | None
    include_pii: bool
    allow_network: list[str]
    previous_secret_expires_at: dt.datetime | None = Field(
        description="Until then the previous secret also signs (rotation overlap)"
    )
    health: EndpointHealth
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class EndpointCreated(EndpointOut):
    secret: str = Field(description="The signing secret: shown only now")


class RotateIn(RequestModel):
    overlap_seconds: int | None = Field(
        None,
        ge=0,
        le=7 * 86_400,
        description="How long the old secret keeps signing too (default 24 h, at most 7 days)",
    )
    secret: str | None = Field(None, max_length=200, description="Your own new `whsec_` secret")


class SecretOut(ResponseModel):
    secret: str = Field(description="The new signing secret: shown only now")
    previous_secret_expires_at: dt.datetime | None


class AttemptOut(ResponseModel):
    id: uuid.UUID
    attempt: int
    url: str
    outcome: str = Field(description="succeeded | failed")
    status_code: int | None
    latency_ms: float
    response_body: str | None = Field(description="The first 1 KB of the answer")
    error: str | None
    next_attempt_at: dt.datetime | None
    created_at: dt.datetime


class DeliveryOut(ResponseModel):
    id: uuid.UUID
    message_id: uuid.UUID
    endpoint_id: uuid.UUID
    trigger: str = Field(description="event | replay | recover | test | rule")
    status: str = Field(description="pending | succeeded | failed")
    attempts: int
    clear_pii: bool
    next_attempt_at: dt.datetime | None
    last_attempt_at: dt.datetime | None
    last_status_code: int | None
    last_error: str | None
    finished_at: dt.datetime | None
    superseded_by: uuid.UUID | None
    created_at: dt.datetime


class DeliveryDetail(DeliveryOut):
    attempts_log: list[AttemptOut] = Field(description="Every HTTP attempt, oldest first")


class WebhookMessageOut(ResponseModel):
    id: uuid.UUID = Field(description="The `webhook-id` header of every delivery")
    event_id: uuid.UUID | None
    event_type: str
    occurred_at: dt.datetime
    payload: dict[str, Any] = Field(description="The payload with personal data masked")
    origin: str = Field(description="event | test | rule")
    created_at: dt.datetime


class MessageDetail(WebhookMessageOut):
    deliveries: list[DeliveryOut]


class TestIn(RequestModel):
    event_type: str = Field(
        "webhook.test", max_length=100, description="The `type` the test message carries"
    )
    payload: dict[str, Any] = Field(default_factory=dict, description="The test `data`")


class WebhookReplayIn(RequestModel):
    endpoint_id: uuid.UUID | None = Field(
        None, description="Only this endpoint; by default every enabled endpoint that matches"
    )


class WebhookReplayOut(ResponseModel):
    deliveries: list[DeliveryOut]


class RecoverIn(RequestModel):
    since: AwareDatetime = Field(description="Re-send failed deliveries created at or after")
    until: AwareDatetime | None = Field(None, description="... and before this (default: now)")


class RecoverOut(ResponseModel):
    recovered: int
    more: bool = Field(description="More failed deliveries remain: call again")
