"""The callback inbox: idempotent storage with group commit, and asynchronous processing.

Storing (:class:`InboxWriter`): ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` on the unique
key (tenant, instance, callback, event id), with the dialect's own insert (SQLite or
PostgreSQL). Callbacks that arrive while a write is in flight wait for the next one, which
stores all of them in one statement and one transaction (group commit): one request alone
costs one round trip, a burst shares them. Every caller learns whether *its* event was new.

Processing (:func:`process_pending`, run by :class:`InboxProcessor` in the background): pending
rows in arrival order are mapped with the callback's ``mapping`` (none: the body as is),
checked against the entity's stored version (:class:`~relaydesk.integrations.models.
EntityVersion`; older or equal -> ``stale``, not applied), published to the event sinks
(:mod:`relaydesk.integrations.events`) and marked ``done``. A failure adds one attempt and
records the error; the row is retried after ``RETRY_DELAYS`` and ``failed`` after
``MAX_ATTEMPTS``. For a pending row with attempts, ``processed_at`` is the last attempt's time.
One processor works at a time (SQLite: the write lock; PostgreSQL: an advisory lock).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from prometheus_client import Counter
from sqlalchemy import Table, and_, bindparam, or_, select, text, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.integrations import events
from relaydesk.integrations.mapping import apply_mapping
from relaydesk.integrations.models import CallbackInbox, ConnectorInstance, EntityVersion
from relaydesk.integrations.secrets import instance_spec
from relaydesk.integrations.spec_models.mapping import DEFAULT_TIMEZONE
from relaydesk.kit.db import Database, mark_system, utcnow
from relaydesk.kit.ids import uuid7
from relaydesk.kit.metrics import REGISTRY
from relaydesk.tenancy.models import Tenant

__all__ = [
    "MAX_ATTEMPTS",
    "RETRY_DELAYS",
    "InboxEntry",
    "InboxProcessor",
    "InboxWriter",
    "find_instance",
    "is_newer",
    "process_pending",
    "version_order",
]

MAX_ATTEMPTS = 5
#: seconds before retrying after the 1st, 2nd, 3rd and 4th failed attempt
RETRY_DELAYS: tuple[float, ...] = (5.0, 30.0, 120.0, 600.0)
_PG_LOCK = 0x52445F494E424F58  # "RD_INBOX": one processor at a time across nodes
_INBOX: Table = CallbackInbox.__table__  # type: ignore[assignment]
_VERSIONS: Table = EntityVersion.__table__  # type: ignore[assignment]
_KEY = ("tenant_id", "instance_id", "callback", "event_id")
_COLUMNS = [
    _INBOX.c[name]
    for name in ("id", "tenant_id", "instance_id", "callback", "event_id", "event_type",
                 "entity_key", "entity_version", "payload", "attempts")
]  # fmt: skip

PROCESSED = Counter(
    "relaydesk_callbacks_processed_total",
    "Inbox rows processed, by outcome (done, stale, retry, failed)",
    ["outcome"],
    registry=REGISTRY,
)
_log = structlog.get_logger("relaydesk.inbox")

Key = tuple[uuid.UUID, uuid.UUID, str, str]


@dataclass(frozen=True, slots=True)
class InboxEntry:
    tenant_id: uuid.UUID
    instance_id: uuid.UUID
    callback: str
    event_id: str
    event_type: str
    entity_key: str | None
    entity_version: str | None
    payload: dict[str, Any]

    @property
    def key(self) -> Key:
        return (self.tenant_id, self.instance_id, self.callback, self.event_id)


def _insert(dialect: str) -> Any:
    if dialect == "postgresql":
        return postgresql.insert
    if dialect == "sqlite":
        return sqlite.insert
    raise RuntimeError(f"the callback inbox supports SQLite and PostgreSQL, not {dialect}")


async def insert_entries(db: Database, entries: Sequence[InboxEntry]) -> dict[Key, uuid.UUID]:
    """Store the entries whose key is new; returns {key: inbox row id} of those stored."""
    now = utcnow()
    ids = [uuid7() for _ in entries]
    rows = [
        {"id": row_id, "created_at": now, "tenant_id": e.tenant_id,
         "instance_id": e.instance_id, "callback": e.callback, "event_id": e.event_id,
         "event_type": e.event_type, "entity_key": e.entity_key,
         "entity_version": e.entity_version, "payload": e.payload, "status": "pending",
         "attempts": 0}
        for row_id, e in zip(ids, entries, strict=True)
    ]  # fmt: skip
    c = _INBOX.c
    stmt = (
        _insert(db.dialect)(_INBOX)
        .on_conflict_do_nothing(index_elements=[c[name] for name in _KEY])
        .returning(c.id)
    )
    async with db.job(system=True) as session:
        conn = await session.connection()
        inserted = set((await conn.execute(stmt, rows)).scalars())
    return {e.key: row_id for e, row_id in zip(entries, ids, strict=True) if row_id in inserted}


_Result = asyncio.Future[uuid.UUID | None]


class InboxWriter:
    """Stores callbacks for concurrent requests in shared transactions (group commit)."""

    def __init__(self, db: Database, *, max_batch: int = 500, linger: float = 0.002) -> None:
        self.db = db
        self.max_batch = max_batch
        #: under load (the last batch held several callbacks), wait up to this long for as
        #: many to gather before writing; an idle writer writes at once
        self.linger = linger
        self._pending: list[tuple[InboxEntry, _Result]] = []
        self._task: asyncio.Task[None] | None = None
        self._last_batch = 0
        self._enough = asyncio.Event()

    async def store(self, entry: InboxEntry) -> uuid.UUID | None:
        """The new row's id, or None when the event was already in the inbox."""
        loop = asyncio.get_running_loop()
        future: _Result = loop.create_future()
        self._pending.append((entry, future))
        if len(self._pending) >= self._last_batch:
            self._enough.set()
        if self._task is None:
            self._task = loop.create_task(self._drain(), name="callback-inbox-writer")
        return await future

    async def _drain(self) -> None:
        try:
            while self._pending:
                if self._last_batch > 1 and len(self._pending) < self._last_batch:
                    self._enough.clear()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self.linger):
                            await self._enough.wait()
                batch = self._pending[: self.max_batch]
                del self._pending[: self.max_batch]
                self._last_batch = len(batch)
                await self._write(batch)
        finally:
            self._task = None

    async def _write(self, batch: list[tuple[InboxEntry, _Result]]) -> None:
        unique: dict[Key, InboxEntry] = {}
        for entry, _ in batch:
            unique.setdefault(entry.key, entry)
        try:
            stored = await insert_entries(self.db, list(unique.values()))
        except Exception as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for entry, future in batch:
            row_id = stored.pop(entry.key, None)  # a repeat within the batch is a duplicate
            if not future.done():
                future.set_result(row_id)


