"""Customer 360 panels (per-tenant configuration) and the links of external events to customers.

The ``conversations`` index on ``customer_id`` is declared here because the timeline is what
needs it (the conversations of one customer, newest first); it belongs to the conversations
table and can move to its model without a migration change.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from relaydesk.conversations.models import Conversation
from relaydesk.kit.db import Base, IdMixin, TenantScoped, utcnow

__all__ = ["CustomerEvent", "CustomerPanel"]


class CustomerPanel(IdMixin, TenantScoped, Base):
    """One context panel: a read action of a connector instance, its parameters templated
    from the customer, the output fields to show, a timeout, a cache TTL and a position."""

    __tablename__ = "customer_panels"
    __table_args__ = (UniqueConstraint("tenant_id", "key"),)

    key: Mapped[str] = mapped_column(String(63))
    title_zh: Mapped[str] = mapped_column(String(100))
    title_en: Mapped[str] = mapped_column(String(100))
    instance_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("connector_instances.id", ondelete="CASCADE"), index=True
    )
    action: Mapped[str] = mapped_column(String(100))
    #: parameter name -> literal or ``{{ customer.* }}`` / ``{{ source.* }}`` template
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: ``[{"path", "label_zh", "label_en"}]``: the output fields shown (empty: all of them)
    fields: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    #: list outputs: at most this many records are shown
    max_items: Mapped[int] = mapped_column(default=5)
    timeout_seconds: Mapped[float] = mapped_column(default=3.0)
    cache_ttl_seconds: Mapped[int] = mapped_column(default=60)
    #: how long past its TTL a cached answer is still shown (labelled stale) when the system fails
    stale_seconds: Mapped[int] = mapped_column(default=3600)
    position: Mapped[int] = mapped_column(default=0)
    enabled: Mapped[bool] = mapped_column(default=True)
    #: key of a panel whose data this one's templates read as ``source`` (one level only)
    source_panel: Mapped[str | None] = mapped_column(String(63), nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CustomerEvent(TenantScoped, Base):
    """An event of the outbox that concerns a customer (linked by the ``customer360.timeline``
    consumer). ``id`` is a UUIDv7 made from the event's ``occurred_at``, so the timeline
    merges these links with messages by id."""

    __tablename__ = "customer_events"
    __table_args__ = (
        UniqueConstraint("tenant_id", "customer_id", "event_id"),
        Index("ix_customer_events_customer", "customer_id", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    #: the outbox row (event_outbox.id); not a foreign key, so a pruned outbox keeps the link
    event_id: Mapped[uuid.UUID] = mapped_column()
    type: Mapped[str] = mapped_column(String(100))
    occurred_at: Mapped[dt.datetime] = mapped_column()
    #: which rule linked it: phone, email, customer_id, external:<namespace>, identity:<kind>
    matched_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


#: the timeline reads a customer's conversations; merges re-point them by customer
Index("ix_conversations_customer", Conversation.customer_id, Conversation.id)  # noqa: RUF100
