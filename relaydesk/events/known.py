"""What the database already says about a batch, per consumer (the dispatcher's first reads):
which events each consumer processed, which have a failure row, which keys are held back;
which events can have no record yet (:class:`Fresh`); the bus's reads that need no
transaction (:func:`system_reader`, :func:`reading`); and its Core statements, built once."""

from __future__ import annotations

import traceback
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, Uuid, and_, bindparam, false, insert, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from relaydesk.events.envelope import Envelope
from relaydesk.events.models import EventFailure, OutboxEvent, ProcessedEvent
from relaydesk.kit.db import Database, _read_options, mark_system, scope_session
from relaydesk.kit.masking import detect_and_mask_text

__all__ = [
    "MARK",
    "PROCESSED",
    "RECORD",
    "STAMP",
    "Fresh",
    "Known",
    "describe_error",
    "known_all",
    "reading",
    "sort_batch",
    "system_reader",
]


def describe_error(exc: BaseException) -> str:
    """One line for the failure record: exception type and message, personal data masked."""
    text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    return detect_and_mask_text(text[:2000])


@asynccontextmanager
async def system_reader(db: Database) -> AsyncIterator[AsyncSession]:
    """A read across tenants without a transaction (no write lock on SQLite); what it read
    stays usable after it."""
    async with db.request_session("GET") as session:
        scope_session(session, None)
        mark_system(session)
        try:
            yield session
        finally:
            session.expunge_all()
            await session.rollback()


@asynccontextmanager
async def reading(db: Database) -> AsyncIterator[AsyncConnection]:
    """A connection for the bus's own Core reads across tenants, without a transaction (no
    write lock on SQLite, autocommit on PostgreSQL) and without a session; the shared
    connection in tests."""
    if db.shares_connection:
        async with system_reader(db) as session:
            yield await session.connection()
        return
    bind = db.extensions.get(_READ_BIND)
    if bind is None:
        bind = db.extensions[_READ_BIND] = db.engine.execution_options(**_read_options(db.engine))
    async with bind.connect() as conn:
        yield conn


_READ_BIND = "events.read_bind"


@dataclass
class Known:
    """What the database already says about a batch for one consumer and tenant."""

    processed: set[uuid.UUID] = field(default_factory=set)
    #: events that already have a failure row (the retry loop owns them)
    failing: set[uuid.UUID] = field(default_factory=set)
    #: keys held back by an earlier event that is still failing
    blocked: dict[str, uuid.UUID] = field(default_factory=dict)


_OUTBOX: Table = OutboxEvent.__table__  # type: ignore[assignment]
_O = _OUTBOX.c
#: a consumer's processed records (executemany)
RECORD = insert(ProcessedEvent.__table__)  # type: ignore[arg-type]
#: the relay's stamp (across tenants), and the one in a consumers' transaction
MARK = (
    update(_OUTBOX)
    .where(_O.id.in_(bindparam("ids", expanding=True)))
    .values(published_at=bindparam("at", type_=_O.published_at.type))
)
STAMP = (
    update(_OUTBOX)
    .where(
        _O.tenant_id == bindparam("tenant", type_=Uuid()),
        _O.id.in_(bindparam("ids", expanding=True)),
    )
    .values(published_at=bindparam("at", type_=_O.published_at.type))
)
_P = ProcessedEvent.__table__.c
_F = EventFailure.__table__.c
#: Core statements built once (run on the session's connection: no ORM execute path, so the
#: tenant filter is explicit)
PROCESSED = select(_P.consumer, _P.event_id).where(
    _P.tenant_id == bindparam("tenant", type_=Uuid()),
    _P.consumer.in_(bindparam("names", expanding=True)),
    _P.event_id.in_(bindparam("ids", expanding=True)),
)
_FAILURES = select(_F.consumer, _F.event_id, _F.event_key, _F.dead, _F.replayed_at).where(
    _F.tenant_id == bindparam("tenant", type_=Uuid()),
    _F.consumer.in_(bindparam("names", expanding=True)),
    or_(
        _F.event_id.in_(bindparam("ids", expanding=True)),
        and_(_F.event_key.in_(bindparam("keys", expanding=True)), _F.dead.is_(False),
             _F.replayed_at.is_(None)),
    ),
)  # fmt: skip


async def known_all(
    session: AsyncSession,
    names: Sequence[str],
    batch: Sequence[Envelope],
    *,
    processed: bool = True,
    failures: bool = True,
) -> dict[str, Known]:
    """What the database says about ``batch`` (one tenant's events) for each consumer: two
    queries in all. ``processed``/``failures`` False: the caller knows there is no such row
    (:class:`relaydesk.events.dispatch.Fresh`), so that query is left out."""
    known = {name: Known() for name in names}
    if not batch or not names or not (processed or failures):
        return known
    conn = await session.connection()
    ids = [e.id for e in batch]
    params = {"tenant": batch[0].tenant_id, "names": list(names), "ids": ids}
    if processed:
        for name, event_id in await conn.execute(PROCESSED, params):
            known[name].processed.add(event_id)
    if not failures:
        return known
    params["keys"] = list({e.key for e in batch})
    id_set = set(ids)
    for name, event_id, key, dead, replayed_at in await conn.execute(_FAILURES, params):
        if event_id in id_set:
            known[name].failing.add(event_id)
        if not dead and replayed_at is None and key is not None:
            known[name].blocked.setdefault(key, event_id)
    return known


