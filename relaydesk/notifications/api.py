"""``/api/v1/notifications``: the signed-in user's own notifications."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from relaydesk.auth.deps import CurrentPrincipal
from relaydesk.auth.principal import Principal
from relaydesk.errors import Forbidden
from relaydesk.kit.db import DbSession
from relaydesk.kit.masking import detect_and_mask_text
from relaydesk.kit.pagination import Page, PageParams, page_params
from relaydesk.kit.schemas import COMMON_ERRORS
from relaydesk.notifications.models import Notification
from relaydesk.notifications.schemas import MarkedOut, NotificationOut, UnreadOut
from relaydesk.notifications.service import NotificationService, notify

router = APIRouter(prefix="/notifications", tags=["notifications"])
Paging = Annotated[PageParams, Depends(page_params)]


def _out(notification: Notification, principal: Principal) -> NotificationOut:
    """A notification as its reader may see it: a rule's text can quote a customer's phone,
    ID or e-mail, which is masked inside the text for readers without ``customers.pii.view``
    (as in its realtime frame)."""
    out = NotificationOut.model_validate(notification)
    if principal.has("customers.pii.view"):
        return out
    return out.model_copy(
        update={"title": detect_and_mask_text(out.title), "body": detect_and_mask_text(out.body)}
    )


@router.get("", response_model=Page[NotificationOut], responses=COMMON_ERRORS)
async def list_notifications(
    principal: CurrentPrincipal,
    session: DbSession,
    paging: Paging,
    unread: Annotated[bool, Query(description="Only those not read yet")] = False,
) -> Page[NotificationOut]:
    """Your notifications, newest first (an API key has none)."""
    rows, cursor = await NotificationService(session, principal.user_id).page(paging, unread=unread)
    return Page[NotificationOut](items=[_out(n, principal) for n in rows], next_cursor=cursor)


@router.get("/unread-count", response_model=UnreadOut, responses=COMMON_ERRORS)
async def unread_count(principal: CurrentPrincipal, session: DbSession) -> UnreadOut:
    return UnreadOut(unread=await NotificationService(session, principal.user_id).unread())


@router.post("/read-all", response_model=MarkedOut, responses=COMMON_ERRORS)
async def mark_all_read(principal: CurrentPrincipal, session: DbSession) -> MarkedOut:
    """Mark all your notifications read."""
    count = await NotificationService(session, principal.user_id).mark_all_read()
    return MarkedOut(updated=count)


@router.post(
    "/test",
    status_code=status.HTTP_201_CREATED,
    response_model=NotificationOut,
    responses=COMMON_ERRORS,
)
async def send_test(principal: CurrentPrincipal, session: DbSession) -> NotificationOut:
    """Send yourself a test notification (to check that notifications reach you)."""
    if principal.user_id is None:
        raise Forbidden("notifications are sent to users; an API key has no inbox")
    await notify(
        session, principal.tenant_id, [principal.user_id], title="Test notification / 测试通知",
        body="Notifications reach you. 通知功能正常。", source={"kind": "test"},
    )  # fmt: skip
    rows, _ = await NotificationService(session, principal.user_id).page(PageParams(limit=1))
    return _out(rows[0], principal)


@router.post("/{notification_id}/read", response_model=NotificationOut, responses=COMMON_ERRORS)
async def mark_read(
    notification_id: uuid.UUID, principal: CurrentPrincipal, session: DbSession
) -> NotificationOut:
    """Mark one of your notifications read (404 for anyone else's)."""
    notification = await NotificationService(session, principal.user_id).mark_read(notification_id)
    return _out(notification, principal)
