"""Web chat use cases: a visitor's session, messages in, history on resume, receipts, files.

A visitor becomes a customer through identity resolution (:mod:`relaydesk.customers.resolution`)
at the pre-chat form, at a verified session, or at their first message, whichever comes first:
an anonymous visitor's id (ours, signed) is a verified ``visitor`` identity; a user id signed
by the site (``user_hash``) a verified ``app_user`` identity; what the pre-chat form collected
is unverified. Messages go through :meth:`ConversationService.receive` like any channel's.
Each function is one unit of work (``db.job``); broadcasting is left to the caller, after
the commit.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.channels import inbox_secrets
from relaydesk.channels.webchat import repository as repo
from relaydesk.channels.webchat.runtime import WebChatRuntime
from relaydesk.channels.webchat.schemas import SessionIn, SessionOut
from relaydesk.channels.webchat.settings import (
    IDENTITY_SECRET,
    WebChatSettings,
    load_settings,
    origin_allowed,
)
from relaydesk.channels.webchat.tokens import TokenError, VisitorSession
from relaydesk.channels.webchat.visitors import (
    actor,
    check_profile,
    invalid,
    resolve_customer,
    verify_user,
    visitor_key,
)
from relaydesk.conversations.hot import NotAppended, append_to_open
from relaydesk.conversations.models import Conversation, Inbox, Message
from relaydesk.conversations.schemas import ConversationPatch
from relaydesk.conversations.service import ConversationService
from relaydesk.errors import Forbidden, NotFound, Unauthorized, ValidationFailed
from relaydesk.kit.db import Database, mark_system, utcnow

__all__ = [
    "Posted",
    "PublicInbox",
    "Resumed",
    "check_origin",
    "is_online",
    "load_inbox",
    "mark_read",
    "post_message",
    "resume",
    "start_session",
    "visitor_session",
    "wire",
]

HISTORY_LIMIT = 50
_SOURCE = {"kind": "channel", "channel": "web_chat"}
_CLIENT_ID = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")


@dataclass(frozen=True)
class PublicInbox:
    """A web chat inbox as its public endpoints see it (detached from any session)."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    team_id: uuid.UUID | None
    settings: WebChatSettings
    secrets_blob: bytes | None

    def identity_secret(self, runtime: WebChatRuntime) -> str | None:
        secrets = inbox_secrets(
            runtime.keyring, blob=self.secrets_blob, tenant_id=self.tenant_id, inbox_id=self.id
        )
        value = secrets.get(IDENTITY_SECRET)
        return str(value) if value else None


async def load_inbox(db: Database, inbox_id: uuid.UUID) -> PublicInbox:
    async with db.request_session("GET") as session:  # a read: no write lock on SQLite
        mark_system(session)
        try:
            inbox = await repo.find_inbox(session, inbox_id)
            if inbox is None or not inbox.enabled:
                raise NotFound("this chat is not available")
            return PublicInbox(
                inbox.id,
                inbox.tenant_id,
                inbox.name,
                inbox.team_id,
                load_settings(inbox.settings),
                inbox.secrets_encrypted,
            )
        finally:
            await session.rollback()


def check_origin(inbox: PublicInbox, origin: str | None, own_host: str | None) -> None:
    """Pages of other sites than the inbox's allowed origins may not use its chat."""
    if not origin:
        raise Forbidden("the Origin header is required", code="origin_required")
    if not origin_allowed(inbox.settings, origin, own_host):
        raise Forbidden(
            f"the site {origin} may not use this chat: add it to the inbox's allowed origins",
            code="origin_not_allowed",
        )


def _in_hours(inbox: PublicInbox, now: dt.datetime | None = None) -> bool:
    hours = inbox.settings.business_hours
    return hours is None or hours.open_at(now or utcnow())


async def is_online(db: Database, inbox: PublicInbox, now: dt.datetime | None = None) -> bool:
    """Within business hours (if set) and an agent of the inbox's team is online."""
    if not _in_hours(inbox, now):
        return False
    async with db.reader(inbox.tenant_id) as session:
        return await repo.agents_online(session, inbox.tenant_id, inbox.team_id)


# --- sessions -------------------------------------------------------------------------------


