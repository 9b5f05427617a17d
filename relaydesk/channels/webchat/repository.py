"""The web chat's queries: the public inbox lookup, a visitor's messages, receipts, agents."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import Uuid, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.auth.models import User
from relaydesk.conversations.models import Conversation, Inbox, Message
from relaydesk.customers.identities import IdentityKey
from relaydesk.customers.models import Customer, CustomerIdentity
from relaydesk.customers.repository import CustomerRepository
from relaydesk.kit.db import unscoped
from relaydesk.routing import online
from relaydesk.routing.models import AgentPresence
from relaydesk.tenancy.models import TeamMember

__all__ = [
    "agents_online",
    "customer_by_identity",
    "find_inbox",
    "mark_out_messages",
    "visitor_messages",
]

#: messages a visitor sees: the customer's and the agents' (never notes or system lines)
_VISIBLE = (Message.direction.in_(("in", "out")), Message.private.is_(False))


async def find_inbox(session: AsyncSession, inbox_id: uuid.UUID) -> Inbox | None:
    """A web chat inbox by id, from a public request (the id tells the tenant)."""
    with unscoped(session):
        inbox = await session.get(Inbox, inbox_id)
    if inbox is None or inbox.channel != "web_chat":
        return None
    return inbox


#: the customer holding one identity: one query (built once; the tenant guard still applies)
_BY_IDENTITY = (
    select(Customer)
    .join(CustomerIdentity, CustomerIdentity.customer_id == Customer.id)
    .where(
        CustomerIdentity.kind == bindparam("kind"),
        CustomerIdentity.namespace == bindparam("namespace"),
        CustomerIdentity.value == bindparam("value"),
    )
    .limit(1)
)


async def customer_by_identity(session: AsyncSession, key: IdentityKey) -> Customer | None:
    """The customer holding an identity (the survivor, if it was merged)."""
    params = {"kind": key.kind, "namespace": key.namespace, "value": key.value}
    customer = (await session.scalars(_BY_IDENTITY, params)).first()
    customers = CustomerRepository(session)
    for _ in range(10):  # follow merges to the survivor
        if customer is None or customer.merged_into_id is None:
            break
        customer = await customers.get(customer.merged_into_id)
    return customer


def _of_visitor(inbox_id: uuid.UUID, customer_id: uuid.UUID) -> list[object]:
    conversations = select(Conversation.id).where(
        Conversation.inbox_id == inbox_id, Conversation.customer_id == customer_id
    )
    return [Message.inbox_id == inbox_id, Message.conversation_id.in_(conversations), *_VISIBLE]


async def visitor_messages(
    session: AsyncSession,
    inbox_id: uuid.UUID,
    customer_id: uuid.UUID,
    after: uuid.UUID | None,
    limit: int,
) -> tuple[Sequence[Message], bool]:
    """The visitor's messages after ``after`` (oldest first), or the latest ``limit``; and
    whether more than ``limit`` were missed (the widget then shows only the latest)."""
    stmt = select(Message).where(*_of_visitor(inbox_id, customer_id))  # type: ignore[arg-type]
    if after is not None:
        stmt = stmt.where(Message.id > after)
    rows = list(await session.scalars(stmt.order_by(Message.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    return list(reversed(rows[:limit])), more


async def mark_out_messages(
    session: AsyncSession,
    inbox_id: uuid.UUID,
    customer_id: uuid.UUID,
    up_to: uuid.UUID,
    status: str,
    from_statuses: tuple[str, ...],
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Set replies up to ``up_to`` from ``from_statuses`` to ``status``: (conversation, message)."""
    stmt = select(Message.conversation_id, Message.id).where(
        *_of_visitor(inbox_id, customer_id),  # type: ignore[arg-type]
        Message.direction == "out",
        Message.id <= up_to,
        Message.status.in_(from_statuses),
    )
    rows = [(c, m) for c, m in (await session.execute(stmt)).all()]
    if rows:
        await session.execute(
            update(Message)
            .where(Message.id.in_([m for _, m in rows]))
            .values(status=status)
            .execution_options(synchronize_session=False)
        )
    return rows


_ONLINE = (
    select(AgentPresence.id)
    .join(User, User.id == AgentPresence.user_id)
    .where(
        AgentPresence.tenant_id == bindparam("tenant_id", type_=Uuid()),  # typed: a foreign
        User.tenant_id == bindparam("tenant_id", type_=Uuid()),  # key's type may be unknown
        AgentPresence.status == "online",
        User.is_active.is_(True),
    )
)
#: built once (statement construction is a good part of the cost of a small query)
_ONLINE_ANY = _ONLINE.limit(1)
_ONLINE_IN_TEAM = (
    _ONLINE.join(TeamMember, TeamMember.user_id == AgentPresence.user_id)
    .where(TeamMember.team_id == bindparam("team_id", type_=Uuid()))
    .limit(1)
)


async def agents_online(
    session: AsyncSession, tenant_id: uuid.UUID, team_id: uuid.UUID | None, *, recent: bool = False
) -> bool:
    """Whether an agent who could take the chat is online (the inbox's team, or anyone).

    One lookup that stops at the first such agent: this runs for every visitor
    message, so it must not count every agent's open conversations as routing does. Core on
    the session's connection (no ORM row loading): the tenant is in the statement. With
    ``recent`` (each message of a chat) a *yes* seen in the last second counts
    (:mod:`relaydesk.routing.online`)."""
    if recent and online.recall(tenant_id, team_id):
        return True
    connection = await session.connection()
    if team_id is None:
        found = await connection.scalar(_ONLINE_ANY, {"tenant_id": tenant_id})
    else:
        found = await connection.scalar(
            _ONLINE_IN_TEAM, {"tenant_id": tenant_id, "team_id": team_id}
        )
    if found is None:
        return False
    online.remember(tenant_id, team_id)
    return True
