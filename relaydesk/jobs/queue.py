"""Enqueue jobs and register their handlers.

A job is enqueued in the caller's transaction (:func:`enqueue`), so it exists exactly when the
change that asked for it committed. Handlers are registered by kind (:func:`job_handler`) and
run outside any transaction: they may call other systems, and open their own units of work
with ``ctx.db.job(ctx.tenant_id)``. Delivery is at least once (a worker killed mid-job leaves
a lease that expires, and another worker runs the job again), so handlers are idempotent.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.jobs.models import Job
from relaydesk.kit.commit_hooks import poke_after_commit
from relaydesk.kit.db import Database, utcnow
from relaydesk.kit.ids import uuid7

__all__ = [
    "CHANNEL",
    "JobContext",
    "RetryLater",
    "enqueue",
    "enqueue_many",
    "job_handler",
    "job_row",
    "registered_kinds",
]

CHANNEL = "jobs"


class RetryLater(Exception):
    """Raised by a handler: run this job again after ``delay`` seconds (counts as an attempt)."""

    def __init__(self, delay: float, reason: str = "retry later") -> None:
        super().__init__(reason)
        self.delay = delay


@dataclass(frozen=True)
class JobContext:
    db: Database
    job_id: uuid.UUID
    kind: str
    tenant_id: uuid.UUID | None
    #: 1 on the first run
    attempt: int
    max_attempts: int
    #: the id of the worker process running it (for logs)
    worker: str


Handler = Callable[[JobContext, dict[str, Any]], Awaitable[None]]
_HANDLERS: dict[str, Handler] = {}


def job_handler(kind: str) -> Callable[[Handler], Handler]:
    """Register the handler of jobs of ``kind`` (one per kind)."""

    def register(handler: Handler) -> Handler:
        known = _HANDLERS.get(kind)
        if known is not None and known is not handler:
            raise ValueError(f"job kind {kind!r} already has a handler")
        _HANDLERS[kind] = handler
        return handler

    return register


def handler_for(kind: str) -> Handler | None:
    return _HANDLERS.get(kind)


def registered_kinds() -> list[str]:
    return sorted(_HANDLERS)


async def enqueue(
    session: AsyncSession,
    kind: str,
    payload: dict[str, Any] | None = None,
    *,
    tenant_id: uuid.UUID | None,
    run_at: dt.datetime | None = None,
    delay: float | None = None,
    dedupe_key: str | None = None,
    max_attempts: int = 10,
) -> uuid.UUID | None:
    """Add a job to ``session``'s transaction; returns its id, or None if ``dedupe_key`` exists.

    ``dedupe_key`` makes enqueueing idempotent across processes: of several workers that
    enqueue the same key (one cron tick, one webhook attempt), exactly one job is created.
    """
    values = job_row(kind, payload, tenant_id=tenant_id, run_at=run_at, delay=delay,
                     dedupe_key=dedupe_key, max_attempts=max_attempts)  # fmt: skip
    stmt = _insert(session)(Job).values(**values)
    if dedupe_key is not None:
        stmt = stmt.on_conflict_do_nothing(index_elements=["dedupe_key"])
    result = await session.execute(stmt.returning(Job.id))
    created = result.scalar_one_or_none()
    if created is not None:
        poke_after_commit(session, CHANNEL)
    return created


def job_row(
    kind: str,
    payload: dict[str, Any] | None = None,
    *,
    tenant_id: uuid.UUID | None,
    run_at: dt.datetime | None = None,
    delay: float | None = None,
    dedupe_key: str | None = None,
    max_attempts: int = 10,
) -> dict[str, Any]:
    """The row :func:`enqueue` would write (for :func:`enqueue_many`)."""
    now = utcnow()
    when = run_at or now
    if delay:
        when = when + dt.timedelta(seconds=delay)
    return {
        "id": uuid7(), "tenant_id": tenant_id, "kind": kind, "payload": payload or {},
        "dedupe_key": dedupe_key, "status": "pending", "run_at": when, "attempts": 0,
        "max_attempts": max_attempts, "created_at": now,
    }  # fmt: skip


async def enqueue_many(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Add several jobs (rows from :func:`job_row`) with one statement; a row whose
    ``dedupe_key`` exists already is skipped, as with :func:`enqueue`."""
    if not rows:
        return
    # a Core statement built once per dialect, on the session's connection (jobs are not
    # tenant-scoped: nothing for the ORM's guard to do, and its bulk path costs more per row)
    connection = await session.connection()
    await connection.execute(_INSERT_MANY[connection.dialect.name == "postgresql"], rows)
    now = utcnow()
    if any(row["run_at"] <= now for row in rows):  # later ones are found by the poll
        poke_after_commit(session, CHANNEL)


_INSERT_MANY = tuple(
    insert(Job).on_conflict_do_nothing(index_elements=["dedupe_key"])
    for insert in (sqlite_insert, pg_insert)
)


def _insert(session: AsyncSession) -> Any:
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    return pg_insert if dialect == "postgresql" else sqlite_insert