def sort_batch(
    known: Known, batch: Sequence[Envelope]
) -> tuple[list[Envelope], list[tuple[Envelope, uuid.UUID]]]:
    """(events to handle now, (event, blocker) pairs to park behind an earlier failure)."""
    done: list[Envelope] = []
    parked: list[tuple[Envelope, uuid.UUID]] = []
    for envelope in batch:
        if envelope.id in known.processed or envelope.id in known.failing:
            continue
        blocker = known.blocked.get(envelope.key)
        if blocker is not None:
            parked.append((envelope, blocker))
        else:
            done.append(envelope)
    return done, parked


def _newest(column: Any, *where: Any) -> Any:
    return select(column).where(*where).order_by(column.desc()).limit(1).scalar_subquery()


#: whether any failure row may hold back a key
_BLOCKER = select(_F.id).where(_F.dead == false(), _F.replayed_at.is_(None)).limit(1)
#: the newest published event, the newest events with a record (each by an index), a blocker
_TERM = select(
    _newest(_O.id, _O.published_at.is_not(None)),
    _newest(_P.event_id),
    _newest(_F.event_id, _F.dead == false()),
    _newest(_F.event_id, _F.dead == true()),
    _BLOCKER.scalar_subquery(),
)
_NIL = uuid.UUID(int=0)


class Fresh:
    """Which events of the in-process bus on one lane can have no processed record and no
    failure row yet, so that :func:`known_all` may leave out its queries for them.

    There, an event's processed records commit in the transaction that stamps it published
    (:meth:`Dispatcher.deliver_all`), and the relay hands on only events it read as
    unpublished. Such an event has records only if
    * it had some when this process began to relay: ``after`` is then at least the newest
      event that was published or had a record (an older event, or one committed later with
      an older id, takes the careful way), and it rises with each stamp this process writes;
    * or this process wrote records for it outside that transaction (a fallback, a retry, a
      parked event, a round that failed half-way): ``touched`` holds those until stamped.
    Only the leader delivers in-process events, and a new leader term (or a dispatcher that
    never loaded one) starts over with the database's word. Failure rows that hold back a key
    come from the leader's deliveries only (replays mark theirs replayed): ``blockers`` is
    whether one may exist, from the database at the start and then from this process's own
    failure records and the retry loop finding none. Were any of this ever wrong, the
    primary key of processed records still refuses a second record (the batch is then run
    again the careful way), so nothing is applied twice.
    """

    #: touched events kept at most; past that, a new term (reads the database again)
    LIMIT = 10_000

    def __init__(self) -> None:
        self.after: uuid.UUID | None = None
        self.blockers = True
        self.touched: set[uuid.UUID] = set()
        #: failure records touched (before and after each commit)
        self.failures = 0

    def forget(self) -> None:
        self.after, self.blockers = None, True
        self.touched.clear()

    async def load(self, db: Database) -> None:
        async with reading(db) as conn:
            *newest, blocker = (await conn.execute(_TERM)).one()
        self.after = max((n for n in newest if n is not None), default=_NIL)
        self.blockers = blocker is not None

    async def recheck_blockers(self, db: Database) -> None:
        """The retry loop found no failure row due soon: look whether any is left at all. A
        failure record is touched before and after its commit, so one committed during the
        read keeps ``blockers`` set."""
        if self.after is None or not self.blockers:
            return
        seen = self.failures
        async with reading(db) as conn:
            found = (await conn.execute(_BLOCKER)).first() is not None
        if self.failures == seen:
            self.blockers = found

    def all_fresh(self, batch: Sequence[Envelope]) -> bool:
        after = self.after
        if after is None:
            return False
        touched = self.touched
        return all(e.id > after and e.id not in touched for e in batch)

    def touch(self, ids: Iterable[uuid.UUID], *, failure: bool = False) -> None:
        """Records for ``ids`` were committed while the events may be unpublished."""
        if self.after is None:
            return
        self.touched.update(ids)
        if failure:
            self.blockers = True
            self.failures += 1
        if len(self.touched) > self.LIMIT:
            self.forget()

    def stamped(self, ids: Sequence[uuid.UUID]) -> None:
        """This process stamped ``ids`` published: handed on again, they take the careful way."""
        if self.after is None or not ids:
            return
        self.after = max(self.after, max(ids))
        if self.touched:
            self.touched.difference_update(ids)
