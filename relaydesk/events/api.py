"""``/api/v1/events``: the event log, delivery status per consumer, dead letters, replay.

Reading needs ``events.read``; replaying needs ``events.manage`` and is audited. Payloads are
masked unless the caller holds ``customers.pii.view``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from relaydesk.auth.deps import Require
from relaydesk.auth.principal import Principal
from relaydesk.errors import ValidationFailed
from relaydesk.events.schemas import (
    DeadLetterOut,
    EventDetailOut,
    EventOut,
    ReplayIn,
    ReplayOut,
    parse_time,
    valid_type_filter,
)
from relaydesk.events.service import EventService
from relaydesk.kit.db import DbSession
from relaydesk.kit.pagination import Page, PageParams, page_params
from relaydesk.kit.schemas import COMMON_ERRORS, error_responses

__all__ = ["router"]

router = APIRouter(prefix="/events", tags=["events"])

Reader = Annotated[Principal, Depends(Require("events.read"))]
Manager = Annotated[Principal, Depends(Require("events.manage"))]
Paging = Annotated[PageParams, Depends(page_params)]
PII_VIEW = "customers.pii.view"


def _type_param(
    type: Annotated[
        str | None,
        Query(max_length=100, description="An event type (order.shipped) or a family (order.*)"),
    ] = None,
) -> str | None:
    if type is not None and not valid_type_filter(type):
        message = "type must be an event type like order.shipped or a family like order.*"
        raise ValidationFailed(
            message, details=[{"loc": ["query", "type"], "msg": message, "type": "value_error"}]
        )
    return type


TypeFilter = Annotated[str | None, Depends(_type_param)]


def _since_param(
    since: Annotated[
        str | None,
        Query(max_length=64, description="Occurred at or after this ISO 8601 time (with a zone)",
              json_schema_extra={"format": "date-time"}),
    ] = None,
) -> dt.datetime | None:  # fmt: skip
    if since is None:
        return None
    try:
        return parse_time(since)
    except ValueError as exc:
        raise ValidationFailed(
            f"since {exc}",
            details=[{"loc": ["query", "since"], "msg": str(exc), "type": "datetime_parsing"}],
        ) from None


Since = Annotated[dt.datetime | None, Depends(_since_param)]


@router.get("", response_model=Page[EventOut], responses=COMMON_ERRORS)
async def list_events(
    principal: Reader,
    session: DbSession,
    paging: Paging,
    event_type: TypeFilter,
    since: Since,
    key: Annotated[str | None, Query(max_length=200, description="Ordering key")] = None,
) -> Page[EventOut]:
    """The organisation's events, newest first."""
    rows, cursor = await EventService(session, principal.actor).search(
        paging, event_type=event_type, key=key, since=since
    )
    clear = principal.has(PII_VIEW)
    return Page[EventOut](items=[EventOut.of(r, clear_pii=clear) for r in rows],
                          next_cursor=cursor)  # fmt: skip


@router.get("/dead-letters", response_model=Page[DeadLetterOut], responses=COMMON_ERRORS)
async def list_dead_letters(
    principal: Reader,
    session: DbSession,
    paging: Paging,
    event_type: TypeFilter,
    consumer: Annotated[str | None, Query(max_length=63)] = None,
) -> Page[DeadLetterOut]:
    """Events a consumer gave up on after its attempts, newest first, with the last error."""
    rows, cursor = await EventService(session, principal.actor).dead_letters(
        paging, consumer=consumer, event_type=event_type
    )
    return Page[DeadLetterOut](items=[DeadLetterOut.of(r) for r in rows], next_cursor=cursor)


@router.post(
    "/dead-letters/{dead_letter_id}/replay",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DeadLetterOut,
    responses={**COMMON_ERRORS, **error_responses(409)},
)
async def replay_dead_letter(
    dead_letter_id: uuid.UUID, principal: Manager, session: DbSession
) -> DeadLetterOut:
    """Run the consumer on the event again, at once (then as retries); audited."""
    row = await EventService(session, principal.actor).replay_dead_letter(dead_letter_id)
    return DeadLetterOut.of(row)


@router.post(
    "/replay", status_code=status.HTTP_202_ACCEPTED, response_model=ReplayOut,
    responses=COMMON_ERRORS,
)  # fmt: skip
async def replay_events(body: ReplayIn, principal: Manager, session: DbSession) -> ReplayOut:
    """Deliver the events since a time again (optionally of one type, to one consumer);
    skips what each consumer already processed unless ``force``; audited."""
    result = await EventService(session, principal.actor).replay(
        since=body.since, until=body.until, event_type=body.type, consumer=body.consumer,
        force=body.force,
    )  # fmt: skip
    return ReplayOut(events=result.events, deliveries=result.deliveries, skipped=result.skipped)


@router.get("/{event_id}", response_model=EventDetailOut, responses=COMMON_ERRORS)
async def get_event(event_id: uuid.UUID, principal: Reader, session: DbSession) -> EventDetailOut:
    """One event with its delivery status for each consumer."""
    event, statuses = await EventService(session, principal.actor).get(event_id)
    base = EventOut.of(event, clear_pii=principal.has(PII_VIEW))
    return EventDetailOut(**base.model_dump(), consumers=statuses)
