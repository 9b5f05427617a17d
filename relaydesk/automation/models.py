"""Rules, their immutable versions, executions and absence watches."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from relaydesk.kit.db import Base, IdMixin, TenantScoped, utcnow


class Rule(IdMixin, TenantScoped, Base):
    """A rule's identity and switch; what it does lives in its current :class:`RuleVersion`.

    The trigger columns copy the current version's trigger so the event consumer finds the
    rules an event concerns with one indexed query.
    """

    __tablename__ = "automation_rules"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name"),
        Index("ix_automation_rules_trigger", "tenant_id", "enabled", "trigger_event"),
        Index("ix_automation_rules_trigger_end", "tenant_id", "enabled", "trigger_end_event"),
    )

    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(String(1000), default="")
    enabled: Mapped[bool] = mapped_column(default=True)
    #: the number and id of the current version
    version: Mapped[int] = mapped_column(default=1)
    version_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    #: event | cron | absence
    trigger_kind: Mapped[str] = mapped_column(String(16))
    #: the event type or family ("order.*") that starts it (event, absence)
    trigger_event: Mapped[str | None] = mapped_column(String(100), nullable=True)
    #: absence: the event that, arriving in time with the same key, cancels it
    trigger_end_event: Mapped[str | None] = mapped_column(String(100), nullable=True)
    created_by: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class RuleVersion(IdMixin, TenantScoped, Base):
    """One immutable definition of a rule; every change makes a new one."""

    __tablename__ = "automation_rule_versions"
    __table_args__ = (UniqueConstraint("rule_id", "number"),)

    rule_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("automation_rules.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int] = mapped_column()
    #: trigger, conditions, lookups, actions, on_error, run_as (validated JSON)
    definition: Mapped[dict[str, Any]] = mapped_column()
    #: who saved it (a user or API key id) and as what
    created_by: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    created_by_label: Mapped[str] = mapped_column(String(200), default="")


class RuleExecution(IdMixin, TenantScoped, Base):
    """One run of a rule version for one trigger (event, cron tick or absence).

    ``dedupe_key`` (``rule:<rule id>:<event id | tick>``) is unique: a trigger delivered
    twice finds the execution it already has and resumes it after its last completed step.
    """

    __tablename__ = "automation_executions"
    __table_args__ = (
        Index("ix_automation_executions_rule", "tenant_id", "rule_id", "id"),
        Index("ix_automation_executions_recent", "tenant_id", "status", "id"),
    )

    rule_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("automation_rules.id", ondelete="CASCADE")
    )
    version_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("automation_rule_versions.id", ondelete="CASCADE")
    )
    version: Mapped[int] = mapped_column()
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    trigger_kind: Mapped[str] = mapped_column(String(16))
    event_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    event_type: Mapped[str | None] = mapped_column(String(100), nullable=True)
    depth: Mapped[int] = mapped_column(default=0)
    #: the trigger envelope as JSON (synthetic for a cron tick)
    trigger: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: pending | running | waiting | succeeded | failed | not_matched | refused | rate_limited
    status: Mapped[str] = mapped_column(String(16), default="pending")
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    matched: Mapped[bool | None] = mapped_column(nullable=True)
    #: every condition leaf evaluated: loc, path, op, value, actual (masked), result
    conditions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    #: lookup name -> {ok, data | error}
    lookups: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    customer_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    #: how many times the conditions were evaluated (a failed lookup may be retried)
    evaluations: Mapped[int] = mapped_column(default=0)
    #: one entry per action: id, type, status, attempts, output, error, started/finished
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    #: the index of the next action to run
    next_step: Mapped[int] = mapped_column(default=0)
    started_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class RuleWatch(IdMixin, TenantScoped, Base):
    """An absence trigger waiting: event X arrived; if no Y with the same key follows before
    ``deadline``, the rule runs (with X as its trigger)."""

    __tablename__ = "automation_watches"
    __table_args__ = (
        UniqueConstraint("rule_id", "start_event_id"),
        Index("ix_automation_watches_open", "tenant_id", "status", "key"),
    )

    rule_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("automation_rules.id", ondelete="CASCADE"), index=True
    )
    version_id: Mapped[uuid.UUID] = mapped_column()
    start_event_id: Mapped[uuid.UUID] = mapped_column()
    key: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[dt.datetime] = mapped_column()
    deadline: Mapped[dt.datetime] = mapped_column()
    #: waiting | satisfied | fired
    status: Mapped[str] = mapped_column(String(12), default="waiting")
    satisfied_by: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    trigger: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