async def start_session(
    db: Database, runtime: WebChatRuntime, inbox: PublicInbox, body: SessionIn
) -> SessionOut:
    """A visitor (new, returning, or the site's verified user) opens the chat."""
    verified_user = verify_user(inbox, runtime, body)
    claimed = body.user_id if verified_user is None else None
    previous: VisitorSession | None = None
    if body.token:
        try:
            previous = runtime.signer.visitor(body.token, inbox.id)
        except TokenError:
            previous = None  # a stale or foreign token: start afresh
    same_person = (
        previous is not None
        and previous.user_id == verified_user
        and (verified_user is not None or previous.claimed_user_id == claimed)
    )
    visitor = VisitorSession(
        inbox.id,
        previous.visitor_id if previous and same_person else uuid.uuid4().hex,
        verified_user,
        claimed,
    )
    check_profile(body)
    given = {f for f in ("name", "phone", "email") if getattr(body, f)}
    async with db.job(inbox.tenant_id) as session:
        customer = await repo.customer_by_identity(session, visitor_key(visitor, inbox.settings))
        if given and customer is None and verified_user is None:
            missing = [f for f in inbox.settings.prechat.required() if f not in given]
            if missing:
                raise invalid(missing[0], "required by the pre-chat form", "missing")
        if given or (verified_user is not None and customer is None):
            customer = await resolve_customer(session, inbox, visitor, body)
    prechat = bool(inbox.settings.prechat.required()) and customer is None
    return SessionOut(
        token=runtime.signer.visitor_token(visitor),
        visitor_id=visitor.visitor_id,
        verified=verified_user is not None,
        prechat_required=prechat and verified_user is None,
        online=await is_online(db, inbox),
    )


def visitor_session(runtime: WebChatRuntime, inbox: PublicInbox, token: str) -> VisitorSession:
    try:
        return runtime.signer.visitor(token, inbox.id)
    except TokenError as exc:
        raise Unauthorized(f"visitor token refused: {exc}", code="invalid_visitor") from None


# --- messages -------------------------------------------------------------------------------


def wire(runtime: WebChatRuntime, message: Message) -> dict[str, Any]:
    """A message as the widget sees it (attachments with short-lived signed links)."""
    attachments = []
    for item in message.attachments or []:
        link = runtime.signer.file_link(message.inbox_id, item)
        attachments.append(
            {
                "filename": item.get("filename"),
                "size": item.get("size"),
                "content_type": item.get("content_type"),
                "url": f"/widget/files/{link}" if link else None,
            }
        )
    author = {"customer": "visitor"}.get(message.author_type, message.author_type)
    return {
        "id": str(message.id),
        "conversation_id": str(message.conversation_id),
        "direction": message.direction,
        "author": author,
        "text": message.body,
        "content_type": message.content_type,
        "attachments": attachments,
        "status": message.status,
        "created_at": message.created_at.isoformat(),
    }


@dataclass(frozen=True)
class Posted:
    message: dict[str, Any]
    customer_id: uuid.UUID
    conversation_id: uuid.UUID
    department_id: uuid.UUID | None
    duplicate: bool
    #: nobody could answer now: the conversation waits as pending
    offline: bool


async def post_message(
    db: Database,
    runtime: WebChatRuntime,
    inbox: PublicInbox,
    visitor: VisitorSession,
    text: str,
    uploads: Sequence[str] = (),
    client_id: str | None = None,
) -> Posted:
    """The visitor's message in: joins or starts their conversation (pending when offline)."""
    settings = inbox.settings
    text = text.strip()
    if len(text) > settings.max_message_chars:
        raise ValidationFailed(
            f"text: the message is too long ({len(text)} characters, at most "
            f"{settings.max_message_chars})",
            code="message_too_long",
            details=[
                {
                    "loc": ["text"],
                    "msg": f"at most {settings.max_message_chars} characters",
                    "type": "too_long",
                }
            ],
        )
    if len(uploads) > 10:
        raise invalid("attachments", "at most 10 files per message", "too_long")
    try:
        files = [runtime.signer.upload(u, inbox.id, visitor.visitor_id).entry() for u in uploads]
    except (TokenError, KeyError, ValueError) as exc:
        raise invalid("attachments", f"upload refused: {exc}") from None
    if not text and not files:
        raise invalid("text", "a message needs text or a file", "missing")
    if client_id is not None and not _CLIENT_ID.match(client_id):
        raise invalid("client_id", "1-64 letters, digits, '_' or '-'")
    content_type = "text"
    if not text:
        images = all(f["content_type"].startswith("image/") for f in files)
        content_type = "image" if images else "file"
    external = f"webchat:{visitor.visitor_id}:{client_id}" if client_id else None
    message = _Incoming(text, content_type, files, external)
    try:
        async with db.job(inbox.tenant_id) as session:
            return await _post(session, runtime, inbox, visitor, message, hot=True)
    except NotAppended:  # a duplicate, found after the hot path's first write: rolled back
        async with db.job(inbox.tenant_id) as session:
            return await _post(session, runtime, inbox, visitor, message, hot=False)


