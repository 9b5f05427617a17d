"""The outbox relay: committed events, in id order, to the bus; one relay at a time.

:meth:`Relay.run_once` reads a batch of unpublished outbox rows (oldest first), hands them to
the taps (:mod:`relaydesk.events.taps`: the realtime push, which needs no transaction), then
to the backend's ``publish``, and stamps ``published_at`` on them in one statement. The
in-process backend stamps them itself (for a small batch, or on one lane, in the consumers'
own transaction: :meth:`~relaydesk.events.dispatch.Dispatcher.deliver_all`). ``publish``
returns only when the events are safe: the in-process backend when every interested consumer
has processed or recorded them, the Redis backend when they are in the streams. If it raises
(a consumer's database is away, Redis is down) what was not stamped is published again on the
next round; consumers skip what they already processed. The read takes no write lock.

Only the leader runs the relay (and the retry loop, and the Redis bookkeeping). On
PostgreSQL :class:`Leadership` is a session-level advisory lock held on a dedicated
connection: when the leader process dies its connection closes, the lock is free and another
process takes over within one poll. SQLite is single-process, so the one process leads.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Collection, Sequence
from typing import Any, Protocol

import structlog
from sqlalchemy import Table, bindparam, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from relaydesk.events import metrics
from relaydesk.events.envelope import Envelope
from relaydesk.events.known import MARK, reading
from relaydesk.events.models import OutboxEvent
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

    async def publish(self, envelopes: Sequence[Envelope]) -> Collection[uuid.UUID] | None:
        """Hand the events on; returns the ids it stamped published itself (or None)."""


class Leadership:
    """Who runs the relay: a PostgreSQL advisory lock on a connection of its own."""

    def __init__(self, db: Database, *, check_seconds: float = 5.0) -> None:
        self.db = db
        self.check_seconds = check_seconds
        self._conn: AsyncConnection | None = None
        self._checked = 0.0
        #: how many times this process took the lock (a new term: what it knew may be stale)
        self.terms = 0

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
        self.terms += 1
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


_OUTBOX: Table = OutboxEvent.__table__  # type: ignore[assignment]
_O = _OUTBOX.c
#: the envelope's fields, in :class:`Envelope`'s order
_ENVELOPE = (_O.id, _O.tenant_id, _O.type, _O.version, _O.key, _O.payload, _O.occurred_at,
             _O.source, _O.causation_id, _O.correlation_id, _O.depth)  # fmt: skip
_UNPUBLISHED = (
    select(*_ENVELOPE).where(_O.published_at.is_(None)).order_by(_O.id).limit(bindparam("n"))
)
_AFTER = (
    select(*_ENVELOPE)
    .where(_O.id > bindparam("after", type_=_O.id.type))
    .order_by(_O.id)
    .limit(bindparam("n"))
)


def envelope_of(row: Any) -> Envelope:
    """An outbox row read with the columns of ``_ENVELOPE``."""
    (id_, tenant_id, type_, version, key, payload, occurred_at, source, causation_id,
     correlation_id, depth) = row  # fmt: skip
    return Envelope(id_, tenant_id, type_, version, key, payload, occurred_at, source or {},
                    causation_id, correlation_id, depth or 0)  # fmt: skip


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
        self._published = metrics.PUBLISHED.labels(publisher.name)

    async def _read(self, stmt: Any, **params: Any) -> list[Envelope]:
        """The oldest rows matching: a read (no write lock on SQLite, no transaction)."""
        async with reading(self.db) as conn:
            rows = await conn.execute(stmt, {"n": self.batch_size, **params})
            return [envelope_of(row) for row in rows]

    async def tap_new(self) -> int:
        """Offer the taps what was committed since they last looked, without waiting for the
        round in progress (its consumers may wait for the write lock); returns how many.
        ``run_once`` still offers them each batch it reads: an event committed out of id
        order (concurrent producers on PostgreSQL) is pushed then; none is pushed twice."""
        if self.tap_mark is None or not self.publishing or not self.taps.listening():
            return 0  # the relay's own next round comes first (or nobody listens)
        envelopes = await self._read(_AFTER, after=self.tap_mark)
        if envelopes:
            self.tap_mark = max(self.tap_mark, envelopes[-1].id)
            await self.taps.run(envelopes)
        return len(envelopes)

    async def run_once(self) -> int:
        """Publish one batch of unpublished events, oldest first; returns how many."""
        envelopes = await self._read(_UNPUBLISHED)
        self.drained = len(envelopes) < self.batch_size
        if envelopes and (self.tap_mark is None or envelopes[-1].id > self.tap_mark):
            self.tap_mark = envelopes[-1].id
        await self.taps.run(envelopes)  # the push first: it needs no transaction
        if not envelopes:
            metrics.OUTBOX_LAG.set(0)
            return 0
        metrics.OUTBOX_LAG.set(max(0.0, (utcnow() - envelopes[0].occurred_at).total_seconds()))
        self.publishing = True
        try:
            # the in-process backend stamps the events itself (on one lane in the consumers'
            # own transaction) and returns their ids
            marked = await self.publisher.publish(envelopes) or ()
            rest = [e.id for e in envelopes if e.id not in marked]
            if rest:
                await self.mark_published(rest)
        except RepublishNeeded:
            self.drained = False
            return 1  # go round again at once: older events are unpublished now
        finally:
            self.publishing = False
        self._published.inc(len(envelopes))
        return len(envelopes)

    async def mark_published(self, ids: Sequence[object], at: dt.datetime | None = None) -> None:
        async with self.db.job(system=True) as session:
            await (await session.connection()).execute(MARK, {"ids": ids, "at": at or utcnow()})
