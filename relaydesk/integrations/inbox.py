"""The callback inbox: idempotent storage (:mod:`.inbox_store`) and asynchronous processing.

Processing (:func:`process_pending`, run by :class:`InboxProcessor` in the background): pending
rows in arrival order are mapped with the callback's ``mapping`` (none: the body as is),
checked against the entity's stored version (:class:`~relaydesk.integrations.models.
EntityVersion`; older or equal -> ``stale``, not applied), written to the event outbox
(:func:`relaydesk.events.outbox.emit`) and marked ``done`` **in one transaction**, so a
processed callback and its event commit together (or neither does: the row is processed again).

Failures: the catalogue refusing the event (a type that is neither catalogued nor ``custom.*``,
or a mapped payload that does not validate against the event's model) marks the row ``failed``
at once with the reason, since retrying cannot help. Any other failure (a mapping error, an
instance or callback that is gone) adds one attempt and records the error; the row is retried
after ``RETRY_DELAYS`` and ``failed`` after ``MAX_ATTEMPTS``. For a pending row with attempts,
``processed_at`` is the last attempt's time. One processor works at a time (SQLite: the write
lock; PostgreSQL: an advisory lock).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import uuid
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from prometheus_client import Counter
from sqlalchemy import Table, and_, bindparam, or_, select, text, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.errors import ValidationFailed
from relaydesk.events.outbox import emit
from relaydesk.integrations.inbox_store import (
    INBOX,
    InboxEntry,
    InboxWriter,
    dialect_insert,
    find_instance,
    insert_entries,
)
from relaydesk.integrations.mapping import apply_mapping
from relaydesk.integrations.models import ConnectorInstance, EntityVersion
from relaydesk.integrations.secrets import instance_spec
from relaydesk.integrations.spec_models.mapping import DEFAULT_TIMEZONE
from relaydesk.kit.db import Database, utcnow
from relaydesk.kit.metrics import REGISTRY

__all__ = [
    "MAX_ATTEMPTS",
    "RETRY_DELAYS",
    "InboxEntry",
    "InboxProcessor",
    "InboxWriter",
    "RejectedEvent",
    "find_instance",
    "insert_entries",
    "is_newer",
    "process_pending",
    "version_order",
]

MAX_ATTEMPTS = 5
#: seconds before retrying after the 1st, 2nd, 3rd and 4th failed attempt
RETRY_DELAYS: tuple[float, ...] = (5.0, 30.0, 120.0, 600.0)
_PG_LOCK = 0x52445F494E424F58  # "RD_INBOX": one processor at a time across nodes
_VERSIONS: Table = EntityVersion.__table__  # type: ignore[assignment]
_COLUMNS = [
    INBOX.c[name]
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


class RejectedEvent(Exception):
    """The event catalogue refused the callback's event: failing at once, not retried."""


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
    c = INBOX.c
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
    session: AsyncSession,
    row: Any,
    instance: ConnectorInstance | None,
    versions: dict[tuple[uuid.UUID, str], str],
) -> str:
    """Apply one row: its event goes into ``session``'s outbox. Returns "done" or "stale";
    raises :class:`RejectedEvent` (final) or another exception (retried) on failure."""
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
    source = {
        "kind": "callback", "connector": spec.name, "instance": instance.name,
        "instance_id": str(instance.id), "callback": row.callback,
        "external_id": row.event_id, "sandbox": instance.sandbox,
    }  # fmt: skip
    try:
        await emit(session, row.event_type, payload, tenant_id=row.tenant_id,
                   key=row.entity_key, source=source)  # fmt: skip
    except ValidationFailed as exc:
        raise RejectedEvent(f"the event catalogue refused it: {exc.message}") from None
    if ordering:
        versions[key] = row.entity_version
    return "done"


def _outcome(row: Any, exc: Exception) -> tuple[str, str]:
    """(new status, error text) of a row whose processing raised ``exc``."""
    if isinstance(exc, RejectedEvent):
        return "failed", str(exc)[:500]
    error = f"{type(exc).__name__}: {exc}"[:500]
    return ("failed" if row.attempts + 1 >= MAX_ATTEMPTS else "pending"), error


async def process_pending(
    db: Database,
    limit: int = 100,
    *,
    retry_delays: Sequence[float] = RETRY_DELAYS,
    now: dt.datetime | None = None,
) -> int:
    """Process up to ``limit`` due inbox rows, oldest first; returns how many were attempted."""
    now = now or utcnow()
    c = INBOX.c
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
                status = await _process_row(session, row, instances.get(row.instance_id), versions)
            except Exception as exc:
                status, error = _outcome(row, exc)
                _log.warning("callback_processing_failed", inbox_id=str(row.id),
                             attempts=row.attempts + 1, status=status, error=error)  # fmt: skip
            PROCESSED.labels("retry" if status == "pending" else status).inc()
            outcomes.append({"row_id": row.id, "new_status": status, "new_error": error,
                             "new_attempts": row.attempts + 1, "new_at": now})  # fmt: skip
        conn = await session.connection()
        await conn.execute(
            update(INBOX)
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
            insert = dialect_insert(db.dialect)(_VERSIONS)
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