@dataclass(frozen=True)
class _Incoming:
    text: str
    content_type: str
    files: list[dict[str, Any]]
    external_id: str | None


async def _post(
    session: AsyncSession,
    runtime: WebChatRuntime,
    inbox: PublicInbox,
    visitor: VisitorSession,
    incoming: _Incoming,
    *,
    hot: bool,
) -> Posted:
    """One unit of work: the hot path when an agent is online and the visitor's conversation
    is open (:mod:`relaydesk.conversations.hot`), otherwise :meth:`ConversationService.receive`."""
    settings = inbox.settings
    # as is_online(), in this unit of work: one session per message, not two
    online = _in_hours(inbox) and await repo.agents_online(
        session, inbox.tenant_id, inbox.team_id, recent=True
    )
    if hot and online:
        try:
            done = await append_to_open(
                session, tenant_id=inbox.tenant_id, inbox_id=inbox.id,
                identity=visitor_key(visitor, settings), text=incoming.text,
                content_type=incoming.content_type, attachments=incoming.files,
                external_id=incoming.external_id, source=_SOURCE | {"inbox_id": str(inbox.id)},
            )  # fmt: skip
        except NotAppended as exc:
            if exc.rollback:
                raise
        else:
            sent = Message(
                id=done.message_id, conversation_id=done.conversation_id, inbox_id=inbox.id,
                direction="in", author_type="customer", body=incoming.text,
                content_type=incoming.content_type, attachments=incoming.files,
                status="received", created_at=done.created_at,
            )  # fmt: skip
            return Posted(wire(runtime, sent), done.customer_id, done.conversation_id,
                          done.department_id, False, False)  # fmt: skip
    customer = await repo.customer_by_identity(session, visitor_key(visitor, settings))
    if customer is None:
        if settings.prechat.required() and visitor.user_id is None:
            raise ValidationFailed("fill in the pre-chat form first", code="prechat_required")
        customer = await resolve_customer(session, inbox, visitor, None)
    row = await session.get(Inbox, inbox.id)
    assert row is not None
    service = ConversationService(session, actor(visitor))
    conversation, message, duplicate = await service.receive(
        row,
        customer,
        incoming.text,
        content_type=incoming.content_type,
        attachments=incoming.files,
        external_id=incoming.external_id,
    )
    if not online and not duplicate and conversation.status != "pending":
        await service.update(conversation.id, ConversationPatch(status="pending"))
    return Posted(
        wire(runtime, message),
        customer.id,
        conversation.id,
        conversation.department_id,
        duplicate,
        not online,
    )


@dataclass(frozen=True)
class Resumed:
    customer_id: uuid.UUID | None
    messages: list[dict[str, Any]]
    #: more messages were missed than sent: the widget shows only the latest
    truncated: bool
    #: (id, department) of the visitor's latest conversation
    conversation: tuple[uuid.UUID, uuid.UUID | None] | None


async def resume(
    db: Database,
    runtime: WebChatRuntime,
    inbox: PublicInbox,
    visitor: VisitorSession,
    after: uuid.UUID | None,
) -> Resumed:
    """What the visitor missed after ``after`` (or the recent history); replies they now have
    become ``delivered``."""
    async with db.job(inbox.tenant_id) as session:
        customer = await repo.customer_by_identity(session, visitor_key(visitor, inbox.settings))
        if customer is None:
            return Resumed(None, [], False, None)
        rows, more = await repo.visitor_messages(
            session, inbox.id, customer.id, after, HISTORY_LIMIT
        )
        current = await session.get(Conversation, rows[-1].conversation_id) if rows else None
        if rows:
            await repo.mark_out_messages(
                session, inbox.id, customer.id, rows[-1].id, "delivered", ("sent",)
            )
        messages = [wire(runtime, m) for m in rows]
        for item in messages:
            if item["direction"] == "out" and item["status"] == "sent":
                item["status"] = "delivered"
        return Resumed(
            customer.id,
            messages,
            more and after is not None,
            (current.id, current.department_id) if current else None,
        )


async def mark_read(
    db: Database, inbox: PublicInbox, visitor: VisitorSession, up_to: uuid.UUID
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """The visitor has seen the replies up to ``up_to``: they become ``read``."""
    async with db.job(inbox.tenant_id) as session:
        customer = await repo.customer_by_identity(session, visitor_key(visitor, inbox.settings))
        if customer is None:
            return []
        return await repo.mark_out_messages(
            session, inbox.id, customer.id, up_to, "read", ("queued", "sent", "delivered")
        )
