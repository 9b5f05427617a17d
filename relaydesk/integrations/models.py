"""Per-tenant connector instances, the call log, and the inbound callback inbox."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import ForeignKey, Index, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from relaydesk.kit.db import Base, IdMixin, TenantScoped, utcnow


class ConnectorInstance(IdMixin, TenantScoped, Base):
    """A tenant's configured connection to one existing system, from a validated spec."""

    __tablename__ = "connector_instances"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    name: Mapped[str] = mapped_column(String(63))
    connector: Mapped[str] = mapped_column(String(63))
    title: Mapped[str] = mapped_column(String(200), default="")
    #: the validated spec as JSON (the source of truth for this instance's actions)
    spec: Mapped[dict[str, Any]] = mapped_column()
    #: AES-GCM blob of the config (secrets included), bound to tenant and instance ids
    config_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    enabled: Mapped[bool] = mapped_column(default=True)
    sandbox: Mapped[bool] = mapped_column(default=False)
    #: hosts/CIDRs this instance may reach besides the public internet (intranet systems)
    allow_network: Mapped[list[str]] = mapped_column(default=list)
    version: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ConnectorCall(IdMixin, TenantScoped, Base):
    """One action call: who, what, outcome, latency. Parameters are stored masked."""

    __tablename__ = "connector_calls"
    __table_args__ = (
        Index("ix_connector_calls_instance_action", "tenant_id", "instance_id", "action"),
    )

    instance_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("connector_instances.id", ondelete="CASCADE")
    )
    action: Mapped[str] = mapped_column(String(100))
    actor_type: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    priority: Mapped[str] = mapped_column(String(20), default="interactive")
    outcome: Mapped[str] = mapped_column(String(20))  # success | error
    error_class: Mapped[str | None] = mapped_column(String(30), nullable=True)
    error_code: Mapped[str | None] = mapped_column(String(100), nullable=True)
    error_message: Mapped[str | None] = mapped_column(String(500), nullable=True)
    http_status: Mapped[int | None] = mapped_column(nullable=True)
    attempts: Mapped[int] = mapped_column(default=1)
    cached: Mapped[bool] = mapped_column(default=False)
    stale: Mapped[bool] = mapped_column(default=False)
    latency_ms: Mapped[float] = mapped_column(default=0.0)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)


class CallbackInbox(IdMixin, TenantScoped, Base):
    """A verified inbound callback, stored once per (instance, callback, event id)."""

    __tablename__ = "callback_inbox"
    __table_args__ = (
        UniqueConstraint("tenant_id", "instance_id", "callback", "event_id"),
        Index("ix_callback_inbox_status", "status", "created_at"),
    )

    instance_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("connector_instances.id", ondelete="CASCADE")
    )
    callback: Mapped[str] = mapped_column(String(100))
    event_id: Mapped[str] = mapped_column(String(200))
    event_type: Mapped[str] = mapped_column(String(100))
    entity_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    entity_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    payload: Mapped[dict[str, Any]] = mapped_column()
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending|done|stale|failed
    attempts: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    processed_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)


class EntityVersion(TenantScoped, Base):
    """The newest version seen per external entity, to drop out-of-order callbacks."""

    __tablename__ = "entity_versions"

    instance_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("connector_instances.id", ondelete="CASCADE"), primary_key=True
    )
    entity_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    version: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
