"""Outbox rows, processed-event records and the dead-letter store."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from relaydesk.kit.db import Base, IdMixin, TenantScoped, utcnow


class OutboxEvent(IdMixin, TenantScoped, Base):
    """An event written in the same transaction as the change it describes.

    ``id`` is a UUIDv7, so id order is emission order; the relay publishes unpublished rows in
    that order and stamps ``published_at``.
    """

    __tablename__ = "event_outbox"
    __table_args__ = (
        Index("ix_event_outbox_unpublished", "published_at", "id"),
        Index("ix_event_outbox_tenant_type", "tenant_id", "type", "id"),
    )

    type: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(default=1)
    key: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column()
    source: Mapped[dict[str, Any]] = mapped_column(default=dict)
    causation_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    correlation_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    depth: Mapped[int] = mapped_column(default=0)
    occurred_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    published_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)


class ProcessedEvent(TenantScoped, Base):
    """Consumer ``consumer`` has applied event ``event_id`` (written with its effects)."""

    __tablename__ = "event_processed"
    __table_args__ = (Index("ix_event_processed_event_id", "event_id"),)

    consumer: Mapped[str] = mapped_column(String(63), primary_key=True)
    event_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    processed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class EventFailure(IdMixin, TenantScoped, Base):
    """A consumer's failures on one event; ``dead`` once it gave up (the dead-letter store)."""

    __tablename__ = "event_failures"
    __table_args__ = (
        Index("ix_event_failures_consumer_event", "consumer", "event_id", unique=True),
        Index("ix_event_failures_dead", "tenant_id", "dead", "last_failed_at"),
        Index("ix_event_failures_pending", "dead", "event_id"),
        Index("ix_event_failures_key", "consumer", "tenant_id", "event_key"),
    )

    consumer: Mapped[str] = mapped_column(String(63))
    event_id: Mapped[uuid.UUID] = mapped_column()
    event_type: Mapped[str] = mapped_column(String(100))
    attempts: Mapped[int] = mapped_column(default=1)
    error: Mapped[str] = mapped_column(Text)
    first_failed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_failed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    dead: Mapped[bool] = mapped_column(default=False)
    replayed_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    #: the event's ordering key: a failing event holds back later events of its key
    event_key: Mapped[str | None] = mapped_column(String(200), nullable=True)


class EventBusState(Base):
    """Bookkeeping of the bus runtime (the Redis Streams watermark), one row per name."""

    __tablename__ = "event_bus_state"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
