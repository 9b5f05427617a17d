"""Saga definitions (per tenant, versioned), running sagas and their steps (durable state)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from relaydesk.kit.db import Base, IdMixin, TenantScoped, utcnow
from relaydesk.tenancy import models as _tenancy  # noqa: F401 - the tenants table (foreign keys)

#: saga statuses; the last three are final
RUNNING, COMPLETED, COMPENSATING, COMPENSATED, FAILED = (
    "running", "completed", "compensating", "compensated", "failed",
)  # fmt: skip
FINAL = frozenset({COMPLETED, COMPENSATED, FAILED})


class SagaDefinition(IdMixin, TenantScoped, Base):
    """A tenant's declarative multi-system action: typed input, ordered connector steps."""

    __tablename__ = "saga_definitions"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    name: Mapped[str] = mapped_column(String(63))
    title: Mapped[str] = mapped_column(String(200), default="")
    #: the validated document (see relaydesk.sagas.definition.SagaDocument)
    document: Mapped[dict[str, Any]] = mapped_column()
    version: Mapped[int] = mapped_column(default=1)
    enabled: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Saga(IdMixin, TenantScoped, Base):
    """One run of a definition. The document is a snapshot: editing the definition later
    does not change a saga that already started."""

    __tablename__ = "sagas"
    __table_args__ = (Index("ix_sagas_tenant_status", "tenant_id", "status", "id"),)

    definition_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("saga_definitions.id", ondelete="SET NULL"), nullable=True
    )
    definition_name: Mapped[str] = mapped_column(String(63))
    definition_version: Mapped[int] = mapped_column()
    document: Mapped[dict[str, Any]] = mapped_column()
    #: the validated input, JSON-ready (clear: steps need it; masked when shown)
    input: Mapped[dict[str, Any]] = mapped_column()
    #: running | completed | compensating | compensated | failed
    status: Mapped[str] = mapped_column(String(16), default=RUNNING)
    #: the position of the step running (or the last one that ran)
    current_step: Mapped[int] = mapped_column(default=0)
    #: why it stopped going forward: {"step", "code", "message"}
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    #: who started it and the permissions checked at start: {"type","id","label",...}
    started_by: Mapped[dict[str, Any]] = mapped_column()
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)


class SagaStep(IdMixin, TenantScoped, Base):
    """One step of a saga: its forward call and its compensation, each recorded."""

    __tablename__ = "saga_steps"
    __table_args__ = (UniqueConstraint("saga_id", "position"),)

    saga_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sagas.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column()
    name: Mapped[str] = mapped_column(String(63))
    instance: Mapped[str] = mapped_column(String(63))
    action: Mapped[str] = mapped_column(String(63))
    #: pending | running (a call in flight) | succeeded | failed | skipped | unknown
    status: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    #: the parameters of the last call, personal data masked (as in the call log)
    params: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    #: the mapped output (masked as the starter would have seen it)
    output: Mapped[Any] = mapped_column(JSON, nullable=True)
    #: output field -> personal-data kind (from the action), to mask it for readers
    pii: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    call_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    started_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    #: none | pending | running | done | failed | skipped
    compensation_status: Mapped[str] = mapped_column(String(12), default="none")
    compensation_action: Mapped[str | None] = mapped_column(String(130), nullable=True)
    compensation_attempts: Mapped[int] = mapped_column(default=0)
    compensation_params: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    compensation_error: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    compensation_call_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    compensated_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    #: a note for people when the outcome needs a look (unknown result, failed undo)
    attention: Mapped[str | None] = mapped_column(Text, nullable=True)
