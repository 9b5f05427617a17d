"""The outbox relay: committed events, in id order, to the bus; one relay at a time.

:meth:`Relay.run_once` reads a batch of unpublished outbox rows (oldest first), hands them to
the backend's ``publish`` and stamps ``published_at`` on them in one statement. ``publish``
returns only when the events are safe: the in-process backend when every interested consumer
has processed or recorded them, the Redis backend when they are in the streams. If it raises
(a consumer's database is away, Redis is down) nothing is stamped and the same batch is
published again on the next round; consumers skip what they already processed. Before
``publish`` the batch goes to the taps (:mod:`relaydesk.events.taps`: the realtime push),
which need no transaction. The read itself takes no write lock.

Only the leader runs the relay (and the retry loop, and the Redis bookkeeping). On
PostgreSQL :class:`Leadership` is a session-level advisory lock held on a dedicated
connection: when the leader process dies its connection closes, the lock is free and another
process takes over within one poll. SQLite is single-process, so the one process leads.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Sequence
from typing import Any, Protocol

import structlog
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from relaydesk.events import metrics
from relaydesk.events.envelope import Envelope
from relaydesk.events.known import system_reader
from relaydesk.events.models import OutboxEvent
from relaydesk.events.outbox import to_envelope
from relaydesk.events.taps import TapRunner
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
        self.taps = TapRunner()
        #: the last round read fewer rows than a batch: the outbox was empty after them
        self.drained = True
        #: the newest event the taps were offered (None until the first round)
        self.tap_mark: uuid.UUID | None = None
        #: a round is handing its batch to the consumers (the taps may look ahead meanwhile)
        self.publishing = False

    async def _read(self, where: Any) -> list[OutboxEvent]:
        """The oldest rows matching: a read (no write lock on SQLite, no transaction)."""
        async with system_reader(self.db) as session:
            stmt = select(OutboxEvent).where(where).order_by(OutboxEvent.id)
            return list(await session.scalars(stmt.limit(self.batch_size)))

    async def tap_new(self) -> int:
        """Offer the taps what was committed since they last looked, without waiting for the
        round in progress (its consumers may wait for the write lock); returns how many.
        ``run_once`` still offers them each batch it reads: an event committed out of id
        order (concurrent producers on PostgreSQL) is pushed then; none is pushed twice."""
        if self.tap_mark is None or not self.publishing or not self.taps.listening():
            return 0  # the relay's own next round comes first (or nobody listens)
        rows = await self._read(OutboxEvent.id > self.tap_mark)
        if rows:
            self.tap_mark = max(self.tap_mark, rows[-1].id)
            await self.taps.run([to_envelope(row) for row in rows])
        return len(rows)

    async def run_once(self) -> int:
        """Publish one batch of unpublished events, oldest first; returns how many."""
        rows = await self._read(OutboxEvent.published_at.is_(None))
        self.drained = len(rows) < self.batch_size
        if rows and (self.tap_mark is None or rows[-1].id > self.tap_mark):
            self.tap_mark = rows[-1].id
        envelopes = [to_envelope(row) for row in rows]
        await self.taps.run(envelopes)  # the push first: it needs no transaction
        if not rows:
            metrics.OUTBOX_LAG.set(0)
            return 0
        metrics.OUTBOX_LAG.set(max(0.0, (utcnow() - rows[0].occurred_at).total_seconds()))
        self.publishing = True
        try:
            await self.publisher.publish(envelopes)
            await self.mark_published([row.id for row in rows])
        except RepublishNeeded:
            self.drained = False
            return 1  # go round again at once: older events are unpublished now
        finally:
            self.publishing = False
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
