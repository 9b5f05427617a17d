"""Customers, their identities, typed attribute definitions and merge suggestions.

Personal fields and identity values are masked by every serializer (see schemas).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from relaydesk.kit.db import Base, IdMixin, TenantScoped, utcnow


class Customer(IdMixin, TenantScoped, Base):
    """A customer profile.

    ``phone`` and ``email`` are the profile's primary contact fields; each is mirrored by an
    identity row (source ``profile``) when no other customer holds that identity. A merged
    customer keeps its row as a tombstone: ``merged_into_id`` points at the survivor.
    """

    __tablename__ = "customers"
    __table_args__ = (
        Index("ix_customers_tenant_phone", "tenant_id", "phone"),
        Index("ix_customers_tenant_email", "tenant_id", "email"),
    )

    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(40), nullable=True)
    email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    id_number: Mapped[str | None] = mapped_column(String(32), nullable=True)
    bank_card: Mapped[str | None] = mapped_column(String(32), nullable=True)
    address: Mapped[str | None] = mapped_column(String(500), nullable=True)
    company: Mapped[str | None] = mapped_column(String(200), nullable=True)
    tags: Mapped[list[str]] = mapped_column(default=list)
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    #: set when this customer was merged into another one (deleting the survivor deletes it)
    merged_into_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), nullable=True, index=True
    )
    merged_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)


class CustomerIdentity(IdMixin, TenantScoped, Base):
    """One way to recognise a customer: a phone, an e-mail, an app or connector id.

    ``value`` is normalised (phones in E.164, e-mails lower-cased); ``namespace`` is the app id
    (openid, app_user), the open-platform account (unionid, optional) or the connector instance
    (external ids), ``""`` otherwise. A (kind, namespace, value) belongs to one customer of a
    tenant at most.
    """

    __tablename__ = "customer_identities"
    __table_args__ = (UniqueConstraint("tenant_id", "kind", "namespace", "value"),)

    customer_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    namespace: Mapped[str] = mapped_column(String(100), default="")
    value: Mapped[str] = mapped_column(String(320))
    verified: Mapped[bool] = mapped_column(default=False)
    verified_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    #: who or what added it: "profile", "agent", "api", "merge", a channel name ...
    source: Mapped[str] = mapped_column(String(64), default="api")
    #: "staff" (an agent, an API client, an import) or "contact" (an inbound contact's claim)
    origin: Mapped[str] = mapped_column(String(16), default="staff")


class AttributeDefinition(IdMixin, TenantScoped, Base):
    """A tenant's typed custom attribute: ``customers.attributes[key]`` is validated by it."""

    __tablename__ = "customer_attribute_definitions"
    __table_args__ = (UniqueConstraint("tenant_id", "key"),)

    key: Mapped[str] = mapped_column(String(64))
    label_zh: Mapped[str] = mapped_column(String(100))
    label_en: Mapped[str] = mapped_column(String(100))
    type: Mapped[str] = mapped_column(String(16))
    options: Mapped[list[str]] = mapped_column(default=list)
    required: Mapped[bool] = mapped_column(default=False)
    pii: Mapped[bool] = mapped_column(default=False)
    description: Mapped[str | None] = mapped_column(String(500), nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class MergeSuggestion(IdMixin, TenantScoped, Base):
    """Two customers that look like one person (an identity matched but did not join).

    ``customer_id`` is the newer profile, ``candidate_id`` the one it resembles; ``reasons``
    lists ``{"why", "kind", "identity_id"}`` (never a clear value).
    """

    __tablename__ = "customer_merge_suggestions"
    __table_args__ = (
        UniqueConstraint("tenant_id", "customer_id", "candidate_id"),
        Index("ix_customer_merge_suggestions_status", "tenant_id", "status"),
    )

    customer_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    candidate_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(16), default="open")  # open|dismissed|merged
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
