"""Click-to-call from a conversation: ``POST /api/v1/conversations/{id}/call``.

The agent's **seat** comes from the voice inbox's ``settings.seats`` (by the agent's e-mail),
else from the call centre's directory (the connector's ``list_agents``, matched by e-mail).
The **number** is one of the conversation's customer's phone numbers (verified ones first;
``number`` picks another of them: this endpoint never dials a number the customer does not
hold). The call is placed by the ``dial`` action of the inbox's ``dial_instance`` connector
instance (the ``callcenter`` connector) through the integration hub, as the agent: their
permission ``connector_action:callcenter.dial`` is checked, the call is logged and audited
(``connector.action_called``, number masked). The conversation's id travels as
``userField``, so the call's pushed events record the call in this conversation.

Everything is read in a read-only session first, so no transaction is open while the call
centre answers.
"""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.auth.models import User
from relaydesk.auth.principal import Principal
from relaydesk.channels.voice.repository import CallRecordRepository
from relaydesk.channels.voice.settings import VoiceSettings, load_settings
from relaydesk.conversations.models import Conversation, Inbox
from relaydesk.customers.models import Customer
from relaydesk.customers.normalise import normalise_phone
from relaydesk.errors import Conflict, NotFound, ValidationFailed
from relaydesk.integrations.outcome import OutcomeError
from relaydesk.integrations.registry import RuntimeRegistry
from relaydesk.integrations.service import IntegrationService
from relaydesk.kit.crypto import Keyring
from relaydesk.kit.db import Database, database_of, scope_session
from relaydesk.kit.ids import uuid7
from relaydesk.kit.masking import mask_phone
from relaydesk.kit.schemas import RequestModel, ResponseModel

__all__ = ["DialIn", "DialOut", "click_to_call", "dialable"]

PII_VIEW = "customers.pii.view"


class DialIn(RequestModel):
    number: str | None = Field(
        None, max_length=32, description="One of the customer's numbers (default: the first, "
        "verified ones first)",
    )  # fmt: skip
    inbox_id: uuid.UUID | None = Field(
        None, description="The voice inbox whose call centre dials (default: the "
        "conversation's, or the organisation's only voice inbox)",
    )  # fmt: skip


class DialOut(ResponseModel):
    ok: bool = Field(description="The call centre accepted the call: the agent's phone rings")
    call_id: str | None = Field(None, description="The call centre's call id")
    seat: str
    customer_number: str = Field(description="Masked without customers.pii.view")
    conversation_id: uuid.UUID
    inbox_id: uuid.UUID
    instance: str = Field(description="The connector instance that placed the call")
    connector_call_id: uuid.UUID = Field(description="The hub's call-log entry")
    error: OutcomeError | None = None


def dialable(number: str) -> str:
    """E.164 → what Chinese call centres dial: mainland mobiles as 11 digits, landlines with
    their 0 area code, other countries as E.164."""
    if not number.startswith("+86"):
        return number
    national = number[3:]
    return national if national.startswith("1") else "0" + national


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"body.{field}: {message}", details=[
        {"loc": ["body", field], "msg": message, "type": "value_error"}])  # fmt: skip


async def _inbox(repo: CallRecordRepository, session: AsyncSession, conversation: Conversation,
                 wanted: uuid.UUID | None) -> Inbox:  # fmt: skip
    if wanted is not None:
        inbox = await session.get(Inbox, wanted)
        if inbox is None or inbox.channel != "voice" or not inbox.enabled:
            raise _invalid("inbox_id", "not an enabled voice inbox")
        return inbox
    if conversation.channel == "voice":
        own = await session.get(Inbox, conversation.inbox_id)
        if own is not None and own.enabled:
            return own
    inboxes = await repo.voice_inboxes()
    if not inboxes:
        raise Conflict("click-to-call needs a voice inbox (none is enabled)", code="no_voice_inbox")
    if len(inboxes) > 1:
        raise _invalid("inbox_id", "several voice inboxes: say which call centre dials")
    return inboxes[0]


