"""Group commit of audit rows, and of the rows that belong with them, outside the request's
own unit of work (docs/decisions/0006-durable-audit-group-commit.md).

A caller that has nothing else to write (a connector action's request: the audit row, the
call-log row, maybe a ``connector.action_failed`` event) hands them to :class:`AuditWriter`
and **waits until they are committed**: no answer leaves before its audit row is on disk, as
before. What changes is who commits: every row that arrives while a write is in flight goes
into the next transaction together, so under load one commit (and on SQLite one write lock)
serves many requests. An idle writer writes at once.

The chain stays one chain per tenant: the writer locks the tenant's head row
(``SELECT ... FOR UPDATE``; SQLite's write lock serialises anyway) and appends in arrival
order, so several processes may each run a writer.

A batch that fails is retried one item at a time, so one bad item fails only its own caller.
A caller that is cancelled (its client went away) does not cancel its write: the external
system was reached, the row must exist.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from relaydesk.audit.models import AuditChainHead, AuditEntry
from relaydesk.audit.service import GENESIS, Actor, chained, entry_fields
from relaydesk.kit.db import Base, Database, database_of

__all__ = ["Also", "AuditWriter", "writer_for"]

#: more work in one transaction, after the audit row: ``await also(session)``
Also = Callable[[AsyncSession], Awaitable[Any]]

_EXTENSION = "audit_writer"


@dataclass(slots=True)
class _Item:
    fields: dict[str, Any]
    rows: Sequence[Base]
    also: Also | None
    done: asyncio.Future[None] = field(repr=False)


class AuditWriter:
    """One per :class:`~relaydesk.kit.db.Database` (see :func:`writer_for`)."""

    def __init__(self, db: Database, *, max_batch: int = 256) -> None:
        self.db = db
        self.max_batch = max_batch
        self._queue: list[_Item] = []
        self._task: asyncio.Task[None] | None = None
        #: transactions written (for tests and the benchmark)
        self.batches = 0

    async def append(
        self,
        *,
        tenant_id: uuid.UUID,
        action: str,
        actor: Actor | None = None,
        outcome: str = "success",
        target_type: str | None = None,
        target_id: str | uuid.UUID | None = None,
        details: Mapping[str, Any] | None = None,
        rows: Sequence[Base] = (),
        also: Also | None = None,
    ) -> None:
        """Append an audit row (plus ``rows`` and ``also``'s writes, in the same
        transaction) and return once committed; raises what the write raised."""
        fields = entry_fields(
            tenant_id=tenant_id, action=action, actor=actor, outcome=outcome,
            target_type=target_type, target_id=target_id, details=details,
        )  # fmt: skip
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append(_Item(fields, rows, also, done))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="relaydesk-audit-writer")
        await asyncio.shield(done)

    async def _run(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
            try:
                await self._write(batch)
            except Exception as exc:
                if len(batch) == 1:
                    _settle(batch, exc)
                    continue
                for item in batch:  # one bad item must not fail the others
                    try:
                        await self._write([item])
                    except Exception as single:
                        _settle([item], single)
                    else:
                        _settle([item], None)
            else:
                _settle(batch, None)

    async def _write(self, batch: list[_Item]) -> None:
        # Core statements on the job's connection: no ORM flush, no bulk-update evaluator,
        # no tenant guard (a system session); ``also`` shares the same transaction
        async with self.db.job(system=True) as session:
            conn = await session.connection()
            tenants: dict[uuid.UUID, list[_Item]] = {}
            for item in batch:
                tenants.setdefault(item.fields["tenant_id"], []).append(item)
            entries: list[dict[str, Any]] = []
            for tenant_id, items in tenants.items():
                entries += await _append_chain(conn, tenant_id, items)
            await conn.execute(_AUDIT.insert(), entries)
            groups: dict[tuple[Table, tuple[str, ...]], list[dict[str, Any]]] = {}
            for item in batch:
                for row in item.rows:
                    table, values = _row_values(row)
                    groups.setdefault((table, tuple(values)), []).append(values)
            for (table, _keys), values_list in groups.items():
                await conn.execute(table.insert(), values_list)
            for item in batch:
                if item.also is not None:
                    await item.also(session)
        self.batches += 1


_AUDIT: Table = AuditEntry.__table__  # type: ignore[assignment]
_HEAD: Table = AuditChainHead.__table__  # type: ignore[assignment]


def _row_values(row: Base) -> tuple[Table, dict[str, Any]]:
    """The table and column values of a new ORM object, its Python-side defaults applied
    (and set on the object, as a flush would)."""
    mapper = sa_inspect(type(row))
    state = sa_inspect(row)
    table: Table = mapper.local_table  # type: ignore[assignment]
    values: dict[str, Any] = {}
    for prop in mapper.column_attrs:
        column = prop.columns[0]
        if prop.key in state.dict:
            values[column.key] = state.dict[prop.key]
            continue
        default = column.default
        if default is None or not (default.is_scalar or default.is_callable):
            continue
        value = default.arg(None) if default.is_callable else default.arg
        setattr(row, prop.key, value)
        values[column.key] = value
    return table, values


async def _append_chain(
    conn: AsyncConnection, tenant_id: uuid.UUID, items: list[_Item]
) -> list[dict[str, Any]]:
    head = (
        await conn.execute(
            select(_HEAD.c.seq, _HEAD.c.hash)
            .where(_HEAD.c.tenant_id == tenant_id)
            .with_for_update()
        )
    ).first()
    seq, last = (head.seq, head.hash) if head is not None else (0, GENESIS)
    rows = []
    for item in items:
        seq += 1
        row = chained(item.fields, seq, last)
        last = row["hash"]
        rows.append(row)
    if head is None:
        await conn.execute(_HEAD.insert().values(tenant_id=tenant_id, seq=seq, hash=last))
    else:
        await conn.execute(
            _HEAD.update().where(_HEAD.c.tenant_id == tenant_id).values(seq=seq, hash=last)
        )
    return rows


def _settle(items: list[_Item], exc: BaseException | None) -> None:
    for item in items:
        if item.done.done():
            continue
        if exc is None:
            item.done.set_result(None)
        else:
            item.done.set_exception(exc)


def writer_for(session: AsyncSession) -> AuditWriter | None:
    """The writer to use for a caller holding ``session``, or None when the rows must go
    into ``session`` itself: the session has begun a transaction (it may hold the write lock
    or the chain head's row lock the writer would wait for, and its rows belong with the
    caller's), or every session shares one connection (tests)."""
    db = database_of(session)
    if db is None or db.shares_connection or session.in_transaction():
        return None
    writer = db.extensions.get(_EXTENSION)
    if writer is None:
        writer = db.extensions[_EXTENSION] = AuditWriter(db)
    assert isinstance(writer, AuditWriter)
    return writer
