"""Running consumers on events: once each, in order per key, retried, then dead-lettered.

:meth:`Dispatcher.deliver` runs one consumer on a batch of events (what the in-process relay
on several lanes or a Redis Streams partition reader hands it). For each tenant in the batch
it first tries the fast path: one transaction, scoped to the tenant, that skips the events
the consumer already processed, runs ``consumer.handle`` on the others in order and writes
their :class:`ProcessedEvent` records. If any handler raises, that transaction is rolled back
as a whole and the batch is run again one event per transaction, so one bad event costs only
itself: its failure is recorded (in a separate transaction) as an :class:`EventFailure` with
the error and the time of the next attempt (exponential backoff with jitter).

The in-process relay on one lane (SQLite, a shared connection, or a batch no larger than the
lanes on PostgreSQL) calls :meth:`Dispatcher.deliver_all`: every consumer of a chunk in one
transaction with the chunk's ``published_at`` stamp (savepoints only after one raised, or
for a consumer that ``acts_outside``); records are not read where
:class:`~relaydesk.events.known.Fresh` says none can exist.

Order per key: while an event is failing, the later events of the same key (for that
consumer) are *parked* behind it (an ``EventFailure`` row with no attempts yet) instead of
overtaking it. :meth:`Dispatcher.retry_due` (run by the one leader process) retries each key's
rows in event order: the head first; if it succeeds or finally goes dead (the dead-letter
store) the parked events behind it run at once, in order. Replayed events form their own
queue per key and never hold back new events.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import fields
from typing import Any

import structlog
from sqlalchemy import delete, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.events import metrics
from relaydesk.events.consumers import Consumer, consumers
from relaydesk.events.envelope import Envelope
from relaydesk.events.known import (
    MARK,
    PROCESSED,
    RECORD,
    STAMP,
    Fresh,
    describe_error,
    known_all,
    sort_batch,
)
from relaydesk.events.models import EventFailure, ProcessedEvent
from relaydesk.events.retry_queries import quiet_for, retry_due
from relaydesk.jobs.runner import backoff
from relaydesk.kit.db import Database, utcnow
from relaydesk.kit.ids import uuid7

__all__ = ["Dispatcher", "describe_error"]

log = structlog.get_logger("relaydesk.events")

#: the ``max_attempts`` a Consumer gets when it does not set one (then the setting applies)
_CONSUMER_DEFAULT_ATTEMPTS = next(f.default for f in fields(Consumer) if f.name == "max_attempts")


class _RolledBack(Exception):
    """The one consumer of a transaction raised: the transaction is rolled back whole."""


class _Isolate(Exception):
    """A consumer raised in a transaction shared without savepoints: roll back, go again
    with each consumer in a savepoint."""


class Dispatcher:
    def __init__(
        self,
        db: Database,
        *,
        max_attempts: int = 8,
        retry_base: float = 2.0,
        retry_cap: float = 600.0,
        chunk_size: int = 100,
    ) -> None:
        self.db = db
        #: events per fast-path transaction (bounds how long one holds SQLite's write lock)
        self.chunk_size = chunk_size
        self.max_attempts = max_attempts
        self.retry_base = retry_base
        self.retry_cap = retry_cap
        #: failure rows this process wrote (parked, failed, failed again): the retry loop
        #: scans again at once when it changed
        self.failures_written = 0
        #: events that can have no record yet (the relay's one lane)
        self.fresh = Fresh()
        self._metrics: dict[str, tuple[Any, Any]] = {}

    def attempts_allowed(self, consumer: Consumer) -> int:
        """The consumer's own ``max_attempts`` when it set one, else the setting."""
        if consumer.max_attempts != _CONSUMER_DEFAULT_ATTEMPTS:
            return consumer.max_attempts
        return self.max_attempts

    def _next_attempt(self, attempts: int) -> dt.datetime:
        return utcnow() + dt.timedelta(seconds=backoff(attempts, self.retry_base, self.retry_cap))

    # --- first delivery ---------------------------------------------------------------------

    def _chunks(self, envelopes: Sequence[Envelope]) -> Iterator[tuple[uuid.UUID, list[Envelope]]]:
        """(tenant, events) in transactions of at most ``chunk_size`` events, in order."""
        by_tenant: dict[uuid.UUID, list[Envelope]] = {}
        for envelope in envelopes:
            by_tenant.setdefault(envelope.tenant_id, []).append(envelope)
        for tenant_id, batch in by_tenant.items():
            for start in range(0, len(batch), self.chunk_size):
                yield tenant_id, batch[start : start + self.chunk_size]

    async def deliver(self, consumer: Consumer, envelopes: Sequence[Envelope]) -> None:
        """Run ``consumer`` on ``envelopes`` (in order); return when each one is processed, or
        failed or parked with a record. Raises only when the database itself fails (then the
        caller delivers the batch again later; processed events are skipped)."""
        for tenant_id, chunk in self._chunks(envelopes):
            if not await self._together(tenant_id, chunk, [(consumer, chunk)]):
                await self._one_by_one(consumer, tenant_id, chunk)

    @staticmethod
    async def _handle(session: AsyncSession, consumer: Consumer, done: list[Envelope]) -> None:
        if consumer.handle_batch is not None and done:
            await consumer.handle_batch(session, done)
        else:
            for envelope in done:
                await consumer.handle(session, envelope)

    async def deliver_all(
        self, wanted: Sequence[Consumer], envelopes: Sequence[Envelope]
    ) -> set[uuid.UUID]:
        """The relay's one lane (SQLite: one writer anyway; a small batch on PostgreSQL):
        every consumer in ``wanted`` on the events it wants, one transaction per tenant and
        chunk for all of them, each consumer in a savepoint (one that raises is rolled back
        alone, then runs one event per transaction). Each chunk is stamped published in that
        same transaction when all went through there, else once its failures are recorded;
        returns the ids stamped."""
        if self.fresh.after is None:
            await self.fresh.load(self.db)
        stamped: set[uuid.UUID] = set()
        chunks = list(self._chunks(envelopes))
        # before any stamp (a stamp raises Fresh.after: the other tenants' chunks interleave)
        fresh = [self.fresh.all_fresh(chunk) for _, chunk in chunks]
        for (tenant_id, chunk), new in zip(chunks, fresh, strict=True):
            work = [(c, [e for e in chunk if c.wants(e.type)]) for c in wanted]
            work = [(c, events) for c, events in work if events]
            if not await self._together(tenant_id, chunk, work, stamp=True, fresh=new):
                self.fresh.forget()  # perhaps a record the fast path did not expect
                for consumer, events in work:  # the transaction itself failed
                    await self.deliver(consumer, events)
                await self.stamp(chunk)
            stamped.update(e.id for e in chunk)
        return stamped

    async def _together(
        self,
        tenant_id: uuid.UUID,
        chunk: Sequence[Envelope],
        work: list[tuple[Consumer, list[Envelope]]],
        *,
        stamp: bool = False,
        fresh: bool = False,
        isolate: bool = False,
    ) -> bool:
        """One transaction for ``work`` (a consumer that raises then runs one event per
        transaction): without savepoints first, then (``isolate``) each consumer in one;
        ``stamp``: stamp the chunk too; ``fresh``: no record can exist yet. False when the
        transaction itself failed (nothing committed)."""
        results: list[tuple[Consumer, list[Envelope], list[Any]]] = []
        failed: list[tuple[Consumer, list[Envelope]]] = []
        solo = len(work) == 1
        # no savepoints: a raise rolls back everything
        shared = not solo and not isolate and not any(c.acts_outside for c, _ in work)
        stamped = False
        try:
            async with self.db.job(tenant_id) as session:
                names = [c.name for c, _ in work]
                known = await known_all(session, names, chunk, processed=not fresh,
                                        failures=not fresh or self.fresh.blockers)  # fmt: skip
                records = []
                now = utcnow()
                for consumer, events in work:
                    done, parked = sort_batch(known[consumer.name], events)
                    try:
                        if solo or shared:  # a raise rolls the transaction back
                            await self._handle(session, consumer, done)
                        elif done:
                            async with session.begin_nested():
                                await self._handle(session, consumer, done)
                    except Exception as exc:
                        log.debug("events.batch_fallback", consumer=consumer.name,
                                  error=describe_error(exc))  # fmt: skip
                        if shared:
                            raise _Isolate from exc
                        failed.append((consumer, events))
                        if solo:
                            raise _RolledBack from exc
                        continue
                    results.append((consumer, done, parked))
                    records += [
                        {"consumer": consumer.name, "event_id": e.id, "tenant_id": tenant_id,
                         "processed_at": now} for e in done
                    ]  # fmt: skip
                conn = await session.connection()
                if records:
                    await conn.execute(RECORD, records)
                if stamp and not failed and not any(parked for _, _, parked in results):
                    await conn.execute(STAMP, {"tenant": tenant_id, "at": now,
                                                "ids": [e.id for e in chunk]})  # fmt: skip
                    stamped = True
        except _RolledBack:
            pass
        except _Isolate:
            return await self._together(tenant_id, chunk, work, stamp=stamp, fresh=fresh,
                                        isolate=True)  # fmt: skip
        except Exception as exc:
            log.debug("events.together_failed", error=describe_error(exc))
            return False
        if not stamped:
            for _, done, _ in results:
                self.fresh.touch(e.id for e in done)
        else:
            self.fresh.stamped([e.id for e in chunk])
        for consumer, done, parked in results:
            self._count_processed(consumer, done)
            if parked:
                await self._park(consumer, parked)
        for consumer, events in failed:
            await self._one_by_one(consumer, tenant_id, events)
        if stamp and not stamped:
            await self.stamp(chunk)
        return True

    async def stamp(self, envelopes: Sequence[Envelope]) -> set[uuid.UUID]:
        """Stamp events published once every consumer processed or recorded them."""
        ids = [e.id for e in envelopes]
        async with self.db.job(system=True) as session:
            await (await session.connection()).execute(MARK, {"ids": ids, "at": utcnow()})
        self.fresh.stamped(ids)
        return set(ids)

    async def _one_by_one(
        self, consumer: Consumer, tenant_id: uuid.UUID, batch: list[Envelope]
    ) -> None:
        async with self.db.job(tenant_id) as session:
            known = (await known_all(session, [consumer.name], batch))[consumer.name]
        for envelope in batch:
            if envelope.id in known.processed or envelope.id in known.failing:
                continue
            blocker = known.blocked.get(envelope.key)
            if blocker is not None:
                await self._park(consumer, [(envelope, blocker)])
                continue
            error = await self.attempt(consumer, envelope)
            if error is None:
                continue
            await self._record_first_failure(consumer, envelope, error)
            known.blocked[envelope.key] = envelope.id

    async def attempt(
        self, consumer: Consumer, envelope: Envelope, failure_id: uuid.UUID | None = None
    ) -> BaseException | None:
        """One transaction: handle, processed record (and drop the failure row); the error or
        None. An event processed meanwhile by someone else counts as success."""
        self.fresh.touch((envelope.id,))
        try:
            async with self.db.job(envelope.tenant_id) as session:
                already = await self._processed(session, consumer, envelope)
                if not already:
                    await consumer.handle(session, envelope)
                    session.add(ProcessedEvent(consumer=consumer.name, event_id=envelope.id,
                                               tenant_id=envelope.tenant_id))  # fmt: skip
                if failure_id is not None:
                    await session.execute(delete(EventFailure).where(EventFailure.id == failure_id))
        except Exception as exc:
            if isinstance(exc, IntegrityError) and await self._is_processed(consumer, envelope):
                return None  # a concurrent delivery (an expired lease) won the race
            return exc
        if not already:
            self._count_processed(consumer, [envelope])
        return None

    @staticmethod
    async def _processed(session: AsyncSession, consumer: Consumer, envelope: Envelope) -> bool:
        params = {"tenant": envelope.tenant_id, "names": [consumer.name], "ids": [envelope.id]}
        return (await (await session.connection()).execute(PROCESSED, params)).first() is not None

    async def _is_processed(self, consumer: Consumer, envelope: Envelope) -> bool:
        async with self.db.job(envelope.tenant_id) as session:
            return await self._processed(session, consumer, envelope)

    def _count_processed(self, consumer: Consumer, done: Sequence[Envelope]) -> None:
        if not done:
            return
        found = self._metrics.get(consumer.name)
        if found is None:
            found = self._metrics[consumer.name] = (
                metrics.PROCESSED.labels(consumer.name),
                metrics.DELIVERY_LATENCY.labels(consumer.name),
            )
        counter, histogram = found
        counter.inc(len(done))
        now = utcnow()
        for envelope in done:
            histogram.observe(max(0.0, (now - envelope.occurred_at).total_seconds()))

    # --- failure records --------------------------------------------------------------------

    def _insert(self) -> Any:
        return pg_insert if self.db.dialect == "postgresql" else sqlite_insert

    async def _park(self, consumer: Consumer, items: Sequence[tuple[Envelope, uuid.UUID]]) -> None:
        now = utcnow()
        rows = [
            {"id": uuid7(), "created_at": now, "tenant_id": e.tenant_id,
             "consumer": consumer.name, "event_id": e.id, "event_type": e.type,
             "event_key": e.key, "attempts": 0, "first_failed_at": now, "last_failed_at": now,
             "next_attempt_at": now, "dead": False,
             "error": f"waiting for the earlier event {blocker} of the same key"}
            for e, blocker in items
        ]  # fmt: skip
        stmt = self._insert()(EventFailure).on_conflict_do_nothing(
            index_elements=["consumer", "event_id"]
        )
        await self._write_failures(items[0][0].tenant_id, [e.id for e, _ in items], stmt, rows)

    async def _write_failures(
        self, tenant_id: uuid.UUID, ids: list[uuid.UUID], stmt: Any, rows: Any = None
    ) -> None:
        self.fresh.touch(ids, failure=True)
        async with self.db.job(tenant_id) as session:
            await session.execute(stmt, rows)
        self.fresh.touch(ids, failure=True)  # again: committed now (Fresh.recheck_blockers)
        self.failures_written += 1

    async def _record_first_failure(
        self, consumer: Consumer, envelope: Envelope, exc: BaseException
    ) -> None:
        allowed = self.attempts_allowed(consumer)
        dead = allowed <= 1
        now = utcnow()
        error = describe_error(exc)
        stmt = self._insert()(EventFailure).values(
            id=uuid7(), created_at=now, tenant_id=envelope.tenant_id,
            consumer=consumer.name, event_id=envelope.id, event_type=envelope.type,
            event_key=envelope.key, attempts=1, error=error, first_failed_at=now,
            last_failed_at=now, dead=dead, next_attempt_at=None if dead else self._next_attempt(1),
        ).on_conflict_do_nothing(index_elements=["consumer", "event_id"])  # fmt: skip
        await self._write_failures(envelope.tenant_id, [envelope.id], stmt)
        self._count_failure(consumer, envelope, error, 1, dead)

    def _count_failure(
        self, consumer: Consumer, envelope: Envelope, error: str, attempts: int, dead: bool
    ) -> None:
        metrics.FAILED.labels(consumer.name).inc()
        if dead:
            metrics.DEAD.labels(consumer.name).inc()
        log.warning("events.consumer_failed", consumer=consumer.name,
                    event_id=str(envelope.id), event_type=envelope.type, attempts=attempts,
                    dead=dead, error=error)  # fmt: skip

    # --- retries (relaydesk.events.retry_queries) -------------------------------------------

    async def retry_due(self, limit: int = 200, concurrency: int = 1) -> int:
        """Retry the due failure rows (the leader only), key by key in event order: each
        key's head first, the rest of its queue once it succeeds or goes dead; returns the
        attempts. Consumers this process does not know are left alone."""
        return await retry_due(self, limit, concurrency)

    async def quiet_for(self, longest: float) -> float:
        """Seconds until a failure row may be due (``longest`` when none is waiting)."""
        seconds = await quiet_for(self.db, [c.name for c in consumers()], longest)
        if seconds >= longest:
            await self.fresh.recheck_blockers(self.db)
        return seconds

    async def update_failure(self, consumer: Consumer, row: EventFailure,
                             envelope: Envelope | None, error: str, *, dead: bool,
                             attempts: int | None = None) -> None:  # fmt: skip
        attempts = attempts if attempts is not None else row.attempts
        now = utcnow()
        async with self.db.job(row.tenant_id) as session:
            await session.execute(
                update(EventFailure)
                .where(EventFailure.id == row.id)
                .values(attempts=attempts, error=error, last_failed_at=now, dead=dead,
                        next_attempt_at=None if dead else self._next_attempt(attempts))
                .execution_options(synchronize_session=False)
            )  # fmt: skip
        if envelope is not None:
            self._count_failure(consumer, envelope, error, attempts, dead)
        elif dead:
            metrics.DEAD.labels(consumer.name).inc()
