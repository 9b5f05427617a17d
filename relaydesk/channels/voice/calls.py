"""Call records: a pushed call event becomes (or updates) a message of content type ``call``.

The first push of a call (normally RINGING, but any event will do: each carries the whole
call detail record) resolves the customer's number as a **verified** phone identity and
records the call in a conversation: an inbound call starts its own conversation
(``thread_key`` = the call id, through :meth:`ConversationService.receive`, so
``conversation.created`` and ``message.received`` are emitted); an outbound call started by
click-to-call joins the conversation it was dialled from (its id travels as ``userField``).
The conversation is assigned to the agent at the seat when it has no assignee yet.

Each later push updates the same record: status (ringing → answered → ended; never back),
times, talk time, who hung up, the recording URL and the transcript. Every (call, event)
applies once: a push repeated by the call centre is a duplicate and changes nothing. Each
applied event emits ``call.ringing`` / ``call.answered`` / ``call.ended`` in the same
transaction (the ``voice.screenpop`` consumer pops the customer at the ringing seat).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.audit.service import Actor
from relaydesk.channels.voice.protocol import (
    CallEventIn,
    transcript_lines,
    transcript_text,
)
from relaydesk.channels.voice.repository import CallRecordRepository
from relaydesk.channels.voice.settings import VoiceSettings
from relaydesk.conversations.models import Conversation, Inbox, Message
from relaydesk.conversations.schemas import AssignIn
from relaydesk.conversations.service import ConversationService
from relaydesk.customers.normalise import normalise_email, normalise_phone
from relaydesk.customers.resolution import IdentityClaim, resolve
from relaydesk.errors import ValidationFailed
from relaydesk.events.outbox import emit
from relaydesk.kit.db import utcnow

__all__ = ["VOICE", "Applied", "apply_event", "summary"]

VOICE = Actor("system", "voice", "voice channel")
ORDER = {"ringing": 0, "answered": 1, "ended": 2}
SIDES = {"CUSTOMER": "customer", "AGENT": "agent", "SYSTEM": "system"}


@dataclass
class Applied:
    duplicate: bool
    call_id: str
    conversation_id: uuid.UUID
    message_id: uuid.UUID
    status: str


def _number(event: CallEventIn) -> str:
    try:
        return normalise_phone(event.customer_number)
    except ValueError as exc:
        raise ValidationFailed(f"body.customerNumber: {exc}", details=[
            {"loc": ["body", "customerNumber"], "msg": str(exc), "type": "value_error"}
        ]) from None  # fmt: skip


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _clock(seconds: int) -> str:
    minutes, rest = divmod(seconds, 60)
    return f"{minutes}:{rest:02d}"


def summary(content: dict[str, Any]) -> str:
    """The call record's text (what lists and search show), transcript included."""
    inbound = content.get("direction") == "inbound"
    number = content.get("from") if inbound else content.get("to")
    head = f"{'Inbound call from' if inbound else 'Outbound call to'} {number}"
    if content.get("seat"):
        head += f" {'to' if inbound else 'from'} seat {content['seat']}"
    status = content.get("status")
    if status == "ended" and content.get("answered_at"):
        side = content.get("hangup_side")
        state = f"ended, talk time {_clock(int(content.get('duration_s') or 0))}"
        state += f", hung up by the {side}" if side in ("customer", "agent") else ""
    elif status == "ended":
        state = "missed" if inbound else "not answered"
    else:
        state = str(status)
    text = f"{head}: {state}"
    if content.get("transcript"):
        text += "\n\n" + str(content["transcript"])
    return text


def _record(event: CallEventIn, number: str, settings: VoiceSettings,
            agent_id: uuid.UUID | None) -> dict[str, Any]:  # fmt: skip
    inbound = event.direction == "IB"
    hotline = event.hotline or settings.hotline
    return {
        "call_id": event.call_id, "direction": "inbound" if inbound else "outbound",
        "from": number if inbound else (hotline or event.seat),
        "to": (hotline or event.seat) if inbound else number,
        "customer_number": number, "hotline": hotline, "seat": event.seat,
        "agent_id": str(agent_id) if agent_id else None, "agent_name": event.agent_name,
        "status": "ringing", "started_at": _iso(event.start_time), "answered_at": None,
        "ended_at": None, "duration_s": 0, "hangup_side": None, "end_reason": None,
        "recording_url": None, "transcript": None, "transcript_lines": [], "events": [],
    }  # fmt: skip


def _apply(content: dict[str, Any], event: CallEventIn, settings: VoiceSettings) -> None:
    """What ``event`` says about the call, on top of what is known (status never goes back)."""
    if ORDER[event.name] > ORDER.get(content.get("status", "ringing"), 0):
        content["status"] = event.name
    content["started_at"] = content.get("started_at") or _iso(event.start_time)
    content["seat"] = content.get("seat") or event.seat
    if event.answer_time is not None:
        content["answered_at"] = _iso(event.answer_time)
    if event.name == "ended":
        content["ended_at"] = _iso(event.end_time or utcnow())
        content["duration_s"] = event.talk_seconds if content.get("answered_at") else 0
        content["hangup_side"] = SIDES.get((event.hangup_side or "").upper(),
                                           (event.hangup_side or "").lower() or None)  # fmt: skip
        content["end_reason"] = (event.end_reason or "").lower() or None
        content["recording_url"] = settings.absolute(event.record_url)
        content["transcript"] = transcript_text(event.asr)
        content["transcript_lines"] = transcript_lines(event.asr)
    content["events"] = [*content.get("events", []), event.name]


