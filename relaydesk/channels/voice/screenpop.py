"""The screen pop: when a call rings at a seat, the agent at that seat gets the caller.

The ``voice.screenpop`` consumer handles committed ``call.ringing`` events (so the
conversation and the customer exist when the workbench opens them) and sends one ephemeral
frame through the realtime hub, for **that agent only** (``payload.user_id``; the hub's
filter drops it for every other connection)::

    {"type": "event", "id": null, "event_type": "screenpop.call", "occurred_at": …,
     "payload": {"user_id", "call_id", "direction", "customer_number", "hotline", "seat",
                 "conversation_id", "message_id", "customer_id", "inbox_id",
                 "customer": {"id", "name", "phone", "email", "company", "tags",
                              "attributes", "masked"},
                 "links": {"conversation", "customer", "panels", "timeline"}}}

The customer is masked for the agent's own roles (clear only with ``customers.pii.view``),
exactly as ``GET /api/v1/customers/{id}`` would show it to them; ``links.panels`` is the
Customer 360 the workbench opens. Nothing is sent when the seat maps to no user, the inbox
turned ``screen_pop`` off, or the call stopped ringing before the event was handled.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.auth.models import User
from relaydesk.auth.principal import Principal
from relaydesk.auth.repository import UserRepository
from relaydesk.auth.service import department_scope, permissions_of
from relaydesk.conversations.models import Inbox, Message
from relaydesk.customers.models import Customer
from relaydesk.customers.service import customer_out
from relaydesk.events.consumers import Consumer, register_consumer
from relaydesk.events.envelope import Envelope
from relaydesk.kit.masking import mask_phone
from relaydesk.realtime.hub import get_hub
from relaydesk.tenancy.models import Tenant

__all__ = ["FRAME_TYPE", "SCREENPOP", "agent_principal", "screen_pop"]

FRAME_TYPE = "screenpop.call"
API = "/api/v1"
SHOWN = ("id", "name", "phone", "email", "company", "tags", "attributes", "masked")


async def agent_principal(session: AsyncSession, user: User) -> Principal:
    """The user as their own sessions see them (roles → permissions, department scope)."""
    roles = await UserRepository(session).roles_of(user.id)
    tenant = await session.get(Tenant, user.tenant_id)
    return Principal(
        kind="user", id=user.id, tenant_id=user.tenant_id,
        tenant_slug=tenant.slug if tenant is not None else "", label=user.email,
        permissions=permissions_of(roles), department_ids=department_scope(user, roles),
        user_id=user.id,
    )  # fmt: skip


def _links(conversation_id: str, customer_id: str) -> dict[str, str]:
    return {
        "conversation": f"{API}/conversations/{conversation_id}",
        "customer": f"{API}/customers/{customer_id}",
        "panels": f"{API}/customers/{customer_id}/panels",
        "timeline": f"{API}/customers/{customer_id}/timeline",
    }


async def build(session: AsyncSession, envelope: Envelope) -> dict[str, Any] | None:
    """The frame for the ringing seat's agent, or None when there is nobody to pop."""
    payload = envelope.payload
    if not payload.get("agent_id"):
        return None
    message = await session.get(Message, uuid.UUID(payload["message_id"]))
    if message is None or (message.content or {}).get("status") != "ringing":
        return None  # answered or ended before this ran: no pop for a call that moved on
    inbox = await session.get(Inbox, message.inbox_id)
    if inbox is None or not bool((inbox.settings or {}).get("screen_pop", True)):
        return None
    user = await session.get(User, uuid.UUID(payload["agent_id"]))
    customer = await session.get(Customer, uuid.UUID(payload["customer_id"]))
    if user is None or not user.is_active or customer is None:
        return None
    principal = await agent_principal(session, user)
    if not principal.has("conversations.read"):
        return None
    shown = (await customer_out(session, customer, principal)).model_dump(mode="json")
    number = str(payload["customer_number"])
    clear = principal.has("customers.pii.view")
    body = {
        "user_id": str(user.id),
        **{k: payload.get(k) for k in ("call_id", "direction", "hotline", "seat",
                                       "conversation_id", "message_id", "customer_id",
                                       "inbox_id")},
        "customer_number": number if clear else mask_phone(number),
        "customer": {k: shown.get(k) for k in SHOWN},
        "links": _links(payload["conversation_id"], payload["customer_id"]),
    }  # fmt: skip
    return {
        "type": "event", "id": None, "tenant_id": str(envelope.tenant_id),
        "event_type": FRAME_TYPE, "occurred_at": envelope.occurred_at.isoformat(),
        "payload": body,
    }  # fmt: skip


async def screen_pop(session: AsyncSession, envelope: Envelope) -> None:
    frame = await build(session, envelope)
    if frame is not None:
        await get_hub().broadcast(frame)


SCREENPOP = register_consumer(
    Consumer("voice.screenpop", screen_pop, types=("call.ringing",), max_attempts=3,
             acts_outside=True)
)
