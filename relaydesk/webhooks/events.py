"""The events webhooks emit: ``endpoint.disabled``."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict

from relaydesk.events.catalogue import EventSpec, register_event

__all__ = ["ENDPOINT_DISABLED", "EndpointDisabled"]


class EndpointDisabled(BaseModel):
    model_config = ConfigDict(extra="forbid")

    endpoint_id: str
    #: the receiver's URL without its query string (which may hold a token)
    url: str
    description: str = ""
    #: gone (the receiver answered 410) | failing (every attempt failed for too long)
    cause: str
    reason: str
    disabled_at: dt.datetime
    failing_since: dt.datetime | None = None
    last_error: str | None = None


ENDPOINT_DISABLED = register_event(EventSpec(
    "endpoint.disabled", EndpointDisabled,
    "A webhook endpoint was disabled automatically: its receiver answered 410 Gone, or every "
    "delivery attempt failed for longer than the configured period (5 days by default).",
    key="endpoint_id", source="webhooks",
    examples=({
        "endpoint_id": "0193a1c2-7b1e-7c3d-9f00-3c1b2a4d5e6f",
        "url": "https://erp.example.com/hooks/relaydesk", "description": "ERP sync",
        "cause": "failing", "reason": "every delivery attempt failed for 5 days",
        "disabled_at": "2026-11-21T10:00:00Z", "failing_since": "2026-11-16T09:58:00Z",
        "last_error": "HTTP 503",
    },),
))  # fmt: skip
