"""Conversation queries (tenant- and department-scoped by the session guard)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select

from relaydesk.conversations.models import CannedResponse, Conversation, Inbox, Message
from relaydesk.kit.pagination import PageParams
from relaydesk.kit.repository import Repository


@dataclass(frozen=True)
class ConversationFilters:
    #: "me" (needs user_id), "unassigned", or a user id
    assignee: str | None = None
    user_id: uuid.UUID | None = None
    team_id: uuid.UUID | None = None
    status: str | None = None
    channel: str | None = None
    priority: str | None = None
    inbox_id: uuid.UUID | None = None
    customer_id: uuid.UUID | None = None


class InboxRepository(Repository[Inbox]):
    model = Inbox
    noun = "inbox"

    async def by_name(self, name: str) -> Inbox | None:
        return await self.one_or_none(select(Inbox).where(Inbox.name == name))


class ConversationRepository(Repository[Conversation]):
    model = Conversation
    noun = "conversation"

    def filtered(self, f: ConversationFilters) -> Select[Any]:
        stmt = select(Conversation)
        c = Conversation
        if f.assignee == "unassigned":
            stmt = stmt.where(c.assignee_id.is_(None))
        elif f.assignee == "me":
            stmt = stmt.where(c.assignee_id == f.user_id)
        elif f.assignee is not None:
            stmt = stmt.where(c.assignee_id == uuid.UUID(f.assignee))
        pairs = ((c.team_id, f.team_id), (c.status, f.status), (c.channel, f.channel),
                 (c.priority, f.priority), (c.inbox_id, f.inbox_id),
                 (c.customer_id, f.customer_id))  # fmt: skip
        for column, value in pairs:
            if value is not None:
                stmt = stmt.where(column == value)
        return stmt

    async def list_page(
        self, f: ConversationFilters, params: PageParams
    ) -> tuple[Sequence[Conversation], str | None]:
        return await self.page(self.filtered(f), params)

    async def current_for(
        self, inbox_id: uuid.UUID, customer_id: uuid.UUID, thread_key: str | None
    ) -> Conversation | None:
        """The customer's latest conversation in the inbox (and thread, if the channel has one)."""
        stmt = select(Conversation).where(
            Conversation.inbox_id == inbox_id, Conversation.customer_id == customer_id
        )
        if thread_key is not None:
            stmt = stmt.where(Conversation.thread_key == thread_key)
        stmt = stmt.order_by(Conversation.id.desc()).limit(1)
        return await self.one_or_none(stmt)


class MessageRepository(Repository[Message]):
    model = Message
    noun = "message"

    async def by_external_id(self, inbox_id: uuid.UUID, external_id: str) -> Message | None:
        return await self.one_or_none(
            select(Message).where(Message.inbox_id == inbox_id, Message.external_id == external_id)
        )

    async def conversation_page(
        self, conversation_id: uuid.UUID, params: PageParams, *, include_private: bool
    ) -> tuple[Sequence[Message], str | None]:
        stmt = select(Message).where(Message.conversation_id == conversation_id)
        if not include_private:
            stmt = stmt.where(Message.private.is_(False))
        return await self.page(stmt, params)


class CannedRepository(Repository[CannedResponse]):
    model = CannedResponse
    noun = "canned response"

    async def by_shortcut(self, shortcut: str) -> CannedResponse | None:
        return await self.one_or_none(
            select(CannedResponse).where(CannedResponse.shortcut == shortcut)
        )
