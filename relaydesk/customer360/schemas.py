"""Request and response bodies of the Customer 360 panels and the customer timeline."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import Field

from relaydesk.customer360.models import CustomerPanel
from relaydesk.integrations.outcome import OutcomeError
from relaydesk.kit.schemas import RequestModel, ResponseModel

__all__ = [
    "KEY_PATTERN",
    "PanelField",
    "PanelIn",
    "PanelOut",
    "PanelPatch",
    "PanelState",
    "PanelView",
    "PanelsView",
    "TimelineItem",
    "TimelineKind",
]

KEY_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"
FIELD_PATH = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"
MAX_PANELS = 12

PanelState = Literal["ok", "stale", "unavailable", "forbidden", "not_applicable"]
TimelineKind = Literal["message", "note", "call", "event"]


class PanelField(RequestModel):
    """An output field to show: a (dotted) path in the action's mapped output."""

    path: str = Field(max_length=200, pattern=FIELD_PATH, examples=["order_no"])
    label_zh: str | None = Field(None, max_length=50)
    label_en: str | None = Field(None, max_length=50)


class _PanelBody(RequestModel):
    title_zh: str = Field(min_length=1, max_length=100)
    title_en: str = Field(min_length=1, max_length=100)
    instance: str = Field(min_length=1, max_length=63, description="Connector instance name or id")
    action: str = Field(min_length=1, max_length=100, description="A read action of it")
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="Parameter → literal or template over `customer` (and `source`), e.g. "
        '{"mobile": "{{ customer.phone_national }}"}',
    )
    fields: list[PanelField] = Field(default_factory=list, max_length=30)
    max_items: int = Field(5, ge=1, le=50, description="List outputs: records shown")
    timeout_seconds: float = Field(3.0, ge=0.1, le=30)
    cache_ttl_seconds: int = Field(60, ge=0, le=86_400)
    stale_seconds: int = Field(
        3600, ge=0, le=604_800, description="Past the TTL, shown (stale) if the system fails"
    )
    position: int = Field(0, ge=0, le=1000)
    enabled: bool = True
    source_panel: str | None = Field(
        None, pattern=KEY_PATTERN, description="Key of a panel whose data is `source`"
    )


class PanelIn(_PanelBody):
    key: str = Field(pattern=KEY_PATTERN, examples=["orders"])


class PanelPatch(RequestModel):
    title_zh: str | None = Field(None, min_length=1, max_length=100)
    title_en: str | None = Field(None, min_length=1, max_length=100)
    instance: str | None = Field(None, min_length=1, max_length=63)
    action: str | None = Field(None, min_length=1, max_length=100)
    params: dict[str, Any] | None = None
    fields: list[PanelField] | None = Field(None, max_length=30)
    max_items: int | None = Field(None, ge=1, le=50)
    timeout_seconds: float | None = Field(None, ge=0.1, le=30)
    cache_ttl_seconds: int | None = Field(None, ge=0, le=86_400)
    stale_seconds: int | None = Field(None, ge=0, le=604_800)
    position: int | None = Field(None, ge=0, le=1000)
    enabled: bool | None = None
    source_panel: str | None = Field(None, pattern=KEY_PATTERN)


class PanelOut(ResponseModel):
    """A panel's configuration."""

    id: uuid.UUID
    key: str
    title_zh: str
    title_en: str
    instance_id: uuid.UUID
    instance: str
    action: str
    params: dict[str, Any]
    fields: list[dict[str, Any]]
    max_items: int
    timeout_seconds: float
    cache_ttl_seconds: int
    stale_seconds: int
    position: int
    enabled: bool
    source_panel: str | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, panel: CustomerPanel, instance_name: str) -> PanelOut:
        return cls.model_validate(
            {**{c: getattr(panel, c) for c in cls.model_fields if c != "instance"},
             "instance": instance_name}
        )  # fmt: skip


class PanelView(ResponseModel):
    """One panel for one customer: its data (masked by role) or why there is none."""

    key: str
    title: dict[str, str] = Field(description='{"zh": ..., "en": ...}')
    instance: str
    action: str
    state: PanelState = Field(
        description="ok; stale (the system failed: cached data past its TTL); unavailable "
        "(see error); forbidden (you may not run the action: see missing); not_applicable "
        "(the customer lacks what the panel needs: see missing)"
    )
    many: bool = Field(description="data is a list of records")
    fields: list[dict[str, Any]] = Field(description="The fields shown, in order, with labels")
    data: Any = Field(None, description="Records (or one record) with the fields shown")
    empty: bool = Field(False, description="The system answered, with nothing for this customer")
    fetched_at: dt.datetime | None = Field(None, description="When the system answered")
    cached: bool = False
    stale: bool = False
    masked: bool = Field(False, description="Personal fields masked (no customers.pii.view)")
    error: OutcomeError | None = None
    missing: list[str] = Field(
        default_factory=list, description="forbidden: permissions; not_applicable: parameters"
    )
    latency_ms: float | None = None
    call_id: uuid.UUID | None = Field(None, description="The call-log entry (none when not run)")


class PanelsView(ResponseModel):
    customer_id: uuid.UUID
    panels: list[PanelView]
    generated_at: dt.datetime


class TimelineItem(ResponseModel):
    """One entry: a message, an internal note, a call record or an external event."""

    id: uuid.UUID = Field(description="Time-ordered; the cursor of the next page")
    kind: TimelineKind
    at: dt.datetime
    customer_id: uuid.UUID = Field(description="The customer it belongs to (a merged one's too)")
    conversation_id: uuid.UUID | None = None
    channel: str | None = None
    direction: str | None = Field(None, description="in | out | internal")
    author_type: str | None = None
    author_id: str | None = None
    content_type: str | None = None
    body: str | None = Field(None, description="Text (first 1,000 characters)")
    truncated: bool = False
    content: dict[str, Any] | None = Field(None, description="Call records: the call's details")
    attachments: int = 0
    status: str | None = None
    event_id: uuid.UUID | None = None
    event_type: str | None = None
    source: str | None = Field(None, description="Events: the connector instance it came from")
    payload: dict[str, Any] | None = Field(None, description="Events: the payload (masked)")
    matched_by: str | None = Field(None, description="Events: how it was linked")
    masked: bool = False
