"""Queries of the panels, the event links and the timeline (tenant-guarded like all others)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import and_, or_, select, update

from relaydesk.conversations.models import Conversation, Message
from relaydesk.customer360.models import CustomerEvent, CustomerPanel
from relaydesk.customers.identities import IdentityKey
from relaydesk.customers.models import Customer, CustomerIdentity
from relaydesk.events.models import OutboxEvent
from relaydesk.integrations.models import ConnectorInstance
from relaydesk.kit.repository import Repository

__all__ = ["CustomerEventRepository", "PanelRepository", "TimelineRepository"]


class PanelRepository(Repository[CustomerPanel]):
    model = CustomerPanel
    noun = "panel"

    async def by_key(self, key: str) -> CustomerPanel | None:
        return await self.one_or_none(self.select().where(CustomerPanel.key == key))

    async def ordered(self, *, enabled_only: bool = False) -> Sequence[CustomerPanel]:
        stmt = self.select().order_by(CustomerPanel.position, CustomerPanel.key)
        if enabled_only:
            stmt = stmt.where(CustomerPanel.enabled.is_(True))
        return await self.all(stmt)

    async def depending_on(self, key: str) -> Sequence[CustomerPanel]:
        return await self.all(self.select().where(CustomerPanel.source_panel == key))

    async def instances(self, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, ConnectorInstance]:
        wanted = set(ids)
        if not wanted:
            return {}
        rows = await self.session.scalars(
            select(ConnectorInstance).where(ConnectorInstance.id.in_(wanted))
        )
        return {row.id: row for row in rows}


class CustomerEventRepository(Repository[CustomerEvent]):
    model = CustomerEvent
    noun = "customer event"

    async def linked(self, event_id: uuid.UUID) -> set[uuid.UUID]:
        rows = await self.session.scalars(
            select(CustomerEvent.customer_id).where(CustomerEvent.event_id == event_id)
        )
        return set(rows)

    async def trusted_holders(self, keys: Iterable[IdentityKey]) -> dict[uuid.UUID, IdentityKey]:
        """Customers holding one of ``keys`` verified or entered by staff (customer → key)."""
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return {}
        match = or_(*(
            and_(CustomerIdentity.kind == k.kind, CustomerIdentity.namespace == k.namespace,
                 CustomerIdentity.value == k.value)
            for k in wanted
        ))  # fmt: skip
        trusted = or_(CustomerIdentity.verified.is_(True), CustomerIdentity.origin == "staff")
        rows = await self.session.execute(
            select(CustomerIdentity.customer_id, CustomerIdentity.kind,
                   CustomerIdentity.namespace, CustomerIdentity.value)
            .where(match, trusted)
        )  # fmt: skip
        return {row[0]: IdentityKey(row[1], row[2], row[3]) for row in rows}

    async def external_holders(self, instance: str, value: str) -> dict[uuid.UUID, str]:
        """Customers holding external id ``value`` in namespace ``instance`` or
        ``instance:<id type>`` (trusted only): customer → namespace."""
        trusted = or_(CustomerIdentity.verified.is_(True), CustomerIdentity.origin == "staff")
        rows = await self.session.execute(
            select(CustomerIdentity.customer_id, CustomerIdentity.namespace).where(
                CustomerIdentity.kind == "external",
                CustomerIdentity.value == value,
                or_(CustomerIdentity.namespace == instance,
                    CustomerIdentity.namespace.startswith(f"{instance}:", autoescape=True)),
                trusted,
            )
        )  # fmt: skip
        return {row[0]: row[1] for row in rows}

    async def live_customer(self, customer_id: uuid.UUID) -> uuid.UUID | None:
        """The customer, or the one it was merged into; None when unknown here."""
        row = (
            await self.session.execute(
                select(Customer.id, Customer.merged_into_id).where(Customer.id == customer_id)
            )
        ).first()
        if row is None:
            return None
        return row[1] or row[0]

    async def repoint(self, merged_ids: Sequence[uuid.UUID], survivor_id: uuid.UUID) -> None:
        """A merge: the merged customers' links now belong to the survivor (a link both
        already had stays once)."""
        merged = list(merged_ids)
        have = set(
            await self.session.scalars(
                select(CustomerEvent.event_id).where(CustomerEvent.customer_id == survivor_id)
            )
        )
        rows = await self.all(self.select().where(CustomerEvent.customer_id.in_(merged)))
        for row in rows:
            if row.event_id in have:
                await self.session.delete(row)
            else:
                have.add(row.event_id)
        await self.session.flush()
        await self.session.execute(
            update(CustomerEvent)
            .where(CustomerEvent.customer_id.in_(merged))
            .values(customer_id=survivor_id)
            .execution_options(synchronize_session=False)
        )


class TimelineRepository:
    """The two sources of a timeline page, each newest first by time-ordered id."""

    def __init__(self, session: Any) -> None:
        self.session = session

    async def customer_ids(self, survivor_id: uuid.UUID) -> list[uuid.UUID]:
        """The customer and every customer merged into it."""
        merged = await self.session.scalars(
            select(Customer.id).where(Customer.merged_into_id == survivor_id)
        )
        return [survivor_id, *merged]

    async def messages(
        self,
        customer_ids: Sequence[uuid.UUID],
        *,
        before: uuid.UUID | None,
        limit: int,
        messages: bool = True,
        calls: bool = True,
        notes: bool = False,
    ) -> list[tuple[Message, Conversation]]:
        stmt = (
            select(Message, Conversation)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(Conversation.customer_id.in_(list(customer_ids)))
        )
        kinds = []
        if messages:
            kinds.append(and_(Message.direction != "internal", Message.content_type != "call"))
        if calls:
            kinds.append(Message.content_type == "call")
        if notes:
            kinds.append(and_(Message.direction == "internal", Message.content_type != "call"))
        if not kinds:
            return []
        stmt = stmt.where(or_(*kinds))
        if before is not None:
            stmt = stmt.where(Message.id < before)
        rows = await self.session.execute(stmt.order_by(Message.id.desc()).limit(limit))
        return [(row[0], row[1]) for row in rows]

    async def events(
        self, customer_ids: Sequence[uuid.UUID], *, before: uuid.UUID | None, limit: int
    ) -> list[tuple[CustomerEvent, OutboxEvent | None]]:
        stmt = (
            select(CustomerEvent, OutboxEvent)
            .outerjoin(OutboxEvent, OutboxEvent.id == CustomerEvent.event_id)
            .where(CustomerEvent.customer_id.in_(list(customer_ids)))
        )
        if before is not None:
            stmt = stmt.where(CustomerEvent.id < before)
        rows = await self.session.execute(stmt.order_by(CustomerEvent.id.desc()).limit(limit))
        return [(row[0], row[1]) for row in rows]
