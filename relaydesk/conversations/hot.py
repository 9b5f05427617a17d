"""The hot path of a customer's message: appending it to their open conversation.

Most messages a channel receives join a conversation that is already open. For those,
:func:`append_to_open` does in three Core statements what :meth:`ConversationService.receive`
does through the ORM (the customer's identity, the current conversation, the inbox's state, the
duplicate check, the message, the conversation's counters and the outbox row):

1. one ``UPDATE … RETURNING`` bumps the customer's latest conversation of the inbox, only if it
   is open, the inbox is enabled and the identity belongs to a customer that was not merged;
2. one ``INSERT … ON CONFLICT DO NOTHING`` stores the message (a known ``external_id`` is a
   duplicate);
3. one ``INSERT`` writes the ``message.received`` event to the outbox (``events.outbox.emit``).

Anything else (no conversation yet, a pending/snoozed/resolved one, a disabled inbox, a merged
customer, a duplicate) is :class:`NotAppended`, and the caller takes the ORM path, which knows
every rule. A duplicate is found after the bump, so the caller must roll the unit of work back
first (``rollback`` is True). Every statement names the tenant explicitly: these run on the
session's connection, below the ORM's tenant guard.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, Uuid, and_, bindparam, exists, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.conversations.models import Conversation, Inbox, Message
from relaydesk.customers.identities import IdentityKey
from relaydesk.customers.models import Customer, CustomerIdentity
from relaydesk.events.outbox import emit
from relaydesk.kit.db import utcnow
from relaydesk.kit.ids import uuid7

__all__ = ["Appended", "NotAppended", "append_to_open"]

_C: Table = Conversation.__table__  # type: ignore[assignment]
_M: Table = Message.__table__  # type: ignore[assignment]

#: typed: a foreign key's type is unknown until its table is imported, and an untyped UUID
#: cannot be bound on SQLite
_T_ID, _I_ID = bindparam("t_id", type_=Uuid()), bindparam("i_id", type_=Uuid())
#: the customer holding the identity, if it was not merged into another one
_CUSTOMER = (
    select(CustomerIdentity.customer_id)
    .join(Customer, Customer.id == CustomerIdentity.customer_id)
    .where(
        CustomerIdentity.tenant_id == _T_ID,
        CustomerIdentity.kind == bindparam("kind"),
        CustomerIdentity.namespace == bindparam("namespace"),
        CustomerIdentity.value == bindparam("value"),
        Customer.tenant_id == _T_ID,
        Customer.merged_into_id.is_(None),
    )
    .scalar_subquery()
)
#: that customer's latest conversation in the inbox
_LATEST = (
    select(Conversation.id)
    .where(
        Conversation.tenant_id == _T_ID,
        Conversation.inbox_id == _I_ID,
        Conversation.customer_id == _CUSTOMER,
    )
    .order_by(Conversation.id.desc())
    .limit(1)
    .scalar_subquery()
)
_INBOX_ENABLED = exists().where(
    Inbox.id == _I_ID,
    Inbox.tenant_id == _T_ID,
    Inbox.enabled.is_(True),
)
_BUMP = (
    update(_C)
    .where(
        and_(
            _C.c.id == _LATEST,
            _C.c.tenant_id == _T_ID,
            _C.c.status == "open",
            _INBOX_ENABLED,
        )
    )
    .values(
        last_message_at=bindparam("at"),
        last_customer_message_at=bindparam("at"),
        unread_count=_C.c.unread_count + 1,
        updated_at=bindparam("at"),
    )
    .returning(_C.c.id, _C.c.customer_id, _C.c.department_id, _C.c.channel)
)
_INSERTS = {
    "sqlite": sqlite.insert(_M).on_conflict_do_nothing().returning(_M.c.id),
    "postgresql": postgresql.insert(_M).on_conflict_do_nothing().returning(_M.c.id),
}


class NotAppended(Exception):
    """Not a message for the hot path: take the ORM path (after a rollback if ``rollback``)."""

    def __init__(self, reason: str, *, rollback: bool = False) -> None:
        super().__init__(reason)
        self.reason, self.rollback = reason, rollback


@dataclass(frozen=True)
class Appended:
    conversation_id: uuid.UUID
    customer_id: uuid.UUID
    department_id: uuid.UUID | None
    message_id: uuid.UUID
    created_at: dt.datetime


async def append_to_open(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    inbox_id: uuid.UUID,
    identity: IdentityKey,
    text: str,
    content_type: str = "text",
    attachments: list[dict[str, Any]] | None = None,
    external_id: str | None = None,
    source: dict[str, Any] | None = None,
) -> Appended:
    """The customer's message joins their open conversation, or :class:`NotAppended`."""
    connection = await session.connection()
    insert = _INSERTS.get(connection.dialect.name)
    if insert is None:
        raise NotAppended("dialect")
    now = utcnow()
    params = {"t_id": tenant_id, "i_id": inbox_id, "at": now, "kind": identity.kind,
              "namespace": identity.namespace, "value": identity.value}  # fmt: skip
    bumped = (await connection.execute(_BUMP, params)).first()
    if bumped is None:
        raise NotAppended("no open conversation")
    conversation_id, customer_id, department_id, channel = bumped
    message_id = uuid7()
    files = attachments or []
    stored = await connection.execute(
        insert,
        {"id": message_id, "created_at": now, "updated_at": now, "tenant_id": tenant_id,
         "conversation_id": conversation_id, "inbox_id": inbox_id, "direction": "in",
         "author_type": "customer", "author_id": str(customer_id), "content_type": content_type,
         "body": text, "content": {}, "attachments": files, "private": False,
         "external_id": external_id, "status": "received", "error": None},
    )  # fmt: skip
    if stored.first() is None:
        raise NotAppended("duplicate", rollback=True)
    await emit(
        session,
        "message.received",
        {"conversation_id": str(conversation_id), "message_id": str(message_id),
         "inbox_id": str(inbox_id), "channel": channel, "customer_id": str(customer_id),
         "author_type": "customer", "author_id": str(customer_id),
         "content_type": content_type, "text": text, "attachments": len(files),
         "department_id": str(department_id) if department_id is not None else None},
        tenant_id=tenant_id,
        source=source,
    )  # fmt: skip
    return Appended(conversation_id, customer_id, department_id, message_id, now)
