"""Agent presence and capacity, per-team routing settings, priority rules and decisions."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
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


class PriorityRule(IdMixin, TenantScoped, Base):
    """Priority routing: look the customer up in a connected system (a read action) and, when
    ``condition`` holds for the answer, give the conversation a priority, a team and skills.

    The lookup runs as the rule's own service identity, which holds exactly the action's
    permission (see :mod:`relaydesk.routing.priority`)."""

    __tablename__ = "routing_priority_rules"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    name: Mapped[str] = mapped_column(String(100))
    #: rules are tried in this order (then by id); the first that matches applies
    position: Mapped[int] = mapped_column(default=0)
    enabled: Mapped[bool] = mapped_column(default=True)
    instance_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("connector_instances.id", ondelete="CASCADE"), index=True
    )
    action: Mapped[str] = mapped_column(String(100))
    #: parameter name -> literal or ``{{ customer.* }}`` template (the Customer 360 context)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: JMESPath over ``{result, customer}``; a truthy value is a match
    condition: Mapped[str] = mapped_column(String(1000))
    #: what a match does: any of priority, team, skills (added to the conversation's tags)
    priority: Mapped[str | None] = mapped_column(String(10), nullable=True)
    team_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("teams.id", ondelete="SET NULL"), nullable=True
    )
    skills: Mapped[list[str]] = mapped_column(default=list)
    timeout_seconds: Mapped[float] = mapped_column(default=2.0)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class RoutingDecision(IdMixin, TenantScoped, Base):
    """What priority routing decided for one conversation, and why (one row per conversation).

    ``outcome``: ``matched`` (a rule applied), ``no_match`` (every lookup answered, no
    condition held), ``failed`` (no rule matched and at least one lookup failed: normal
    routing, the reason says which system and why). ``checks`` has one entry per rule tried:
    ``{rule_id, rule, result, reason, call_id}``."""

    __tablename__ = "routing_decisions"
    __table_args__ = (UniqueConstraint("tenant_id", "conversation_id"),)

    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE")
    )
    outcome: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str] = mapped_column(String(1000))
    rule_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("routing_priority_rules.id", ondelete="SET NULL"), nullable=True
    )
    priority: Mapped[str | None] = mapped_column(String(10), nullable=True)
    team_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("teams.id", ondelete="SET NULL"), nullable=True
    )
    skills: Mapped[list[str]] = mapped_column(default=list)
    checks: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    #: how long the lookups took together
    latency_ms: Mapped[float] = mapped_column(default=0.0)
