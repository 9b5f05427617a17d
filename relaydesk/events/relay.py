"""The outbox relay: committed events, in id order, to the bus; one relay at a time.

:meth:`Relay.run_once` reads a batch of unpublished outbox rows (oldest first), hands them to
the backend's ``publish`` and stamps ``published_at`` on them in one statement. ``publish``
returns only when the events are safe: the in-process backend when every interested consumer
has processed or recorded them, the Redis backend when they are in the streams. If it raises
(a consumer's database is away, Redis is down) nothing is stamped and the same batch is
published again on the next round; consumers skip what they already processed.

Only the leader runs the relay (and the retry loop, and the Redis bookkeeping). On
PostgreSQL :class:`Leadership` is a session-level advisory lock held on a dedicated
connection: when the leader process dies its connection closes, the lock is free and another
process takes over within one poll. SQLite is single-process, so the one process leads.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from typing import Protocol

import structlog
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from relaydesk.events import metrics
from relaydesk.events.envelope import Envelope
from relaydesk.events.models import OutboxEvent
from relaydesk.events.outbox import to_envelope
from relaydesk.kit.db import Database, utcnow

__all__ = ["Leadership", "Publisher", "Relay", "RepublishNeeded"]

log = structlog.get_logger("relaydesk.events")

#: "RD_EVBUS": the advisory lock of the bus leader
LEADER_LOCK = 0x52445F4556425553


class RepublishNeeded(Exception):
    """The backend lost published events and reset them in the outbox: read again."""


class Publisher(Protocol):
    name: str

    async def publish(self, envelopes: Sequence[Envelope]) -> None: ...


class Leadership:
    """Who runs the relay: a PostgreSQL advisory lock on a connection of its own."""

    def __init__(self, db: Database, *, check_seconds: float = 5.0) -> None:
        self.db = db
        self.check_seconds = check_seconds
        self._conn: AsyncConnection | None = None
        self._checked = 0.0

    @property
    def needs_lock(self) -> bool:
        return self.db.dialect == "postgresql" and not self.db.shares_connection

    async def acquire(self) -> bool:
        """True while this process leads (cheap when it already does)."""
        if not self.needs_lock:
            return True
        if self._conn is not None:
            if time.monotonic() - self._checked < self.check_seconds:
                return True
            try:
                await self._conn.execute(text("SELECT 1"))
                await self._conn.commit()
                self._checked = time.monotonic()
                return True
            except Exception:
                log.warning("events.leader_connection_lost")
                await self._drop()
        conn = await self.db.engine.connect()
        try:
            got = bool(
                await conn.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": LEADER_LOCK})
            )
            await conn.commit()
        except BaseException:
            await conn.close()
            raise
        if not got:
            await conn.close()
            return False
        self._conn, self._checked = conn, time.monotonic()
        log.info("events.leader_acquired")
        return True

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.close()
            except Exception:  # the connection is already broken
                await conn.invalidate()

    async def release(self) -> None:
        if self._conn is None:
            return
        try:
            await self._conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LEADER_LOCK})
            await self._conn.commit()
        except Exception:
            log.warning("events.leader_unlock_failed")
        await self._drop()


class Relay:
    def __init__(self, db: Database, publisher: Publisher, *, batch_size: int = 500) -> None:
        self.db = db
        self.publisher = publisher
        self.batch_size = batch_size

    async def run_once(self) -> int:
        """Publish one batch of unpublished events, oldest first; returns how many."""
        async with self.db.job(system=True) as session:
            rows = list(
                await session.scalars(
                    select(OutboxEvent)
                    .where(OutboxEvent.published_at.is_(None))
                    .order_by(OutboxEvent.id)
                    .limit(self.batch_size)
                )
            )
        if not rows:
            metrics.OUTBOX_LAG.set(0)
            return 0
        metrics.OUTBOX_LAG.set(max(0.0, (utcnow() - rows[0].occurred_at).total_seconds()))
        try:
            await self.publisher.publish([to_envelope(row) for row in rows])
        except RepublishNeeded:
            return 1  # go round again at once: older events are unpublished now
        await self.mark_published([row.id for row in rows])
        metrics.PUBLISHED.labels(self.publisher.name).inc(len(rows))
        return len(rows)

    async def mark_published(self, ids: Sequence[object], at: dt.datetime | None = None) -> None:
        async with self.db.job(system=True) as session:
            await session.execute(
                update(OutboxEvent)
                .where(OutboxEvent.id.in_(ids))
                .values(published_at=at or utcnow())
                .execution_options(synchronize_session=False)
            )
