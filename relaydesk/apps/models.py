"""Embedded apps (per tenant) and the signing keys of their context tokens (deployment-wide)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from relaydesk.kit.db import Base, IdMixin, TenantScoped, utcnow

__all__ = ["AppSigningKey", "EmbeddedApp"]


class EmbeddedApp(IdMixin, TenantScoped, Base):
    """A page of an existing system, shown in a sandboxed iframe at one placement."""

    __tablename__ = "embedded_apps"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(String(500), nullable=True)
    #: the page; the context token is added as the ``rd_token`` query parameter
    url: Mapped[str] = mapped_column(String(2000))
    #: origins the frame may show and accept messages from (the URL's origin first)
    origins: Mapped[list[str]] = mapped_column(default=list)
    placement: Mapped[str] = mapped_column(String(30), default="customer_panel")
    height: Mapped[int] = mapped_column(default=420)
    enabled: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AppSigningKey(Base):
    """An ES256 key pair that signs context tokens. Not tenant-scoped: one key set per
    deployment, published as a JWKS; the private key is AES-GCM encrypted with the keyring."""

    __tablename__ = "app_signing_keys"

    #: RFC 7638 thumbprint of the public key (the JWT ``kid``)
    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    algorithm: Mapped[str] = mapped_column(String(10), default="ES256")
    public_jwk: Mapped[dict[str, Any]] = mapped_column()
    private_key_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    #: signs from this time on (a rotated-in key is published before it signs)
    activates_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    #: no longer published (tokens it signed can no longer be verified)
    retired_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
