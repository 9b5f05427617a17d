"""``GET /api/v1/connector-instances/{id}/callbacks``: the callback inbox of one instance.

What each inbound callback became: ``pending`` (stored, not processed yet, or waiting for a
retry), ``done`` (its event is in the outbox), ``stale`` (older than the version already
applied: not applied) or ``failed`` with the reason (a mapping error after the retries, or
the event catalogue refusing the event: an unknown type, a payload that does not fit). Needs
``connectors.read``. The stored body is not shown; personal data found in the entity key or
the error text is masked unless the caller holds ``customers.pii.view``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query

from relaydesk.auth.deps import Require
from relaydesk.auth.principal import Principal
from relaydesk.integrations.inbox_store import CallbackInboxRepository
from relaydesk.integrations.models import CallbackInbox
from relaydesk.integrations.repository import ConnectorInstanceRepository
from relaydesk.kit.db import DbSession
from relaydesk.kit.masking import detect_and_mask_text
from relaydesk.kit.pagination import Page, PageParams, page_params
from relaydesk.kit.schemas import COMMON_ERRORS, ResponseModel

__all__ = ["InboxRowOut", "router"]

router = APIRouter(tags=["connectors"])

Reader = Annotated[Principal, Depends(Require("connectors.read"))]
InboxStatus = Literal["pending", "done", "stale", "failed"]


class InboxRowOut(ResponseModel):
    id: uuid.UUID
    created_at: dt.datetime
    callback: str
    event_id: str
    event_type: str
    entity_key: str | None
    entity_version: str | None
    status: InboxStatus
    attempts: int
    error: str | None
    processed_at: dt.datetime | None

    @classmethod
    def of(cls, row: CallbackInbox, *, clear: bool) -> InboxRowOut:
        out = cls.model_validate(row)
        if clear:
            return out
        return out.model_copy(update={
            "entity_key": detect_and_mask_text(row.entity_key or "") or row.entity_key,
            "error": detect_and_mask_text(row.error or "") or row.error,
        })  # fmt: skip


@router.get("/connector-instances/{instance_id}/callbacks", response_model=Page[InboxRowOut],
            responses=COMMON_ERRORS)  # fmt: skip
async def list_callbacks(
    instance_id: Annotated[uuid.UUID, Path(description="The connector instance's id")],
    principal: Reader,
    session: DbSession,
    paging: Annotated[PageParams, Depends(page_params)],
    status: Annotated[InboxStatus | None, Query()] = None,
    callback: Annotated[str | None, Query(max_length=100)] = None,
) -> Page[InboxRowOut]:
    """The instance's inbound callbacks, newest first, with their processing status and, for
    a failed one, the reason."""
    instance = await ConnectorInstanceRepository(session).get_or_404(instance_id)
    rows, cursor = await CallbackInboxRepository(session).list_page(
        instance.id, paging, status=status, callback=callback
    )
    clear = principal.has("customers.pii.view")
    return Page[InboxRowOut](items=[InboxRowOut.of(r, clear=clear) for r in rows],
                             next_cursor=cursor)  # fmt: skip
