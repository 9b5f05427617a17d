"""Agent presence and capacity, and per-team routing settings."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from relaydesk.kit.db import Base, IdMixin, TenantScoped, utcnow

PRESENCE = ("online", "busy", "away", "offline")
MODES = ("round_robin", "least_busy")


class AgentPresence(IdMixin, TenantScoped, Base):
    """An agent's availability: only ``online`` agents below capacity get new conversations."""

    __tablename__ = "agent_presence"
    __table_args__ = (UniqueConstraint("tenant_id", "user_id"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(10), default="offline")
    #: most open conversations assigned at once
    capacity: Mapped[int] = mapped_column(default=5)
    #: skills (e.g. "english", "refunds", "vip"); a conversation tagged with a skill needs it
    skills: Mapped[list[str]] = mapped_column(default=list)
    last_assigned_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class TeamRouting(IdMixin, TenantScoped, Base):
    __tablename__ = "team_routing"
    __table_args__ = (UniqueConstraint("tenant_id", "team_id"),)

    team_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    mode: Mapped[str] = mapped_column(String(12), default="round_robin")
    auto_assign: Mapped[bool] = mapped_column(default=True)
    #: skills known to routing: conversation tags outside this list do not restrict agents
    skills: Mapped[list[str]] = mapped_column(default=list)
