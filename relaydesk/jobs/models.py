"""Durable scheduled jobs: webhook attempts, rule delays and timers, saga steps."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from relaydesk.kit.db import Base, IdMixin, utcnow


class Job(IdMixin, Base):
    """One unit of background work, run at or after ``run_at`` by any worker process.

    Not tenant-scoped at the ORM level (the runner claims jobs of every tenant); ``tenant_id``
    says whose work it is and the handler's sessions are scoped to it.
    """

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_due", "status", "run_at"),
        Index("ix_jobs_tenant_kind", "tenant_id", "kind", "status"),
    )

    tenant_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    kind: Mapped[str] = mapped_column(String(63))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: unique when set: enqueueing the same key twice creates one job (exactly-once ticks)
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True, nullable=True)
    #: pending | running | done | failed
    status: Mapped[str] = mapped_column(String(12), default="pending")
    run_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=10)
    locked_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    locked_until: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