async def find_instance(
    db: Database, tenant_slug: str, instance_name: str
) -> tuple[ConnectorInstance, bool] | None:
    """(instance, whether its tenant is active) for a hook URL, or None."""
    stmt = (
        select(ConnectorInstance, Tenant.is_active)
        .join(Tenant, Tenant.id == ConnectorInstance.tenant_id)
        .where(Tenant.slug == tenant_slug, ConnectorInstance.name == instance_name)
    )
    async with db.sessionmaker() as session:
        mark_system(session)  # the URL names the tenant: this lookup is what scopes it
        row = (await session.execute(stmt)).first()
    return None if row is None else (row[0], bool(row[1]))


# --- ordering --------------------------------------------------------------------------------


def version_order(value: str, zone: ZoneInfo) -> tuple[int, Decimal | dt.datetime]:
    """A sortable form of an entity version: numbers numerically, else ISO 8601 timestamps as
    datetimes (naive ones in ``zone``). ``ValueError`` for anything else."""
    try:
        number = Decimal(value)
    except InvalidOperation:
        pass
    else:
        if number.is_finite():
            return (0, number)
    try:
        moment = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(
            f"version {value[:64]!r} is neither a number nor an ISO 8601 timestamp"
        ) from None
    return (1, moment if moment.tzinfo else moment.replace(tzinfo=zone))


def is_newer(incoming: str, stored: str, zone: ZoneInfo) -> bool:
    kind_in, value_in = version_order(incoming, zone)
    kind_stored, value_stored = version_order(stored, zone)
    if kind_in != kind_stored:
        raise ValueError(f"cannot order version {incoming!r} after stored version {stored!r}")
    return value_in > value_stored  # type: ignore[operator]


# --- processing ------------------------------------------------------------------------------


def _due(now: dt.datetime, retry_delays: Sequence[float]) -> Any:
    c = _INBOX.c
    retries = [
        and_(c.attempts == n, c.processed_at <= now - dt.timedelta(seconds=delay))
        for n, delay in enumerate(retry_delays, start=1)
    ]
    return and_(c.status == "pending", or_(c.attempts == 0, *retries))


async def _load_context(
    session: AsyncSession, rows: Sequence[Any]
) -> tuple[dict[uuid.UUID, ConnectorInstance], dict[tuple[uuid.UUID, str], str]]:
    ids = {row.instance_id for row in rows}
    found = await session.scalars(select(ConnectorInstance).where(ConnectorInstance.id.in_(ids)))
    instances = {instance.id: instance for instance in found}
    keys = {(row.instance_id, row.entity_key) for row in rows if row.entity_key is not None}
    versions: dict[tuple[uuid.UUID, str], str] = {}
    if keys:
        v = _VERSIONS.c
        stmt = select(v.instance_id, v.entity_key, v.version).where(
            tuple_(v.instance_id, v.entity_key).in_(list(keys))
        )
        if session.bind is not None and session.bind.dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        for instance_id, key, version in await session.execute(stmt):
            versions[(instance_id, key)] = version
    return instances, versions