async def _agent(repo: CallRecordRepository, settings: VoiceSettings,
                 event: CallEventIn) -> uuid.UUID | None:  # fmt: skip
    email = settings.email_of_seat(event.seat)
    if email is None and event.agent_email:
        try:
            email = normalise_email(event.agent_email)
        except ValueError:
            email = None
    user = await repo.active_user(email) if email else None
    return user.id if user is not None else None


async def _linked(session: AsyncSession, event: CallEventIn) -> Conversation | None:
    """The conversation an outbound call was dialled from (``userField``), if any."""
    if event.direction != "OB" or not event.user_field:
        return None
    try:
        conversation_id = uuid.UUID(event.user_field)
    except ValueError:
        return None
    return await session.get(Conversation, conversation_id)  # tenant-guarded


async def _create(session: AsyncSession, inbox: Inbox, settings: VoiceSettings,
                  event: CallEventIn, number: str) -> tuple[Conversation, Message]:  # fmt: skip
    repo = CallRecordRepository(session)
    agent_id = await _agent(repo, settings, event)
    content = _record(event, number, settings, agent_id)
    service = ConversationService(session, VOICE)
    conversation = await _linked(session, event)
    if conversation is None:
        resolution = await resolve(session, inbox.tenant_id, [IdentityClaim("phone", number)],
                                   verified=True, source="voice", actor=VOICE)  # fmt: skip
        customer = resolution.customer
        if event.direction == "IB":
            conversation, message, _ = await service.receive(
                inbox, customer, summary(content), content_type="call", content=content,
                external_id=event.call_id, thread_key=event.call_id,
            )  # fmt: skip
            return await _assign(service, conversation, agent_id), message
        conversation = await service._start(inbox, customer, event.call_id, None)
    message = Message(
        tenant_id=inbox.tenant_id, conversation_id=conversation.id, inbox_id=inbox.id,
        direction="out", author_type="agent", author_id=str(agent_id) if agent_id else None,
        content_type="call", body=summary(content), content=content,
        external_id=event.call_id, status="sent",
    )  # fmt: skip
    session.add(message)
    conversation.last_message_at = utcnow()
    await session.flush()
    return await _assign(service, conversation, agent_id), message


async def _assign(service: ConversationService, conversation: Conversation,
                  agent_id: uuid.UUID | None) -> Conversation:  # fmt: skip
    if agent_id is not None and conversation.assignee_id is None:
        return await service.assign(conversation.id, AssignIn(assignee_id=agent_id))
    return conversation


def _sid(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)


def payload(content: dict[str, Any], message: Message, conversation: Conversation,
            inbox: Inbox, name: str) -> dict[str, Any]:  # fmt: skip
    """The ``call.<name>`` payload of the record as it stands."""
    keys = ["call_id", "direction", "customer_number", "hotline", "seat", "agent_id", "status",
            "started_at"]  # fmt: skip
    if name in ("answered", "ended"):
        keys.append("answered_at")
    if name == "ended":
        keys += ["ended_at", "duration_s", "hangup_side", "end_reason", "recording_url",
                 "transcript"]  # fmt: skip
    body = {key: content.get(key) for key in keys}
    if name == "ended":
        body["answered"] = content.get("answered_at") is not None
        body["transcript"] = (body["transcript"] or "")[:4000] or None
    return {**body, "conversation_id": str(conversation.id), "message_id": str(message.id),
            "customer_id": str(conversation.customer_id), "inbox_id": str(inbox.id),
            "department_id": _sid(conversation.department_id)}  # fmt: skip


async def apply_event(session: AsyncSession, inbox: Inbox, settings: VoiceSettings,
                      event: CallEventIn) -> Applied:  # fmt: skip
    """Record one pushed event in the caller's transaction (see the module docstring)."""
    number = _number(event)
    repo = CallRecordRepository(session)
    message = await repo.record(inbox.id, event.call_id, lock=True)
    if message is not None and event.name in (message.content or {}).get("events", []):
        return Applied(True, event.call_id, message.conversation_id, message.id,
                       str(message.content.get("status")))  # fmt: skip
    if message is None:
        conversation, message = await _create(session, inbox, settings, event, number)
    else:
        found = await session.get(Conversation, message.conversation_id)
        assert found is not None  # the record's conversation (cascade deletes them together)
        conversation = found
    content = dict(message.content or {})
    _apply(content, event, settings)
    message.content = content
    message.body = summary(content)
    await session.flush()
    await emit(session, f"call.{event.name}", payload(content, message, conversation, inbox,
                                                      event.name),
               tenant_id=inbox.tenant_id, source={"kind": "channel", "channel": "voice",
                                                  "inbox_id": str(inbox.id)})  # fmt: skip
    return Applied(False, event.call_id, conversation.id, message.id, content["status"])
