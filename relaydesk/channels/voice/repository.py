"""The voice channel's queries: call records, the users at seats, voice inboxes and a
customer's numbers (tenant-guarded like every other query)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select

from relaydesk.auth.models import User
from relaydesk.conversations.models import Inbox, Message
from relaydesk.customers.models import Customer, CustomerIdentity
from relaydesk.kit.repository import Repository

__all__ = ["CallRecordRepository"]


class CallRecordRepository(Repository[Message]):
    model = Message
    noun = "call record"

    async def record(self, inbox_id: uuid.UUID, call_id: str, *, lock: bool = False
                     ) -> Message | None:  # fmt: skip
        """The call record of ``call_id`` (``lock``: row-locked until the transaction ends, so
        two pushes of the same call apply one after the other)."""
        stmt = select(Message).where(Message.inbox_id == inbox_id, Message.external_id == call_id)
        if lock:
            stmt = stmt.with_for_update()
        return await self.one_or_none(stmt)

    async def active_user(self, email: str) -> User | None:
        stmt = select(User).where(User.email == email.lower(), User.is_active.is_(True))
        return (await self.session.scalars(stmt.limit(1))).first()

    async def voice_inboxes(self) -> Sequence[Inbox]:
        stmt = select(Inbox).where(Inbox.channel == "voice", Inbox.enabled.is_(True))
        return (await self.session.scalars(stmt.order_by(Inbox.id))).all()

    async def phone_numbers(self, customer: Customer) -> list[str]:
        """The customer's phone numbers (E.164), verified ones first, then the profile's."""
        stmt = (
            select(CustomerIdentity.value)
            .where(CustomerIdentity.customer_id == customer.id, CustomerIdentity.kind == "phone")
            .order_by(CustomerIdentity.verified.desc(), CustomerIdentity.id)
        )
        numbers = list((await self.session.scalars(stmt)).all())
        if customer.phone and customer.phone not in numbers:
            numbers.append(customer.phone)
        return numbers
