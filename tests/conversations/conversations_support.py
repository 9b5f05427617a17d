"""Helpers for the conversation tests: an inbox, a customer, and a customer message."""

from __future__ import annotations

import uuid
from typing import Any

from conftest import Org
from sqlalchemy import select

from relaydesk.audit.service import SYSTEM
from relaydesk.conversations.models import Conversation, Inbox, Message
from relaydesk.conversations.service import ConversationService
from relaydesk.customers.models import Customer
from relaydesk.events.models import OutboxEvent
from relaydesk.kit.db import Database


async def make_inbox(db: Database, org: Org, name: str = "官网在线客服",
                     channel: str = "web_chat", **fields: Any) -> uuid.UUID:  # fmt: skip
    async with db.job(org.id) as session:
        inbox = Inbox(tenant_id=org.id, name=name, channel=channel, **fields)
        session.add(inbox)
        await session.flush()
        return inbox.id


async def make_customer(db: Database, org: Org, name: str = "李雷") -> uuid.UUID:
    async with db.job(org.id) as session:
        customer = Customer(tenant_id=org.id, name=name, phone="+8613912345678")
        session.add(customer)
        await session.flush()
        return customer.id


async def customer_says(
    db: Database, org: Org, inbox_id: uuid.UUID, customer_id: uuid.UUID, text: str,
    **kwargs: Any,
) -> tuple[uuid.UUID, uuid.UUID, bool]:  # fmt: skip
    """What a channel does when a customer writes: (conversation id, message id, duplicate)."""
    async with db.job(org.id) as session:
        inbox = await session.get(Inbox, inbox_id)
        customer = await session.get(Customer, customer_id)
        assert inbox is not None and customer is not None
        conversation, message, duplicate = await ConversationService(session, SYSTEM).receive(
            inbox, customer, text, **kwargs
        )
        return conversation.id, message.id, duplicate


async def events(db: Database, org: Org, prefix: str = "") -> list[tuple[str, dict[str, Any]]]:
    async with db.job(org.id) as session:
        rows = await session.scalars(select(OutboxEvent).order_by(OutboxEvent.id))
        return [(r.type, r.payload) for r in rows if r.type.startswith(prefix)]


async def load(db: Database, org: Org, model: type[Any], id_: uuid.UUID) -> Any:
    async with db.job(org.id) as session:
        return await session.get(model, id_)


__all__ = ["Conversation", "Message", "customer_says", "events", "load", "make_customer",
           "make_inbox"]  # fmt: skip
