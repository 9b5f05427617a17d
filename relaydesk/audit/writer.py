"""Group commit of audit rows, and of the rows that belong with them, outside the request's
own unit of work (docs/decisions/0006-durable-audit-group-commit.md).

A caller that has nothing else to write (a connector action's request: the audit row, the
call-log row, maybe a ``connector.action_failed`` event) hands them to :class:`AuditWriter`
and **waits until they are committed**: no answer leaves before its audit row is on disk, as
before. What changes is who commits: every row that arrives while a write is in flight goes
into the next transaction together, so under load one commit (and on SQLite one write lock)
serves many requests. An idle writer writes at once.

The chain stays one chain per tenant, appended in arrival order. The writer remembers the
head it last committed for each tenant and moves it with one compare-and-set
``UPDATE ... WHERE seq = :seq AND hash = :hash``; when that matches no row (another process,
or an ``audit.record`` in someone's unit of work, appended since), it locks and reads the
head row (``SELECT ... FOR UPDATE``; SQLite's write lock serialises anyway) and links the
rows after it instead. So several processes may each run a writer.

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

__all__ = ["Also", "AuditWriter", "Row", "writer_for"]

#: more work in one transaction, after the audit row: ``await also(session)``
Also = Callable[[AsyncSession], Awaitable[Any]]
#: a row to insert with the audit row: a new ORM object, or (table, column values) for the
#: table's plain ``INSERT`` (cheaper: no ORM object; Python-side column defaults apply)
Row = Base | tuple[Table, dict[str, Any]]

_EXTENSION = "audit_writer"


@dataclass(slots=True)
class _Item:
    fields: dict[str, Any]
    rows: Sequence[Row]
    also: Also | None
    done: asyncio.Future[None] = field(repr=False)


class AuditWriter:
    """One per :class:`~relaydesk.kit.db.Database` (see :func:`writer_for`)."""

    def __init__(self, db: Database, *, max_batch: int = 256) -> None:
        self.db = db
        self.max_batch = max_batch
        self._queue: list[_Item] = []
        self._task: asyncio.Task[None] | None = None
        #: (seq, hash) of each tenant's head as this writer last committed it
        self._heads: dict[uuid.UUID, tuple[int, str]] = {}
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
        rows: Sequence[Row] = (),
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
        tenants: dict[uuid.UUID, list[_Item]] = {}
        for item in batch:
            tenants.setdefault(item.fields["tenant_id"], []).append(item)
        heads: dict[uuid.UUID, tuple[int, str]] = {}
        try:
            async with self.db.job(system=True) as session:
                conn = await session.connection()
                entries: list[dict[str, Any]] = []
                # heads locked in one order in every process: two writers never deadlock
                for tenant_id, items in sorted(tenants.items(), key=lambda t: str(t[0])):
                    rows, heads[tenant_id] = await _append_chain(
                        conn, tenant_id, items, self._heads.get(tenant_id)
                    )
                    entries += rows
                await conn.execute(_AUDIT.insert(), entries)
                groups: dict[tuple[Table, tuple[str, ...]], list[dict[str, Any]]] = {}
                for item in batch:
                    for row in item.rows:
                        table, values = row if isinstance(row, tuple) else _row_values(row)
                        groups.setdefault((table, tuple(values)), []).append(values)
                for (table, _keys), values_list in groups.items():
                    await conn.execute(table.insert(), values_list)
                for item in batch:
                    if item.also is not None:
                        await item.also(session)
        except BaseException:
            for tenant_id in tenants:  # not committed: read the head again next time
                self._heads.pop(tenant_id, None)
            raise
        self._heads.update(heads)
        self.batches += 1


_AUDIT: Table = AuditEntry.__table__  # type: ignore[assignment]
_HEAD: Table = AuditChainHead.__table__  # type: ignore[assignment]


#: per mapped class: its table and (attribute, column, Python-side default) of each column
_SHAPES: dict[type, tuple[Table, list[tuple[str, str, Any]]]] = {}


def _shape(cls: type) -> tuple[Table, list[tuple[str, str, Any]]]:
    shape = _SHAPES.get(cls)
    if shape is None:
        mapper: Any = sa_inspect(cls)
        columns = []
        for prop in mapper.column_attrs:
            column = prop.columns[0]
            default = column.default
            if default is not None and not (default.is_scalar or default.is_callable):
                default = None
            columns.append((prop.key, column.key, default))
        shape = _SHAPES[cls] = (mapper.local_table, columns)
    return shape


def _row_values(row: Base) -> tuple[Table, dict[str, Any]]:
    """The table and column values of a new ORM object, its Python-side defaults applied
    (and set on the object, as a flush would)."""
    table, columns = _shape(type(row))
    given = sa_inspect(row).dict
    values: dict[str, Any] = {}
    for key, column_key, default in columns:
        if key in given:
            values[column_key] = given[key]
        elif default is not None:
            value = default.arg(None) if default.is_callable else default.arg
            setattr(row, key, value)
            values[column_key] = value
    return table, values


def _link(items: list[_Item], seq: int, last: str) -> tuple[list[dict[str, Any]], int, str]:
    rows = []
    for item in items:
        seq += 1
        row = chained(item.fields, seq, last)
        last = row["hash"]
        rows.append(row)
    return rows, seq, last


async def _append_chain(
    conn: AsyncConnection,
    tenant_id: uuid.UUID,
    items: list[_Item],
    known: tuple[int, str] | None,
) -> tuple[list[dict[str, Any]], tuple[int, str]]:
    """The items' rows linked after the tenant's head, and the new head (already updated)."""
    c = _HEAD.c
    if known is not None:  # compare-and-set from the head this writer last committed
        rows, seq, last = _link(items, *known)
        moved = await conn.execute(
            _HEAD.update()
            .where(c.tenant_id == tenant_id, c.seq == known[0], c.hash == known[1])
            .values(seq=seq, hash=last)
        )
        if moved.rowcount == 1:
            return rows, (seq, last)
    head = (
        await conn.execute(select(c.seq, c.hash).where(c.tenant_id == tenant_id).with_for_update())
    ).first()
    rows, seq, last = _link(items, *((head.seq, head.hash) if head is not None else (0, GENESIS)))
    if head is None:
        await conn.execute(_HEAD.insert().values(tenant_id=tenant_id, seq=seq, hash=last))
    else:
        await conn.execute(
            _HEAD.update().where(c.tenant_id == tenant_id).values(seq=seq, hash=last)
        )
    return rows, (seq, last)


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
