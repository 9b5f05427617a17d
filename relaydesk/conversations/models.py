"""Inboxes, conversations, messages and canned responses."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from relaydesk.kit.db import Base, DepartmentScoped, IdMixin, TenantScoped, utcnow

CHANNELS = ("web_chat", "email", "sms", "voice", "api")
STATUSES = ("open", "pending", "snoozed", "resolved")
PRIORITIES = ("low", "normal", "high", "urgent")


class Inbox(IdMixin, TenantScoped, Base):
    """Where conversations of one channel arrive (one web-chat site, one mailbox, one number)."""

    __tablename__ = "inboxes"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    name: Mapped[str] = mapped_column(String(100))
    channel: Mapped[str] = mapped_column(String(20))
    enabled: Mapped[bool] = mapped_column(default=True)
    #: new conversations go to this team (and its department) unless routing says otherwise
    team_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("teams.id", ondelete="SET NULL"), nullable=True
    )
    department_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("departments.id", ondelete="SET NULL"), nullable=True
    )
    #: channel settings without secrets (validated by the channel's settings model)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: AES-GCM blob of the channel's secrets (mail passwords, gateway keys, signing secrets)
    secrets_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Conversation(IdMixin, TenantScoped, DepartmentScoped, Base):
    __tablename__ = "conversations"
    __table_args__ = (
        Index("ix_conversations_tenant_status", "tenant_id", "status", "id"),
        Index("ix_conversations_tenant_assignee", "tenant_id", "assignee_id", "status"),
        Index("ix_conversations_inbox_customer", "inbox_id", "customer_id", "status"),
        Index("ix_conversations_inbox_thread", "inbox_id", "thread_key"),
    )

    inbox_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("inboxes.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(20))
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(12), default="open")
    priority: Mapped[str] = mapped_column(String(10), default="normal")
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    team_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("teams.id", ondelete="SET NULL"), nullable=True
    )
    subject: Mapped[str | None] = mapped_column(String(300), nullable=True)
    tags: Mapped[list[str]] = mapped_column(default=list)
    #: the channel's thread: e-mail root Message-ID, SMS number, call id...
    thread_key: Mapped[str | None] = mapped_column(String(300), nullable=True)
    snoozed_until: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    last_message_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    #: the last message from the customer, and the first agent reply after it opened
    last_customer_message_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    first_response_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    #: customer messages the agents have not read yet
    unread_count: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Message(IdMixin, TenantScoped, Base):
    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_conversation", "conversation_id", "id"),
        UniqueConstraint("tenant_id", "inbox_id", "external_id"),
    )

    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE")
    )
    inbox_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("inboxes.id", ondelete="CASCADE"))
    #: in (from the customer) | out (to the customer) | internal (notes, system lines)
    direction: Mapped[str] = mapped_column(String(10))
    author_type: Mapped[str] = mapped_column(String(10))  # customer | agent | bot | system
    author_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    content_type: Mapped[str] = mapped_column(String(10), default="text")
    #: plain text as typed or extracted (HTML is never stored here)
    body: Mapped[str] = mapped_column(Text, default="")
    #: structured content: rich card, call record, e-mail parts (sanitised HTML, quoted text)
    content: Mapped[dict[str, Any]] = mapped_column(default=dict)
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(default=list)
    private: Mapped[bool] = mapped_column(default=False)
    #: the channel's id for it (e-mail Message-ID, gateway message id): de-duplication
    external_id: Mapped[str | None] = mapped_column(String(300), nullable=True)
    #: received | queued | sent | delivered | read | failed
    status: Mapped[str] = mapped_column(String(10), default="received")
    error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CannedResponse(IdMixin, TenantScoped, Base):
    __tablename__ = "canned_responses"
    __table_args__ = (UniqueConstraint("tenant_id", "shortcut"),)

    shortcut: Mapped[str] = mapped_column(String(50))
    title: Mapped[str] = mapped_column(String(200))
    #: text with {{ customer.name }}, {{ agent.name }}, {{ conversation.id }} ... variables
    body: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
