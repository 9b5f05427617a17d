"""Request and response bodies of ``/api/v1/events``.

Payloads are masked like outbound webhooks (the catalogue's personal-data paths, and free-text
detection everywhere else) unless the caller holds ``customers.pii.view``.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
)

from relaydesk.events.catalogue import EVENT_NAME
from relaydesk.events.models import EventFailure, OutboxEvent
from relaydesk.kit.masking import detect_and_mask_text
from relaydesk.kit.schemas import RequestModel

__all__ = [
    "ConsumerStatusOut",
    "DeadLetterOut",
    "EventDetailOut",
    "EventOut",
    "ReplayIn",
    "ReplayOut",
    "Status",
    "parse_time",
    "valid_type_filter",
]

Status = Literal["processed", "pending", "waiting", "failing", "dead"]


_FAMILY = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*\.\*$")


def valid_type_filter(value: str) -> bool:
    """An event name, or a family ``order.*``."""
    return bool(EVENT_NAME.match(value) or _FAMILY.match(value))


ISO_HINT = "must be an ISO 8601 time with a time zone, like 2026-11-21T10:00:00+08:00"
_NUMBER = re.compile(r"[-+]?[0-9]+(\.[0-9]*)?")
_AWARE: TypeAdapter[dt.datetime] = TypeAdapter(AwareDatetime)


def parse_time(value: str) -> dt.datetime:
    """An ISO 8601 time with a zone (not a number of seconds); ValueError otherwise."""
    if _NUMBER.fullmatch(value.strip()):
        raise ValueError(ISO_HINT)
    try:
        return _AWARE.validate_python(value)
    except ValidationError:
        raise ValueError(ISO_HINT) from None


def _masked_payload(row: OutboxEvent, clear: bool) -> dict[str, Any]:
    if clear:
        return dict(row.payload)
    from relaydesk.webhooks.payloads import mask_payload, pii_paths

    return mask_payload(dict(row.payload), pii_paths(row.type))


class EventOut(BaseModel):
    id: uuid.UUID
    type: str
    version: int
    key: str = Field(description="Ordering key: events of one key reach consumers in order")
    occurred_at: dt.datetime
    published_at: dt.datetime | None = Field(
        description="When the relay handed it to the bus (null: not yet)"
    )
    source: dict[str, Any]
    causation_id: str | None
    correlation_id: str | None
    depth: int = Field(description="Automation hops that led to this event")
    payload: dict[str, Any] = Field(description="Masked unless you hold customers.pii.view")

    @classmethod
    def of(cls, row: OutboxEvent, *, clear_pii: bool) -> EventOut:
        return cls(**_fields(row, clear_pii))


def _fields(row: OutboxEvent, clear_pii: bool) -> dict[str, Any]:
    return {
        "id": row.id, "type": row.type, "version": row.version,
        "key": row.key if clear_pii else detect_and_mask_text(row.key),
        "occurred_at": row.occurred_at, "published_at": row.published_at,
        "source": row.source or {}, "causation_id": row.causation_id,
        "correlation_id": row.correlation_id, "depth": row.depth or 0,
        "payload": _masked_payload(row, clear_pii),
    }  # fmt: skip


class ConsumerStatusOut(BaseModel):
    consumer: str
    status: Status = Field(
        description="processed; pending (not delivered yet, or a replay queued); waiting "
        "(behind a failing earlier event of its key); failing (being retried); dead"
    )
    processed_at: dt.datetime | None = None
    attempts: int = 0
    error: str | None = None
    next_attempt_at: dt.datetime | None = None
    last_failed_at: dt.datetime | None = None
    replayed_at: dt.datetime | None = None
    dead_letter_id: uuid.UUID | None = Field(
        default=None, description="The failure record (replay it when dead)"
    )

    @classmethod
    def of(
        cls, consumer: str, processed_at: dt.datetime | None, failure: EventFailure | None
    ) -> ConsumerStatusOut:
        if processed_at is not None:
            return cls(consumer=consumer, status="processed", processed_at=processed_at)
        if failure is None:
            return cls(consumer=consumer, status="pending")
        status: Status
        if failure.dead:
            status = "dead"
        elif failure.attempts:
            status = "failing"
        else:
            status = "pending" if failure.replayed_at is not None else "waiting"
        return cls(consumer=consumer, status=status, attempts=failure.attempts,
                   error=failure.error, next_attempt_at=failure.next_attempt_at,
                   last_failed_at=failure.last_failed_at if failure.attempts else None,
                   replayed_at=failure.replayed_at, dead_letter_id=failure.id)  # fmt: skip


class EventDetailOut(EventOut):
    consumers: list[ConsumerStatusOut] = Field(
        description="Every consumer that wants this event type or has a record of it"
    )


class DeadLetterOut(BaseModel):
    id: uuid.UUID
    consumer: str
    event_id: uuid.UUID
    event_type: str
    attempts: int
    error: str
    dead: bool
    first_failed_at: dt.datetime
    last_failed_at: dt.datetime
    next_attempt_at: dt.datetime | None
    replayed_at: dt.datetime | None

    @classmethod
    def of(cls, row: EventFailure) -> DeadLetterOut:
        return cls(id=row.id, consumer=row.consumer, event_id=row.event_id,
                   event_type=row.event_type, attempts=row.attempts, error=row.error,
                   dead=row.dead, first_failed_at=row.first_failed_at,
                   last_failed_at=row.last_failed_at, next_attempt_at=row.next_attempt_at,
                   replayed_at=row.replayed_at)  # fmt: skip


class ReplayIn(RequestModel):
    since: AwareDatetime = Field(description="Replay events that occurred at or after this time")
    until: AwareDatetime | None = Field(default=None, description="...and before this time")
    type: str | None = Field(
        default=None, max_length=100, description="Only this event type, or a family `order.*`"
    )
    consumer: str | None = Field(default=None, max_length=63, description="Only this consumer")
    force: bool = Field(
        default=False,
        description="Also run consumers again on events they already processed (their "
        "processed records are removed); by default only the events a consumer has not "
        "processed (never delivered, failing or dead) are delivered again",
    )

    @field_validator("since", "until", mode="before")
    @classmethod
    def _iso_text(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, str | dt.datetime):
            raise ValueError(ISO_HINT)
        return value

    @field_validator("type")
    @classmethod
    def _type(cls, value: str | None) -> str | None:
        if value is not None and not valid_type_filter(value):
            raise ValueError("must be an event type like order.shipped or a family like order.*")
        return value


class ReplayOut(BaseModel):
    events: int = Field(description="Events in the window that some targeted consumer wants")
    deliveries: int = Field(description="(consumer, event) deliveries queued")
    skipped: int = Field(description="Already processed (use force to run them again)")