async def _number(repo: CallRecordRepository, customer: Customer, given: str | None) -> str:
    numbers = await repo.phone_numbers(customer)
    if given is None:
        if not numbers:
            raise Conflict("the customer has no phone number to call", code="no_number")
        return numbers[0]
    try:
        wanted = normalise_phone(given)
    except ValueError as exc:
        raise _invalid("number", str(exc)) from None
    if wanted not in numbers:
        raise _invalid("number", "not one of the customer's numbers")
    return wanted


class _Plan:
    def __init__(self, conversation: Conversation, inbox: Inbox, settings: VoiceSettings,
                 number: str, email: str) -> None:  # fmt: skip
        self.conversation, self.inbox, self.settings = conversation, inbox, settings
        self.number, self.email = number, email


async def _plan(db: Database, principal: Principal, conversation_id: uuid.UUID,
                body: DialIn) -> _Plan:  # fmt: skip
    async with db.reader(principal.tenant_id) as session:
        scope_session(session, principal.tenant_id, principal.department_ids)
        repo = CallRecordRepository(session)
        conversation = await session.get(Conversation, conversation_id)
        if conversation is None:
            raise NotFound(f"no conversation {conversation_id}")
        customer = await session.get(Customer, conversation.customer_id)
        user = await session.get(User, principal.user_id) if principal.user_id else None
        if customer is None or user is None:
            raise Conflict("click-to-call needs a signed-in agent and the conversation's "
                           "customer", code="no_agent")  # fmt: skip
        inbox = await _inbox(repo, session, conversation, body.inbox_id)
        settings = load_settings(inbox.settings or {})
        number = await _number(repo, customer, body.number)
        return _Plan(conversation, inbox, settings, number, user.email)


async def _seat(hub: IntegrationService, plan: _Plan) -> str:
    seat = plan.settings.seat_of_email(plan.email)
    if seat is not None:
        return seat
    directory = await hub.run_action(plan.settings.dial_instance, "list_agents", {})
    agents: list[Any] = directory.data if directory.ok and isinstance(directory.data, list) else []
    found = next((a.get("seat") for a in agents if isinstance(a, dict)
                  and str(a.get("email", "")).lower() == plan.email), None)  # fmt: skip
    if not found:
        why = "" if directory.ok else f" (the directory could not be read: {directory.error})"
        raise Conflict(f"no seat for {plan.email}: add it to the voice inbox's settings.seats or "
                       f"to the call centre{why}", code="no_seat")  # fmt: skip
    return str(found)


async def click_to_call(
    session: AsyncSession, principal: Principal, registry: RuntimeRegistry, keyring: Keyring,
    conversation_id: uuid.UUID, body: DialIn,
) -> DialOut:  # fmt: skip
    """Place the call (see the module docstring); the hub's rows go into ``session``'s unit
    of work (or its audit writer)."""
    db = database_of(session)
    assert db is not None
    plan = await _plan(db, principal, conversation_id, body)
    hub = IntegrationService(session, principal, registry, keyring)
    instance = plan.settings.dial_instance
    try:
        seat = await _seat(hub, plan)
        outcome = await hub.run_action(instance, "dial", {
            "seat": seat, "customer_number": dialable(plan.number),
            "user_field": str(plan.conversation.id), "request_id": str(uuid7()),
        })  # fmt: skip
    except NotFound as exc:
        message = f"click-to-call is not set up: {exc.message} (settings.dial_instance)"
        raise Conflict(message, code="dial_not_configured") from None
    data = outcome.data if isinstance(outcome.data, dict) else {}
    shown = plan.number if principal.has(PII_VIEW) else mask_phone(plan.number)
    return DialOut(
        ok=outcome.ok, call_id=data.get("call_id") if outcome.ok else None, seat=seat,
        customer_number=shown, conversation_id=plan.conversation.id, inbox_id=plan.inbox.id,
        instance=instance, connector_call_id=outcome.call_id, error=outcome.error,
    )  # fmt: skip
