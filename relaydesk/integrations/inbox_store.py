"""Storing callbacks in the inbox: idempotent inserts with group commit.

``INSERT ... ON CONFLICT DO NOTHING RETURNING`` on the unique key (tenant, instance, callback,
event id), with the dialect's own insert (SQLite or PostgreSQL). Callbacks that arrive while a
write is in flight wait for the next one, which stores all of them in one statement and one
transaction (group commit): one request alone costs one round trip, a burst shares them.
Every caller learns whether *its* event was new. Processing is :mod:`.inbox`; reading the
inbox for the API is :class:`CallbackInboxRepository` (:mod:`.inbox_api`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from relaydesk.integrations.models import CallbackInbox, ConnectorInstance
from relaydesk.kit.db import WRITE_INTENT, Database, mark_system, utcnow
from relaydesk.kit.ids import uuid7
from relaydesk.kit.pagination import PageParams
from relaydesk.kit.repository import Repository
from relaydesk.tenancy.models import Tenant

__all__ = [
    "CallbackInboxRepository",
    "InboxEntry",
    "InboxWriter",
    "Key",
    "dialect_insert",
    "find_instance",
    "insert_entries",
]

INBOX: Table = CallbackInbox.__table__  # type: ignore[assignment]
_KEY = ("tenant_id", "instance_id", "callback", "event_id")
_BIND = "callback_inbox_writes"  # Database.extensions key

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


def dialect_insert(dialect: str) -> Any:
    """The ``insert`` construct with ``on_conflict_*`` of ``dialect``."""
    if dialect == "postgresql":
        return postgresql.insert
    if dialect == "sqlite":
        return sqlite.insert
    raise RuntimeError(f"the callback inbox supports SQLite and PostgreSQL, not {dialect}")


@functools.cache
def _insert(dialect: str) -> Any:
    """The idempotent insert of ``dialect``, built once (its compiled form is then cached)."""
    c = INBOX.c
    return (
        dialect_insert(dialect)(INBOX)
        .on_conflict_do_nothing(index_elements=[c[name] for name in _KEY])
        .returning(c.id)
    )


def _bind(db: Database) -> AsyncEngine:
    """Where :func:`insert_entries` writes outside tests: PostgreSQL in autocommit (the one
    statement is its own transaction, committed before its result arrives: one round trip
    instead of BEGIN, INSERT, COMMIT); SQLite in a write-intent transaction (``BEGIN
    IMMEDIATE``, so that the statements run on the event loop's thread, kit/db_sqlite.py)."""
    bind: AsyncEngine | None = db.extensions.get(_BIND)
    if bind is None:
        options = ({"isolation_level": "AUTOCOMMIT"} if db.dialect == "postgresql"
                   else {WRITE_INTENT: True})  # fmt: skip
        bind = db.extensions[_BIND] = db.engine.execution_options(**options)
    return bind


async def insert_entries(db: Database, entries: Sequence[InboxEntry]) -> dict[Key, uuid.UUID]:
    """Store the entries whose key is new, durably (committed when this returns); returns
    {key: inbox row id} of those stored."""
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
    stmt = _insert(db.dialect)
    if db.shares_connection:  # tests: every session joins one connection's transaction
        async with db.job(system=True) as session:
            conn = await session.connection()
            inserted = set((await conn.execute(stmt, rows)).scalars())
    else:  # no ORM session: the explicit tenant_id of each row is all the scoping it needs
        async with _bind(db).begin() as conn:
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


class CallbackInboxRepository(Repository[CallbackInbox]):
    """Reading the inbox for the API (the tenant guard scopes every statement)."""

    model = CallbackInbox
    noun = "callback"

    async def list_page(
        self,
        instance_id: uuid.UUID,
        params: PageParams,
        *,
        status: str | None = None,
        callback: str | None = None,
    ) -> tuple[Sequence[CallbackInbox], str | None]:
        stmt = self.select().where(CallbackInbox.instance_id == instance_id)
        if status is not None:
            stmt = stmt.where(CallbackInbox.status == status)
        if callback is not None:
            stmt = stmt.where(CallbackInbox.callback == callback)
        return await self.page(stmt, params)
