"""Sending agents' replies through the conversation's channel.

Each channel registers a :class:`ChannelAdapter` for its kind (``web_chat``, ``email``,
``sms``, ``voice``, ``api``). A reply is stored ``queued`` with a ``message.deliver`` job in the
same transaction; the job calls the adapter outside any transaction, then records ``sent``
(or ``delivered``) with the channel's message id, or the failure. A :class:`TransientFailure`
(server down, rate limited) keeps the message queued and retries with backoff, showing the
last error to the agent; any other failure marks it ``failed`` at once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Protocol

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.conversations.models import Conversation, Inbox, Message
from relaydesk.events.outbox import emit
from relaydesk.jobs import JobContext, RetryLater, job_handler
from relaydesk.kit.db import Database

log = structlog.get_logger(__name__)

__all__ = [
    "ChannelAdapter",
    "Delivered",
    "TransientFailure",
    "adapter_for",
    "register_adapter",
    "set_delivery_state",
]


@dataclass(frozen=True)
class Delivered:
    #: the channel's id for the message (e-mail Message-ID, gateway id)
    external_id: str | None = None
    #: "sent" (handed over) or "delivered" (the customer's device has it)
    status: str = "sent"


class TransientFailure(Exception):
    """The channel is unreachable or busy now; try again after ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Outgoing:
    """What an adapter needs, detached from the session."""

    tenant_id: uuid.UUID
    inbox_id: uuid.UUID
    inbox_settings: dict[str, Any]
    inbox_secrets: bytes | None
    conversation_id: uuid.UUID
    customer_id: uuid.UUID
    thread_key: str | None
    subject: str | None
    message_id: uuid.UUID
    text: str
    content_type: str
    content: dict[str, Any]
    attachments: list[dict[str, Any]]


class ChannelAdapter(Protocol):
    kind: str

    async def deliver(self, db: Database, outgoing: Outgoing) -> Delivered: ...


_ADAPTERS: dict[str, ChannelAdapter] = {}


def register_adapter(adapter: ChannelAdapter) -> ChannelAdapter:
    _ADAPTERS[adapter.kind] = adapter
    return adapter


def adapter_for(kind: str) -> ChannelAdapter | None:
    return _ADAPTERS.get(kind)


async def _load(db: Database, tenant_id: uuid.UUID, message_id: uuid.UUID) -> Outgoing | None:
    async with db.job(tenant_id) as session:
        message = await session.get(Message, message_id)
        if message is None or message.status not in ("queued",):
            return None  # deleted, or already sent by an earlier run of this job
        conversation = await session.get(Conversation, message.conversation_id)
        inbox = await session.get(Inbox, message.inbox_id)
        if conversation is None or inbox is None:
            return None
        return Outgoing(
            tenant_id=tenant_id, inbox_id=inbox.id, inbox_settings=dict(inbox.settings or {}),
            inbox_secrets=inbox.secrets_encrypted, conversation_id=conversation.id,
            customer_id=conversation.customer_id, thread_key=conversation.thread_key,
            subject=conversation.subject, message_id=message.id, text=message.body,
            content_type=message.content_type, content=dict(message.content or {}),
            attachments=list(message.attachments or []),
        )  # fmt: skip


async def set_delivery_state(
    session: AsyncSession, message: Message, status: str, error: str | None, **values: Any
) -> None:
    """Set a reply's delivery state (and e.g. ``external_id``) in the caller's transaction;
    when the state or its error changed, emit ``message.status_changed`` with it."""
    previous, previous_error = message.status, message.error
    message.status, message.error = status, error
    for key, value in values.items():
        setattr(message, key, value)
    if (status, error) == (previous, previous_error):
        return
    conversation = await session.get(Conversation, message.conversation_id)
    inbox = await session.get(Inbox, message.inbox_id)
    await emit(session, "message.status_changed", {
        "conversation_id": str(message.conversation_id), "message_id": str(message.id),
        "inbox_id": str(message.inbox_id), "channel": inbox.channel if inbox else "?",
        "customer_id": str(conversation.customer_id) if conversation else "",
        "status": status, "previous_status": previous, "error": error,
        "department_id": str(conversation.department_id)
        if conversation and conversation.department_id else None,
    }, tenant_id=message.tenant_id)  # fmt: skip


async def _record(db: Database, tenant_id: uuid.UUID, message_id: uuid.UUID,
                  status: str | None = None, error: str | None = None,
                  **values: Any) -> None:  # fmt: skip
    async with db.job(tenant_id) as session:
        message = await session.get(Message, message_id)
        if message is not None:
            await set_delivery_state(session, message, status or message.status, error, **values)


@job_handler("message.deliver")
async def deliver_message(ctx: JobContext, payload: dict[str, Any]) -> None:
    if ctx.tenant_id is None:
        return
    message_id = uuid.UUID(payload["message_id"])
    outgoing = await _load(ctx.db, ctx.tenant_id, message_id)
    if outgoing is None:
        return
    async with ctx.db.job(ctx.tenant_id) as session:
        inbox = await session.get(Inbox, outgoing.inbox_id)
        channel = inbox.channel if inbox is not None else "?"
    adapter = adapter_for(channel)
    if adapter is None:
        await _record(ctx.db, ctx.tenant_id, message_id, status="failed",
                      error=f"no adapter for channel {channel!r}")  # fmt: skip
        return
    try:
        result = await adapter.deliver(ctx.db, outgoing)
    except TransientFailure as exc:
        error = f"{exc} (attempt {ctx.attempt}, retrying)"
        if ctx.attempt >= ctx.max_attempts:
            await _record(ctx.db, ctx.tenant_id, message_id, status="failed", error=str(exc)[:500])
            return
        await _record(ctx.db, ctx.tenant_id, message_id, error=error[:500])
        delay = exc.retry_after or min(600.0, 5.0 * 2 ** (ctx.attempt - 1))
        raise RetryLater(delay, str(exc)) from None
    except Exception as exc:
        log.warning("message.delivery_failed", channel=channel, error=str(exc))
        await _record(ctx.db, ctx.tenant_id, message_id, status="failed", error=str(exc)[:500])
        return
    await _record(ctx.db, ctx.tenant_id, message_id, status=result.status,
                  external_id=result.external_id, error=None)  # fmt: skip
