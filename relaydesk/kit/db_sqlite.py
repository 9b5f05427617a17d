"""SQLite through aiosqlite, with short statements run on the event loop's own thread.

aiosqlite runs every call (open a cursor, execute, fetch, close, commit) on a worker thread
and wakes the event loop when it is done: five hand-offs for one indexed read, each costing
more than the read itself (and, under load, a wait for the GIL). Here a call runs **inline**
when it cannot wait for a lock:

* reads: ``SELECT`` statements, fetching rows, opening and closing cursors. In WAL mode a
  reader never waits for a writer;
* statements inside a transaction that already holds the write lock (after
  ``BEGIN IMMEDIATE``): nobody else can make them wait;
* ``COMMIT``/``ROLLBACK`` when no transaction is open (no-ops).

Everything that may wait for the database lock (``BEGIN IMMEDIATE``, a write outside a held
lock, ``COMMIT``, which may also checkpoint the WAL) still goes through aiosqlite's thread,
where ``busy_timeout`` can sleep without stopping the event loop.

The sqlite3 connection is opened with ``check_same_thread=False``; calls on one connection
never overlap, because SQLAlchemy awaits each one before the next.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

import aiosqlite

__all__ = ["HybridConnection", "connect"]

#: calls that only read, whatever the transaction state
_READ_CALLS = frozenset({"cursor", "fetchone", "fetchmany", "fetchall", "close"})
#: transaction control that is a no-op outside a transaction
_TX_CALLS = frozenset({"commit", "rollback"})
_EXECUTE = frozenset({"execute", "executemany"})
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "SAVEPOINT", "RELEASE", "ROLLBACK TO")


def _verb(sql: Any) -> str:
    return sql.lstrip()[:16].upper() if isinstance(sql, str) else ""


class HybridConnection(aiosqlite.Connection):
    """An aiosqlite connection that runs calls that cannot block inline (module docstring)."""

    #: this connection ran BEGIN IMMEDIATE and has not ended that transaction yet
    holds_write_lock = False

    def _inline(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> bool:
        conn = self._connection
        if conn is None or not self._running:
            return False
        name = getattr(fn, "__name__", "")
        if name in _READ_CALLS:
            return True
        if not conn.in_transaction:
            self.holds_write_lock = False
        if name in _EXECUTE and args:
            verb = _verb(args[0])
            if verb.startswith("SELECT"):
                return True
            return self.holds_write_lock and verb.startswith(_WRITES)
        return name in _TX_CALLS and not conn.in_transaction

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self._inline(fn, args):
            return fn(*args, **kwargs)
        name = getattr(fn, "__name__", "")
        result = await super()._execute(fn, *args, **kwargs)  # type: ignore[no-untyped-call]
        if name in _EXECUTE and args:
            verb = _verb(args[0])
            if verb.startswith("BEGIN IMMEDIATE") or verb.startswith("BEGIN EXCLUSIVE"):
                self.holds_write_lock = True
            elif verb.startswith(("COMMIT", "END", "ROLLBACK")) and not verb.startswith(
                "ROLLBACK TO"
            ):
                self.holds_write_lock = False
        elif name in _TX_CALLS:
            self.holds_write_lock = False
        return result


def connect(database: str, *, iter_chunk_size: int = 64, **kwargs: Any) -> HybridConnection:
    """Like :func:`aiosqlite.connect` (the arguments of :func:`sqlite3.connect`)."""
    kwargs["check_same_thread"] = False

    def connector() -> sqlite3.Connection:
        opened: sqlite3.Connection = sqlite3.connect(database, **kwargs)
        return opened

    connection = HybridConnection(connector, iter_chunk_size)
    connection._thread.daemon = True  # as SQLAlchemy does for aiosqlite's own connections
    return connection
