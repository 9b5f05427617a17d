"""Outbound webhooks: endpoints, messages, deliveries and attempts.

One **message** per event (its payload masked unless an endpoint may receive personal data),
one **delivery** per (message, endpoint), one **attempt** row per HTTP try. Replay and recover
create new deliveries of the same message, so the ``webhook-id`` header stays the same and a
receiver can deduplicate.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from relaydesk.kit.db import Base, IdMixin, TenantScoped, utcnow


class WebhookEndpoint(IdMixin, TenantScoped, Base):
    """A tenant's receiver URL with its event filters, secret(s) and health state."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = (Index("ix_webhook_endpoints_enabled", "tenant_id", "enabled"),)

    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(500), default="")
    #: exact types (``order.shipped``), families (``order.*``) or ``*``
    event_types: Mapped[list[str]] = mapped_column(default=list)
    enabled: Mapped[bool] = mapped_column(default=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    disabled_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    #: deliveries per second at most (None: no limit)
    rate_limit: Mapped[int | None] = mapped_column(nullable=True)
    #: send personal data in clear (needs webhooks.pii to set; audited)
    include_pii: Mapped[bool] = mapped_column(default=False)
    #: intranet hosts/CIDRs this endpoint may reach (like a connector instance's allow-list)
    allow_network: Mapped[list[str]] = mapped_column(default=list)
    #: AES-GCM blob of the ``whsec_`` secret, bound to (tenant, endpoint)
    secret_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    #: the secret before the last rotation, still signing until ``previous_expires_at``
    previous_secret_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    previous_expires_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    # health: the circuit breaker and the auto-disable clock
    consecutive_failures: Mapped[int] = mapped_column(default=0)
    circuit_open_until: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    #: first failure since the last success (None while healthy)
    failing_since: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    last_success_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    last_failure_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    version: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class WebhookMessage(IdMixin, TenantScoped, Base):
    """One event to send; ``id`` is the ``webhook-id`` header (the same on every retry)."""

    __tablename__ = "webhook_messages"
    __table_args__ = (
        UniqueConstraint("tenant_id", "event_id"),
        Index("ix_webhook_messages_type", "tenant_id", "event_type", "id"),
    )

    #: the catalogue event it carries (None for test messages and rule actions)
    event_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    event_type: Mapped[str] = mapped_column(String(100))
    occurred_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    #: the payload with personal data masked (what every endpoint gets by default)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: AES-GCM blob of the clear payload, kept only when an include_pii endpoint matched
    payload_clear_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    #: event | test | rule
    origin: Mapped[str] = mapped_column(String(20), default="event")


class WebhookDelivery(IdMixin, TenantScoped, Base):
    """A message on its way to one endpoint: pending → succeeded | failed."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_endpoint", "tenant_id", "endpoint_id", "status", "id"),
        Index("ix_webhook_deliveries_message", "message_id"),
    )

    message_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_messages.id", ondelete="CASCADE")
    )
    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE")
    )
    #: event | replay | recover | test | rule
    trigger: Mapped[str] = mapped_column(String(20), default="event")
    #: pending | succeeded | failed
    status: Mapped[str] = mapped_column(String(12), default="pending")
    #: HTTP attempts made so far
    attempts: Mapped[int] = mapped_column(default=0)
    #: the personal data went out in clear (include_pii endpoint)
    clear_pii: Mapped[bool] = mapped_column(default=False)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    last_status_code: Mapped[int | None] = mapped_column(nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    #: the delivery that re-sent this failed one (recover), so it is recovered only once
    superseded_by: Mapped[uuid.UUID | None] = mapped_column(nullable=True)


class WebhookAttempt(IdMixin, TenantScoped, Base):
    """One HTTP try: status, latency, the first bytes of the answer, or the error."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_webhook_attempts_delivery", "delivery_id", "attempt"),)

    delivery_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE")
    )
    endpoint_id: Mapped[uuid.UUID] = mapped_column()
    attempt: Mapped[int] = mapped_column()
    url: Mapped[str] = mapped_column(String(2000))
    #: succeeded | failed
    outcome: Mapped[str] = mapped_column(String(12))
    status_code: Mapped[int | None] = mapped_column(nullable=True)
    latency_ms: Mapped[float] = mapped_column(default=0.0)
    response_body: Mapped[str | None] = mapped_column(Text, nullable=True)
    error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    #: when the next attempt is due (None: none will follow)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
