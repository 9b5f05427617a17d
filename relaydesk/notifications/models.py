from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from relaydesk.kit.db import Base, IdMixin, TenantScoped


class Notification(IdMixin, TenantScoped, Base):
    """One message to one user; ``read_at`` is set when they mark it read."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user", "tenant_id", "user_id", "read_at", "id"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    link: Mapped[str | None] = mapped_column(String(500), nullable=True)
    #: what sent it: {"kind": "rule", "rule_id": ...}, {"kind": "webhook", ...}, ...
    source: Mapped[dict[str, Any]] = mapped_column(default=dict)
    read_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