async def _process_row(
    row: Any, instance: ConnectorInstance | None, versions: dict[tuple[uuid.UUID, str], str]
) -> str:
    """Apply one row; returns "done" or "stale"; raises with the reason on failure."""
    if instance is None:
        raise LookupError("the connector instance no longer exists")
    spec = instance_spec(instance)
    callback = spec.callbacks.get(row.callback)
    if callback is None:
        raise LookupError(f"callback {row.callback!r} is no longer in the instance's spec")
    payload: Any = row.payload
    if callback.mapping is not None:
        mapped = apply_mapping(callback.mapping, payload, many=False)
        if mapped.errors:
            raise ValueError("mapping: " + "; ".join(str(error) for error in mapped.errors))
        payload = mapped.value
    ordering = row.entity_key is not None and row.entity_version is not None
    key = (row.instance_id, row.entity_key)
    if ordering and key in versions:
        zone = ZoneInfo(callback.mapping.timezone if callback.mapping else DEFAULT_TIMEZONE)
        if not is_newer(row.entity_version, versions[key], zone):
            return "stale"
    source = events.EventSource(
        "callback", connector=spec.name, instance=instance.name, instance_id=instance.id,
        callback=row.callback, external_id=row.event_id, sandbox=instance.sandbox,
    )  # fmt: skip
    await events.publish(row.tenant_id, row.event_type, payload, source=source)
    if ordering:
        versions[key] = row.entity_version
    return "done"


async def process_pending(
    db: Database,
    limit: int = 100,
    *,
    retry_delays: Sequence[float] = RETRY_DELAYS,
    now: dt.datetime | None = None,
) -> int:
    """Process up to ``limit`` due inbox rows, oldest first; returns how many were attempted."""
    now = now or utcnow()
    c = _INBOX.c
    async with db.job(system=True) as session:
        if db.dialect == "postgresql":
            locked = await session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"),
                                          {"key": _PG_LOCK})  # fmt: skip
            if not locked:
                return 0  # another node is processing
        stmt = (
            select(*_COLUMNS)
            .where(_due(now, retry_delays))
            .order_by(c.created_at, c.id)
            .limit(limit)
        )
        rows = (await session.execute(stmt)).all()
        if not rows:
            return 0
        instances, versions = await _load_context(session, rows)
        before = dict(versions)
        outcomes = []
        for row in rows:
            error = None
            try:
                status = await _process_row(row, instances.get(row.instance_id), versions)
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"[:500]
                failed = row.attempts + 1 >= MAX_ATTEMPTS
                status = "failed" if failed else "pending"
                _log.warning("callback_processing_failed", inbox_id=str(row.id),
                             attempts=row.attempts + 1, error=error)  # fmt: skip
            PROCESSED.labels("retry" if status == "pending" else status).inc()
            outcomes.append({"row_id": row.id, "new_status": status, "new_error": error,
                             "new_attempts": row.attempts + 1, "new_at": now})  # fmt: skip
        conn = await session.connection()
        await conn.execute(
            update(_INBOX)
            .where(c.id == bindparam("row_id"))
            .values(status=bindparam("new_status"), error=bindparam("new_error"),
                    attempts=bindparam("new_attempts"), processed_at=bindparam("new_at")),
            outcomes,
        )  # fmt: skip
        changed = [
            {"tenant_id": instances[iid].tenant_id, "instance_id": iid, "entity_key": key,
             "version": version, "updated_at": now}
            for (iid, key), version in versions.items() if before.get((iid, key)) != version
        ]  # fmt: skip
        if changed:
            insert = _insert(db.dialect)(_VERSIONS)
            await conn.execute(
                insert.on_conflict_do_update(
                    index_elements=[_VERSIONS.c.instance_id, _VERSIONS.c.entity_key],
                    set_={"version": insert.excluded.version,
                          "updated_at": insert.excluded.updated_at},
                ),
                changed,
            )  # fmt: skip
    return len(rows)


class InboxProcessor:
    """Runs :func:`process_pending` in the background: at once when woken (a callback was
    stored), else every ``poll_seconds`` (for retries)."""

    def __init__(
        self,
        db: Database,
        *,
        batch_size: int = 100,
        poll_seconds: float = 1.0,
        retry_delays: Sequence[float] = RETRY_DELAYS,
    ) -> None:
        self.db = db
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.retry_delays = retry_delays
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        #: rows attempted since start (observability, tests)
        self.attempted = 0

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="callback-inbox-processor"
            )

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                count = await process_pending(
                    self.db, self.batch_size, retry_delays=self.retry_delays
                )
                self.attempted += count
            except Exception:  # the database may be down: keep the loop alive
                _log.exception("callback_processor_error")
                count = 0
            if count >= self.batch_size:
                await asyncio.sleep(0)  # more to do; let requests in between batches
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
