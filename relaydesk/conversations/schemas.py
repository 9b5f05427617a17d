"""Request and response bodies for inboxes, conversations, messages and canned responses."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import AwareDatetime, Field

from relaydesk.kit.schemas import RequestModel, ResponseModel

Channel = Literal["web_chat", "email", "sms", "voice", "api"]
Status = Literal["open", "pending", "snoozed", "resolved"]
Priority = Literal["low", "normal", "high", "urgent"]
ContentType = Literal["text", "image", "file", "card", "call", "email"]

#: the longest message text accepted from anyone (characters)
MAX_TEXT = 20_000


class InboxIn(RequestModel):
    name: str = Field(min_length=1, max_length=100)
    channel: Channel
    enabled: bool = True
    team_id: uuid.UUID | None = None
    department_id: uuid.UUID | None = None
    settings: dict[str, Any] = Field(default_factory=dict)


class InboxPatch(RequestModel):
    name: str | None = Field(None, min_length=1, max_length=100)
    enabled: bool | None = None
    team_id: uuid.UUID | None = None
    department_id: uuid.UUID | None = None
    settings: dict[str, Any] | None = None


class InboxOut(ResponseModel):
    id: uuid.UUID
    name: str
    channel: str
    enabled: bool
    team_id: uuid.UUID | None
    department_id: uuid.UUID | None
    settings: dict[str, Any]
    created_at: dt.datetime


class ConversationOut(ResponseModel):
    id: uuid.UUID
    inbox_id: uuid.UUID
    channel: str
    customer_id: uuid.UUID
    status: str
    priority: str
    assignee_id: uuid.UUID | None
    team_id: uuid.UUID | None
    department_id: uuid.UUID | None
    subject: str | None
    tags: list[str]
    snoozed_until: dt.datetime | None
    last_message_at: dt.datetime
    first_response_at: dt.datetime | None
    resolved_at: dt.datetime | None
    unread_count: int
    created_at: dt.datetime


class MessageIn(RequestModel):
    text: str = Field(min_length=1, max_length=MAX_TEXT)
    private: bool = Field(False, description="An internal note: never sent to the customer")
    content_type: Literal["text", "card"] = "text"
    content: dict[str, Any] = Field(default_factory=dict, description="A rich card's fields")


class ConversationIn(RequestModel):
    """An agent starts a conversation with a customer (e-mail, SMS, API...)."""

    inbox_id: uuid.UUID
    customer_id: uuid.UUID
    subject: str | None = Field(None, max_length=300)
    message: MessageIn | None = Field(None, description="The first message to send")


class ConversationPatch(RequestModel):
    status: Status | None = None
    snoozed_until: AwareDatetime | None = Field(
        None, description="Required with status snoozed: when it reopens by itself"
    )
    priority: Priority | None = None
    tags: list[str] | None = Field(None, max_length=50)
    subject: str | None = Field(None, max_length=300)


class AssignIn(RequestModel):
    """Assign or transfer: to an agent, a team, or both; null clears. A note is kept."""

    assignee_id: uuid.UUID | None = None
    team_id: uuid.UUID | None = None
    note: str | None = Field(None, max_length=2_000)


class MessageOut(ResponseModel):
    id: uuid.UUID
    conversation_id: uuid.UUID
    direction: str
    author_type: str
    author_id: str | None
    content_type: str
    body: str
    content: dict[str, Any]
    attachments: list[dict[str, Any]]
    private: bool
    status: str
    error: str | None
    created_at: dt.datetime


class CannedIn(RequestModel):
    shortcut: str = Field(min_length=1, max_length=50, pattern=r"^[\w\-]+$")
    title: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=MAX_TEXT)


class CannedPatch(RequestModel):
    shortcut: str | None = Field(None, min_length=1, max_length=50, pattern=r"^[\w\-]+$")
    title: str | None = Field(None, min_length=1, max_length=200)
    body: str | None = Field(None, min_length=1, max_length=MAX_TEXT)


class CannedOut(ResponseModel):
    id: uuid.UUID
    shortcut: str
    title: str
    body: str
    created_at: dt.datetime


class RenderIn(RequestModel):
    conversation_id: uuid.UUID


class RenderOut(ResponseModel):
    text: str
    #: variables the text used that had no value (left empty)
    missing: list[str]
