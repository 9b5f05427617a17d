"""Conversation events; ordered per conversation (key ``conversation_id``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from relaydesk.events.catalogue import EventSpec, register_event


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: the conversation's department: realtime shows the event to department-scoped users of
    #: that department only (none: to users who are not department-scoped)
    department_id: str | None = None


class ConversationCreated(_Payload):
    conversation_id: str
    inbox_id: str
    channel: str
    customer_id: str
    subject: str | None = None
    team_id: str | None = None


class MessageEvent(_Payload):
    conversation_id: str
    message_id: str
    inbox_id: str
    channel: str
    customer_id: str
    author_type: str
    author_id: str | None = None
    content_type: str
    text: str
    attachments: int = 0


class MessageStatusChanged(_Payload):
    conversation_id: str
    message_id: str
    inbox_id: str
    channel: str
    customer_id: str
    #: queued | sent | delivered | read | failed
    status: str
    previous_status: str
    #: why it failed, or the last error while it stays queued and is retried; None when sent
    error: str | None = None


class ConversationAssigned(_Payload):
    conversation_id: str
    customer_id: str
    assignee_id: str | None = None
    team_id: str | None = None
    previous_assignee_id: str | None = None
    previous_team_id: str | None = None
    note: str | None = None
    by: str | None = None


class ConversationStatusChanged(_Payload):
    conversation_id: str
    customer_id: str
    status: str
    previous_status: str
    by: str | None = None


register_event(EventSpec(
    "conversation.created", ConversationCreated, "A new conversation started in an inbox.",
    key="conversation_id", source="conversations",
))  # fmt: skip
register_event(EventSpec(
    "message.received", MessageEvent, "A customer's message arrived on any channel.",
    key="conversation_id", pii=("text",), source="conversations",
))  # fmt: skip
register_event(EventSpec(
    "message.sent", MessageEvent, "An agent or bot replied to the customer (not notes).",
    key="conversation_id", pii=("text",), source="conversations",
))  # fmt: skip
register_event(EventSpec(
    "message.status_changed", MessageStatusChanged,
    "A reply's delivery state changed: sent, delivered, read or failed (with the reason), or "
    "still queued with the last error while the channel is retried.",
    key="conversation_id", pii=("error",), source="conversations",
    examples=({
        "conversation_id": "01935f6e-0000-7000-8000-000000000001",
        "message_id": "01935f6e-0000-7000-8000-000000000002",
        "inbox_id": "01935f6e-0000-7000-8000-000000000003", "channel": "sms",
        "customer_id": "01935f6e-0000-7000-8000-000000000004",
        "status": "failed", "previous_status": "sent",
        "error": "not delivered (UNDELIV): MK:0001 number does not exist",
    },),
))  # fmt: skip
register_event(EventSpec(
    "conversation.assigned", ConversationAssigned,
    "A conversation was assigned or transferred to an agent and/or team.",
    key="conversation_id", source="conversations",
))  # fmt: skip
register_event(EventSpec(
    "conversation.status_changed", ConversationStatusChanged,
    "A conversation was resolved, reopened, snoozed or set pending.",
    key="conversation_id", source="conversations",
))  # fmt: skip
