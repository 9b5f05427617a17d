"""``/api/v1/inboxes``, ``/api/v1/conversations`` and ``/api/v1/canned-responses``."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, status
from fastapi.responses import StreamingResponse

from relaydesk.auth.deps import Require
from relaydesk.auth.principal import Principal
from relaydesk.conversations import attachments
from relaydesk.conversations.canned import CannedService
from relaydesk.conversations.inboxes import InboxService
from relaydesk.conversations.repository import ConversationFilters
from relaydesk.conversations.schemas import (
    AssignIn,
    CannedIn,
    CannedOut,
    CannedPatch,
    Channel,
    ConversationIn,
    ConversationOut,
    ConversationPatch,
    InboxIn,
    InboxOut,
    InboxPatch,
    MessageIn,
    MessageOut,
    Priority,
    RenderIn,
    RenderOut,
    Status,
)
from relaydesk.conversations.service import ConversationService
from relaydesk.integrations.api import get_keyring
from relaydesk.kit.db import DbSession
from relaydesk.kit.pagination import Page, PageParams, page_params
from relaydesk.kit.schemas import COMMON_ERRORS, error_responses

router = APIRouter(tags=["conversations"])

Reader = Annotated[Principal, Depends(Require("conversations.read"))]
Writer = Annotated[Principal, Depends(Require("conversations.write"))]
InboxAdmin = Annotated[Principal, Depends(Require("inboxes.manage"))]
CannedAdmin = Annotated[Principal, Depends(Require("canned_responses.manage"))]
Paging = Annotated[PageParams, Depends(page_params)]
#: routes that can answer 409 (a name or shortcut taken)
CONFLICTS = {**COMMON_ERRORS, **error_responses(409)}


def _service(session: DbSession, principal: Principal) -> ConversationService:
    return ConversationService(session, principal.actor, user_id=principal.user_id)


# --- inboxes -------------------------------------------------------------------------------


@router.get("/inboxes", response_model=Page[InboxOut], responses=COMMON_ERRORS)
async def list_inboxes(principal: Reader, session: DbSession, paging: Paging) -> Page[InboxOut]:
    service = InboxService(session, principal.actor)
    rows, cursor = await service.repo.page(service.repo.select(), paging)
    return Page[InboxOut](items=[InboxOut.model_validate(r) for r in rows], next_cursor=cursor)


@router.post("/inboxes", status_code=status.HTTP_201_CREATED, response_model=InboxOut,
             responses=CONFLICTS)  # fmt: skip
async def create_inbox(
    body: InboxIn, principal: InboxAdmin, session: DbSession, request: Request
) -> InboxOut:
    """Create an inbox; channel settings are validated, their secrets stored encrypted."""
    service = InboxService(session, principal.actor, get_keyring(request))
    return InboxOut.model_validate(await service.create(body))


@router.get("/inboxes/{inbox_id}", response_model=InboxOut, responses=COMMON_ERRORS)
async def get_inbox(inbox_id: uuid.UUID, principal: Reader, session: DbSession) -> InboxOut:
    return InboxOut.model_validate(
        await InboxService(session, principal.actor).repo.get_or_404(inbox_id)
    )


@router.patch("/inboxes/{inbox_id}", response_model=InboxOut, responses=CONFLICTS)
async def update_inbox(
    inbox_id: uuid.UUID, body: InboxPatch, principal: InboxAdmin, session: DbSession,
    request: Request,
) -> InboxOut:  # fmt: skip
    service = InboxService(session, principal.actor, get_keyring(request))
    inbox = await service.update(inbox_id, body)
    return InboxOut.model_validate(inbox)


@router.delete("/inboxes/{inbox_id}", status_code=status.HTTP_204_NO_CONTENT,
               responses=COMMON_ERRORS)  # fmt: skip
async def delete_inbox(inbox_id: uuid.UUID, principal: InboxAdmin, session: DbSession) -> None:
    await InboxService(session, principal.actor).delete(inbox_id)


# --- conversations ---------------------------------------------------------------------------


def _filters(
    assignee: Annotated[
        str | None,
        Query(pattern=r"^(me|unassigned|[0-9a-fA-F-]{36})$",
              description="me, unassigned, or a user id"),
    ] = None,
    team_id: uuid.UUID | None = None,
    status_: Annotated[Status | None, Query(alias="status")] = None,
    channel: Channel | None = None,
    priority: Priority | None = None,
    inbox_id: uuid.UUID | None = None,
    customer_id: uuid.UUID | None = None,
) -> ConversationFilters:  # fmt: skip
    return ConversationFilters(assignee=assignee, team_id=team_id, status=status_,
                               channel=channel, priority=priority, inbox_id=inbox_id,
                               customer_id=customer_id)  # fmt: skip


@router.get("/conversations", response_model=Page[ConversationOut], responses=COMMON_ERRORS)
async def list_conversations(
    principal: Reader, session: DbSession, paging: Paging,
    filters: Annotated[ConversationFilters, Depends(_filters)],
) -> Page[ConversationOut]:  # fmt: skip
    """Newest first; ``assignee=me`` means the signed-in user."""
    if filters.assignee == "me":
        filters = ConversationFilters(**{**filters.__dict__, "user_id": principal.user_id})
    rows, cursor = await _service(session, principal).find(filters, paging)
    return Page[ConversationOut](
        items=[ConversationOut.model_validate(r) for r in rows], next_cursor=cursor
    )


@router.post("/conversations", status_code=status.HTTP_201_CREATED,
             response_model=ConversationOut, responses=COMMON_ERRORS)  # fmt: skip
async def start_conversation(
    body: ConversationIn, principal: Writer, session: DbSession
) -> ConversationOut:
    """Start a conversation with a customer in an inbox (assigned to the caller)."""
    return ConversationOut.model_validate(await _service(session, principal).start(body))


@router.get("/conversations/{conversation_id}", response_model=ConversationOut,
            responses=COMMON_ERRORS)  # fmt: skip
async def get_conversation(
    conversation_id: uuid.UUID, principal: Reader, session: DbSession
) -> ConversationOut:
    return ConversationOut.model_validate(await _service(session, principal).get(conversation_id))


@router.patch("/conversations/{conversation_id}", response_model=ConversationOut,
              responses=COMMON_ERRORS)  # fmt: skip
async def update_conversation(
    conversation_id: uuid.UUID, body: ConversationPatch, principal: Writer, session: DbSession
) -> ConversationOut:
    """Resolve, reopen, snooze (with ``snoozed_until``), set pending, priority, tags, subject."""
    conversation = await _service(session, principal).update(conversation_id, body)
    return ConversationOut.model_validate(conversation)


@router.post("/conversations/{conversation_id}/assign", response_model=ConversationOut,
             responses=COMMON_ERRORS)  # fmt: skip
async def assign_conversation(
    conversation_id: uuid.UUID, body: AssignIn, principal: Writer, session: DbSession
) -> ConversationOut:
    """Assign or transfer to an agent and/or team, with an optional note kept as internal."""
    conversation = await _service(session, principal).assign(conversation_id, body)
    return ConversationOut.model_validate(conversation)


@router.post("/conversations/{conversation_id}/read", response_model=ConversationOut,
             responses=COMMON_ERRORS)  # fmt: skip
async def mark_read(
    conversation_id: uuid.UUID, principal: Reader, session: DbSession
) -> ConversationOut:
    conversation = await _service(session, principal).mark_read(conversation_id)
    return ConversationOut.model_validate(conversation)


@router.get("/conversations/{conversation_id}/messages", response_model=Page[MessageOut],
            responses=COMMON_ERRORS)  # fmt: skip
async def list_messages(
    conversation_id: uuid.UUID, principal: Reader, session: DbSession, paging: Paging
) -> Page[MessageOut]:
    """Messages and internal notes, newest first."""
    rows, cursor = await _service(session, principal).list_messages(conversation_id, paging)
    return Page[MessageOut](items=[MessageOut.model_validate(r) for r in rows], next_cursor=cursor)


@router.post("/conversations/{conversation_id}/messages", status_code=status.HTTP_201_CREATED,
             response_model=MessageOut, responses=COMMON_ERRORS)  # fmt: skip
async def post_message(
    conversation_id: uuid.UUID, body: MessageIn, principal: Writer, session: DbSession
) -> MessageOut:
    """A reply, queued for the conversation's channel (status ``queued`` → ``sent``), or with
    ``private`` an internal note that the customer never sees."""
    message = await _service(session, principal).reply(conversation_id, body)
    return MessageOut.model_validate(message)


@router.get(
    "/conversations/{conversation_id}/messages/{message_id}/attachments/{index}",
    response_class=StreamingResponse, responses={**COMMON_ERRORS, 200: attachments.OPENAPI_200},
)  # fmt: skip
async def download_attachment(
    conversation_id: uuid.UUID, message_id: uuid.UUID, principal: Reader, session: DbSession,
    index: Annotated[int, Path(ge=0, le=999, description="Position in message.attachments")],
    inline: Annotated[bool, Query(description="Show a raster image inline")] = False,
) -> StreamingResponse:  # fmt: skip
    """The file of one attachment (audited): images and PDF as their type, anything else as
    ``application/octet-stream``; always a download unless ``inline`` (raster images only)."""
    return await attachments.download(session, principal, conversation_id, message_id, index,
                                      inline=inline)  # fmt: skip


# --- canned responses ------------------------------------------------------------------------


@router.get("/canned-responses", response_model=Page[CannedOut], responses=COMMON_ERRORS)
async def list_canned(
    principal: Reader, session: DbSession, paging: Paging,
    q: Annotated[str | None, Query(max_length=50, description="Part of shortcut or title")] = None,
) -> Page[CannedOut]:  # fmt: skip
    rows, cursor = await CannedService(session, principal).find(paging, q)
    return Page[CannedOut](items=[CannedOut.model_validate(r) for r in rows], next_cursor=cursor)


@router.post("/canned-responses", status_code=status.HTTP_201_CREATED, response_model=CannedOut,
             responses=CONFLICTS)  # fmt: skip
async def create_canned(body: CannedIn, principal: CannedAdmin, session: DbSession) -> CannedOut:
    return CannedOut.model_validate(await CannedService(session, principal).create(body))


@router.patch("/canned-responses/{canned_id}", response_model=CannedOut, responses=CONFLICTS)
async def update_canned(
    canned_id: uuid.UUID, body: CannedPatch, principal: CannedAdmin, session: DbSession
) -> CannedOut:
    return CannedOut.model_validate(await CannedService(session, principal).update(canned_id, body))


@router.delete("/canned-responses/{canned_id}", status_code=status.HTTP_204_NO_CONTENT,
               responses=COMMON_ERRORS)  # fmt: skip
async def delete_canned(canned_id: uuid.UUID, principal: CannedAdmin, session: DbSession) -> None:
    await CannedService(session, principal).delete(canned_id)


@router.post("/canned-responses/{canned_id}/render", response_model=RenderOut,
             responses=COMMON_ERRORS)  # fmt: skip
async def render_canned(
    canned_id: uuid.UUID, body: RenderIn, principal: Reader, session: DbSession
) -> RenderOut:
    """The text with its variables filled for one conversation (customer data masked by role)."""
    text, missing = await CannedService(session, principal).render(canned_id, body.conversation_id)
    return RenderOut(text=text, missing=missing)
