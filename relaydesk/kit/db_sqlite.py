"""SQLite through aiosqlite, with calls that cannot wait run on the event loop's own thread.

aiosqlite runs every call (open a cursor, execute, fetch, close, commit) on a worker thread
and wakes the event loop when it is done: five hand-offs for one indexed read, each costing
more than the read itself, and under load each one waits for the GIL (up to the interpreter's
5 ms switch interval while the loop is busy). Here a call runs **inline** when it cannot wait
for a lock:

* reads: ``SELECT`` statements, fetching rows, opening and closing cursors. In WAL mode a
  reader never waits for a writer;
* ``BEGIN IMMEDIATE`` when the write lock is free: it is tried inline with a busy timeout of
  zero, and only when another connection holds the lock does it go to aiosqlite's thread,
  where ``busy_timeout`` can sleep without stopping the event loop;
* statements inside a transaction that holds the write lock, and its ``COMMIT``: nobody else
  can make them wait. A WAL commit only appends to the WAL file (``synchronous=NORMAL``: no
  fsync), because automatic checkpoints are off on these connections (below);
* a deferred ``BEGIN`` (takes no lock), any ``ROLLBACK``, and ``COMMIT`` when no
  transaction is open (a no-op).

Everything else (a write outside a held lock, the commit of a deferred transaction) still goes
through aiosqlite's thread.

**Checkpoints.** An automatic checkpoint runs inside the ``COMMIT`` that crosses the WAL
threshold and copies pages into the database file and fsyncs it: milliseconds that must not
stall the event loop. The connections are therefore opened with ``wal_autocheckpoint=0``
(``kit/db.py``), and every :data:`CHECKPOINT_EVERY` write commits this process runs a
``PASSIVE`` checkpoint on a connection of its own in a background thread (it never waits for
readers or writers). Closing the last connection to the file checkpoints as SQLite always does.

The sqlite3 connection is opened with ``check_same_thread=False``; calls on one connection
never overlap, because SQLAlchemy awaits each one before the next.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import aiosqlite

__all__ = ["CHECKPOINT_EVERY", "HybridConnection", "checkpoint_now", "connect"]

#: calls that only read, whatever the transaction state
_READ_CALLS = frozenset({"cursor", "fetchone", "fetchmany", "fetchall", "close"})
#: transaction control that is a no-op outside a transaction
_TX_CALLS = frozenset({"commit", "rollback"})
_EXECUTE = frozenset({"execute", "executemany"})
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "SAVEPOINT", "RELEASE", "ROLLBACK TO")
_BUSY_CODES = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})
#: write commits between two background checkpoints (about 4 pages each: ~1,000 WAL pages,
#: SQLite's own automatic threshold)
CHECKPOINT_EVERY = 256


def _verb(sql: Any) -> str:
    return sql.lstrip()[:16].upper() if isinstance(sql, str) else ""


def _ends_transaction(verb: str) -> bool:
    return verb.startswith(("COMMIT", "END", "ROLLBACK")) and not verb.startswith("ROLLBACK TO")


class _Checkpointer:
    """Background ``PASSIVE`` checkpoints of one database file (module docstring)."""

    _executor: ThreadPoolExecutor | None = None
    _lock = threading.Lock()

    def __init__(self, database: str) -> None:
        self.database = database
        self.commits = 0
        self.running: Future[None] | None = None
        #: checkpoints run (for tests)
        self.runs = 0

    def committed(self) -> None:
        self.commits += 1
        if self.commits >= CHECKPOINT_EVERY and (self.running is None or self.running.done()):
            self.commits = 0
            self.running = self.submit()

    def submit(self) -> Future[None]:
        with _Checkpointer._lock:
            if _Checkpointer._executor is None:
                _Checkpointer._executor = ThreadPoolExecutor(1, "relaydesk-sqlite-checkpoint")
        return _Checkpointer._executor.submit(self._run)

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(self.database, timeout=0, check_same_thread=False)
        except sqlite3.Error:
            return  # the file is gone (a test's temporary database): nothing to do
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            self.runs += 1
        except sqlite3.Error:
            pass  # busy with another checkpoint: the next one catches up
        finally:
            conn.close()


_checkpointers: dict[str, _Checkpointer] = {}


def _checkpointer(database: str) -> _Checkpointer | None:
    if database == ":memory:" or database.startswith("file::memory:"):
        return None
    found = _checkpointers.get(database)
    if found is None:
        found = _checkpointers[database] = _Checkpointer(database)
    return found


def checkpoint_now(database: str) -> None:
    """Run a background checkpoint of ``database`` now and wait for it (tests, shutdown)."""
    found = _checkpointer(database)
    if found is not None:
        found.submit().result()


class HybridConnection(aiosqlite.Connection):
    """An aiosqlite connection that runs calls that cannot block inline (module docstring)."""

    #: this connection ran BEGIN IMMEDIATE and has not ended that transaction yet
    holds_write_lock = False
    #: the configured busy timeout (ms), read at the first inline BEGIN IMMEDIATE
    _busy_ms: int | None = None
    _checkpoints: _Checkpointer | None = None

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
            if verb.startswith("SELECT") or verb in ("BEGIN", "BEGIN DEFERRED"):
                return True  # a deferred BEGIN takes no lock
            if verb.startswith("ROLLBACK") and not verb.startswith("ROLLBACK TO"):
                return True  # releasing never waits
            return self.holds_write_lock and (
                verb.startswith(_WRITES) or verb.startswith(("COMMIT", "END"))
            )
        if name in _TX_CALLS:
            return name == "rollback" or not conn.in_transaction or self.holds_write_lock
        return False

    def _try_lock_inline(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> tuple[bool, Any]:
        """``BEGIN IMMEDIATE`` on this thread if the lock is free: (taken, fn's result)."""
        conn = self._connection
        if conn is None or not self._running or conn.in_transaction:
            return False, None
        if not (getattr(fn, "__name__", "") in _EXECUTE and args):
            return False, None
        if not _verb(args[0]).startswith(("BEGIN IMMEDIATE", "BEGIN EXCLUSIVE")):
            return False, None
        if self._busy_ms is None:
            self._busy_ms = int(conn.execute("PRAGMA busy_timeout").fetchone()[0])
        conn.execute("PRAGMA busy_timeout=0")
        try:
            result = fn(*args)
        except sqlite3.OperationalError as exc:
            if getattr(exc, "sqlite_errorcode", None) not in _BUSY_CODES:
                raise
            return False, None  # another connection holds it: wait on the thread
        finally:
            conn.execute(f"PRAGMA busy_timeout={self._busy_ms}")
        return True, result

    def _track(self, fn: Callable[..., Any], args: tuple[Any, ...], was_in_tx: bool) -> None:
        """Follow the write lock, and count write commits for the checkpointer."""
        name = getattr(fn, "__name__", "")
        ended = name in _TX_CALLS
        if name in _EXECUTE and args:
            verb = _verb(args[0])
            if verb.startswith(("BEGIN IMMEDIATE", "BEGIN EXCLUSIVE")):
                self.holds_write_lock = True
                return
            ended = _ends_transaction(verb)
        if not ended:
            return
        committed = was_in_tx and (name == "commit" or _verb(args[0] if args else "")
                                   .startswith(("COMMIT", "END")))  # fmt: skip
        self.holds_write_lock = False
        if committed and self._checkpoints is not None:
            self._checkpoints.committed()

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        conn = self._connection
        was_in_tx = conn is not None and conn.in_transaction
        if self._inline(fn, args):
            result = fn(*args, **kwargs)
        else:
            taken, result = self._try_lock_inline(fn, args) if not kwargs else (False, None)
            if not taken:
                result = await super()._execute(fn, *args, **kwargs)  # type: ignore[no-untyped-call]
        self._track(fn, args, was_in_tx)
        return result


def connect(database: str, *, iter_chunk_size: int = 64, **kwargs: Any) -> HybridConnection:
    """Like :func:`aiosqlite.connect` (the arguments of :func:`sqlite3.connect`)."""
    kwargs["check_same_thread"] = False

    def connector() -> sqlite3.Connection:
        opened: sqlite3.Connection = sqlite3.connect(database, **kwargs)
        return opened

    connection = HybridConnection(connector, iter_chunk_size)
    connection._thread.daemon = True  # as SQLAlchemy does for aiosqlite's own connections
    connection._checkpoints = _checkpointer(str(database))
    return connection
