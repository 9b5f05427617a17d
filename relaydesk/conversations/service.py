"""Conversation use cases: receive from a channel, reply, note, assign, status, read.

Every state change writes its event through the outbox in the same unit of work
(``conversation.created``, ``message.received``, ``message.sent``, ``conversation.assigned``,
``conversation.status_changed``). Outbound replies are queued as ``message.deliver`` jobs that
the channel's adapter sends (:mod:`relaydesk.conversations.delivery`), so a mail server or
gateway that is down delays a reply, it never loses it. Services flush, never commit.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.audit.service import Actor
from relaydesk.auth.models import User
from relaydesk.conversations.models import Conversation, Inbox, Message
from relaydesk.conversations.repository import (
    ConversationFilters,
    ConversationRepository,
    InboxRepository,
    MessageRepository,
)
from relaydesk.conversations.schemas import (
    AssignIn,
    ConversationIn,
    ConversationPatch,
    MessageIn,
)
from relaydesk.customers.merge import register_merge_hook
from relaydesk.customers.models import Customer
from relaydesk.customers.repository import CustomerRepository
from relaydesk.errors import Conflict, ValidationFailed
from relaydesk.events.outbox import emit
from relaydesk.jobs import enqueue
from relaydesk.kit.db import utcnow
from relaydesk.kit.pagination import PageParams
from relaydesk.tenancy.models import Team

#: a customer writing again within this many hours reopens a resolved conversation
REOPEN_HOURS = 24


def invalid_field(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(
        f"{field}: {message}", details=[{"loc": ["body", field], "msg": message,
                                         "type": "value_error"}]
    )  # fmt: skip


def _sid(value: uuid.UUID | None) -> str | None:
    return str(value) if value is not None else None


def message_payload(conversation: Conversation, message: Message) -> dict[str, Any]:
    return {
        "conversation_id": str(conversation.id), "message_id": str(message.id),
        "inbox_id": str(conversation.inbox_id), "channel": conversation.channel,
        "customer_id": str(conversation.customer_id), "author_type": message.author_type,
        "author_id": message.author_id, "content_type": message.content_type,
        "text": message.body, "attachments": len(message.attachments or []),
        "department_id": _sid(conversation.department_id),
    }  # fmt: skip


class ConversationService:
    def __init__(
        self, session: AsyncSession, actor: Actor, *, user_id: uuid.UUID | None = None
    ) -> None:
        self.session, self.actor, self.user_id = session, actor, user_id
        self.repo = ConversationRepository(session)
        self.messages = MessageRepository(session)

    # --- reading ------------------------------------------------------------------------

    async def get(self, conversation_id: uuid.UUID) -> Conversation:
        return await self.repo.get_or_404(conversation_id)

    async def find(
        self, filters: ConversationFilters, params: PageParams
    ) -> tuple[Sequence[Conversation], str | None]:
        return await self.repo.list_page(filters, params)

    async def list_messages(
        self, conversation_id: uuid.UUID, params: PageParams
    ) -> tuple[Sequence[Message], str | None]:
        await self.get(conversation_id)
        return await self.messages.conversation_page(conversation_id, params, include_private=True)

    # --- from a channel -----------------------------------------------------------------

    async def receive(
        self,
        inbox: Inbox,
        customer: Customer,
        text: str,
        *,
        content_type: str = "text",
        content: dict[str, Any] | None = None,
        attachments: list[dict[str, Any]] | None = None,
        external_id: str | None = None,
        thread_key: str | None = None,
        subject: str | None = None,
        author_type: str = "customer",
    ) -> tuple[Conversation, Message, bool]:
        """A customer's message arrives: returns (conversation, message, duplicate).

        The message joins the customer's current conversation in this inbox (and thread): a
        pending or snoozed one opens again, a resolved one reopens if the customer writes
        within :data:`REOPEN_HOURS`, otherwise a new conversation starts. A message whose
        ``external_id`` was already received is not stored again (``duplicate`` is True).
        """
        if not inbox.enabled:
            raise Conflict(f"inbox {inbox.name!r} is disabled")
        if external_id is not None:
            known = await self.messages.by_external_id(inbox.id, external_id)
            if known is not None:
                return await self.get(known.conversation_id), known, True
        now = utcnow()
        conversation = await self.repo.current_for(inbox.id, customer.id, thread_key)
        reopen_until = dt.timedelta(hours=REOPEN_HOURS)
        if (
            conversation is not None
            and conversation.status == "resolved"
            and (conversation.resolved_at is None or now - conversation.resolved_at > reopen_until)
        ):
            conversation = None
        if conversation is None:
            conversation = await self._start(inbox, customer, thread_key, subject)
        elif conversation.status != "open":
            await self._set_status(conversation, "open", by=None)
        message = Message(
            tenant_id=inbox.tenant_id, conversation_id=conversation.id, inbox_id=inbox.id,
            direction="in", author_type=author_type, author_id=str(customer.id),
            content_type=content_type, body=text, content=content or {},
            attachments=attachments or [], external_id=external_id, status="received",
        )  # fmt: skip
        self.session.add(message)
        conversation.last_message_at = now
        conversation.last_customer_message_at = now
        conversation.unread_count += 1
        await self.session.flush()
        await emit(self.session, "message.received", message_payload(conversation, message),
                   tenant_id=inbox.tenant_id, source={"kind": "channel", "channel": inbox.channel,
                                                      "inbox_id": str(inbox.id)})  # fmt: skip
        return conversation, message, False

    async def _start(
        self, inbox: Inbox, customer: Customer, thread_key: str | None, subject: str | None
    ) -> Conversation:
        department_id = inbox.department_id
        if department_id is None and inbox.team_id is not None:
            team = await self.session.get(Team, inbox.team_id)
            department_id = team.department_id if team is not None else None
        conversation = Conversation(
            tenant_id=inbox.tenant_id, inbox_id=inbox.id, channel=inbox.channel,
            customer_id=customer.id, team_id=inbox.team_id, department_id=department_id,
            thread_key=thread_key, subject=subject, status="open",
        )  # fmt: skip
        self.session.add(conversation)
        await self.session.flush()
        await emit(self.session, "conversation.created", {
            "conversation_id": str(conversation.id), "inbox_id": str(inbox.id),
            "channel": inbox.channel, "customer_id": str(customer.id), "subject": subject,
            "team_id": _sid(inbox.team_id), "department_id": _sid(department_id),
        }, tenant_id=inbox.tenant_id)  # fmt: skip
        return conversation

    # --- agents -------------------------------------------------------------------------

    async def start(self, body: ConversationIn, *, author_type: str = "agent") -> Conversation:
        """An agent starts a conversation (assigned to them), optionally with a first message."""
        inbox = await InboxRepository(self.session).get(body.inbox_id)
        if inbox is None:
            raise invalid_field("inbox_id", "no such inbox")
        if not inbox.enabled:
            raise invalid_field("inbox_id", f"inbox {inbox.name!r} is disabled")
        customer = await CustomerRepository(self.session).get(body.customer_id)
        if customer is None:
            raise invalid_field("customer_id", "no such customer")
        if customer.merged_into_id is not None:
            merged = f"merged into {customer.merged_into_id}: use that one"
            raise invalid_field("customer_id", merged)
        conversation = await self._start(inbox, customer, None, body.subject)
        if self.user_id is not None:
            conversation.assignee_id = self.user_id
        if body.message is not None:
            await self.reply(conversation.id, body.message, author_type=author_type)
        await self.session.flush()
        return conversation

    async def reply(
        self, conversation_id: uuid.UUID, body: MessageIn, *, author_type: str = "agent"
    ) -> Message:
        """A reply (queued for the channel) or, with ``private``, an internal note."""
        conversation = await self.get(conversation_id)
        now = utcnow()
        message = Message(
            tenant_id=conversation.tenant_id, conversation_id=conversation.id,
            inbox_id=conversation.inbox_id,
            direction="internal" if body.private else "out", author_type=author_type,
            author_id=self.actor.id, content_type=body.content_type, body=body.text,
            content=body.content, private=body.private,
            status="sent" if body.private else "queued",
        )  # fmt: skip
        self.session.add(message)
        await self.session.flush()
        if body.private:
            return message
        conversation.last_message_at = now
        if conversation.first_response_at is None:
            conversation.first_response_at = now
        if conversation.status in ("pending", "snoozed"):
            await self._set_status(conversation, "open", by=self.actor.id)
        await enqueue(self.session, "message.deliver", {"message_id": str(message.id)},
                      tenant_id=conversation.tenant_id, dedupe_key=f"deliver:{message.id}",
                      max_attempts=12)  # fmt: skip
        await emit(self.session, "message.sent", message_payload(conversation, message),
                   tenant_id=conversation.tenant_id)  # fmt: skip
        return message

    async def assign(self, conversation_id: uuid.UUID, body: AssignIn) -> Conversation:
        conversation = await self.get(conversation_id)
        fields = body.model_fields_set
        assignee, team = conversation.assignee_id, conversation.team_id
        if "assignee_id" in fields:
            if body.assignee_id is not None:
                user = await self.session.get(User, body.assignee_id)
                if user is None or not user.is_active:
                    raise invalid_field("assignee_id", "no such active user")
            assignee = body.assignee_id
        if "team_id" in fields:
            if body.team_id is not None and await self.session.get(Team, body.team_id) is None:
                raise invalid_field("team_id", "no such team")
            team = body.team_id
        if not fields - {"note"}:
            raise invalid_field("assignee_id", "give assignee_id and/or team_id")
        previous = (conversation.assignee_id, conversation.team_id)
        conversation.assignee_id, conversation.team_id = assignee, team
        if body.note:
            self.session.add(Message(
                tenant_id=conversation.tenant_id, conversation_id=conversation.id,
                inbox_id=conversation.inbox_id, direction="internal", author_type="agent",
                author_id=self.actor.id, body=body.note, private=True, status="sent",
                content={"kind": "transfer", "assignee_id": _sid(assignee),
                         "team_id": _sid(team)},
            ))  # fmt: skip
        await self.session.flush()
        await emit(self.session, "conversation.assigned", {
            "conversation_id": str(conversation.id), "customer_id": str(conversation.customer_id),
            "assignee_id": _sid(assignee), "team_id": _sid(team),
            "previous_assignee_id": _sid(previous[0]), "previous_team_id": _sid(previous[1]),
            "note": body.note, "by": self.actor.id,
            "department_id": _sid(conversation.department_id),
        }, tenant_id=conversation.tenant_id)  # fmt: skip
        return conversation

    async def update(self, conversation_id: uuid.UUID, body: ConversationPatch) -> Conversation:
        conversation = await self.get(conversation_id)
        changes = body.model_dump(exclude_unset=True)
        status = changes.pop("status", None)
        snooze = changes.pop("snoozed_until", None)
        if status == "snoozed":
            if snooze is None:
                raise invalid_field("snoozed_until", "required when status is snoozed")
            if snooze <= utcnow():
                raise invalid_field("snoozed_until", "must be in the future")
        elif snooze is not None:
            raise invalid_field("snoozed_until", "only with status snoozed")
        for key in ("priority", "tags"):
            if key in changes and changes[key] is None:
                raise invalid_field(key, "may not be null")
        if "tags" in changes:
            changes["tags"] = sorted({t.strip() for t in changes["tags"] if t.strip()})
        for key, value in changes.items():
            setattr(conversation, key, value)
        if status is not None:
            await self._set_status(conversation, status, by=self.actor.id, snoozed_until=snooze)
        await self.session.flush()
        return conversation

    async def _set_status(
        self, conversation: Conversation, status: str, *, by: str | None,
        snoozed_until: dt.datetime | None = None,
    ) -> None:  # fmt: skip
        previous = conversation.status
        conversation.snoozed_until = snoozed_until if status == "snoozed" else None
        if previous == status:
            return
        conversation.status = status
        conversation.resolved_at = utcnow() if status == "resolved" else None
        if previous == "resolved":
            conversation.first_response_at = None  # a reopened conversation waits again
        await self.session.flush()
        await emit(self.session, "conversation.status_changed", {
            "conversation_id": str(conversation.id), "customer_id": str(conversation.customer_id),
            "status": status, "previous_status": previous, "by": by,
            "department_id": _sid(conversation.department_id),
        }, tenant_id=conversation.tenant_id)  # fmt: skip

    async def mark_read(self, conversation_id: uuid.UUID) -> Conversation:
        conversation = await self.get(conversation_id)
        conversation.unread_count = 0
        await self.session.flush()
        return conversation

    async def wake_snoozed(self, now: dt.datetime | None = None) -> int:
        """Open the tenant's snoozed conversations whose time has come (a periodic job)."""
        now = now or utcnow()
        due = await self.repo.all(select(Conversation).where(
            Conversation.status == "snoozed", Conversation.snoozed_until <= now))  # fmt: skip
        for conversation in due:
            await self._set_status(conversation, "open", by=None)
        return len(due)


@register_merge_hook
async def _move_conversations(
    session: AsyncSession, survivor_id: uuid.UUID, merged_ids: Sequence[uuid.UUID]
) -> None:
    """A merge moves the merged customers' conversations to the survivor."""
    await session.execute(
        update(Conversation)
        .where(Conversation.customer_id.in_(list(merged_ids)))
        .values(customer_id=survivor_id)
        .execution_options(synchronize_session=False)
    )
