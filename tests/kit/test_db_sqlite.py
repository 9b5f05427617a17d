"""SQLite: reads, and writes whose lock is free, run on the event loop's thread (no hand-off to
aiosqlite's); a writer that must wait for the lock waits on aiosqlite's thread, so the loop
keeps serving; checkpoints run in a background thread."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import text

from relaydesk.kit import db_sqlite
from relaydesk.kit.db import Database, declare_write_intent


@pytest.fixture
async def sqlite(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database.from_url(f"sqlite+aiosqlite:///{tmp_path / 'hybrid.db'}")
    async with db.engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
        await conn.execute(text("INSERT INTO t (v) VALUES ('a'), ('b')"))
    yield db
    await db.dispose()


@pytest.fixture
def handoffs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Calls sent to aiosqlite's worker thread, by name."""
    seen: list[str] = []
    original = aiosqlite.Connection._execute

    async def counting(self: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(getattr(fn, "__name__", "?"))
        return await original(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counting)
    return seen


async def test_a_read_request_makes_no_thread_handoff(
    sqlite: Database, handoffs: list[str]
) -> None:
    async with sqlite.request_session("GET") as session:  # warm: the pool has a connection
        await session.execute(text("SELECT 1"))
    handoffs.clear()
    async with sqlite.request_session("GET") as session:
        rows = (await session.execute(text("SELECT v FROM t ORDER BY id"))).scalars().all()
        await session.commit()
    assert rows == ["a", "b"]
    assert handoffs == []


async def test_an_uncontended_write_makes_no_thread_handoff(
    sqlite: Database, handoffs: list[str]
) -> None:
    async with sqlite.request_session("POST") as session:
        await session.execute(text("SELECT 1"))
        await session.rollback()
    handoffs.clear()
    async with sqlite.request_session("POST") as session:
        await session.execute(text("INSERT INTO t (v) VALUES ('c')"))
        assert (await session.execute(text("SELECT count(*) FROM t"))).scalar() == 3
        await session.commit()
    # the lock was free: BEGIN IMMEDIATE, the statements and the COMMIT all ran inline
    assert handoffs == []
    async with sqlite.request_session("POST") as session:
        await session.execute(text("INSERT INTO t (v) VALUES ('d')"))
        await session.rollback()
    async with sqlite.request_session("GET") as session:
        assert (await session.execute(text("SELECT count(*) FROM t"))).scalar() == 3
        # the inline BEGIN left the configured busy timeout in place
        assert (await session.execute(text("PRAGMA busy_timeout"))).scalar() == 5000
        assert (await session.execute(text("PRAGMA wal_autocheckpoint"))).scalar() == 0


async def test_a_write_that_must_wait_for_the_lock_waits_on_the_thread(
    sqlite: Database, handoffs: list[str]
) -> None:
    async with sqlite.sessionmaker() as holder:
        await declare_write_intent(holder)
        await holder.execute(text("INSERT INTO t (v) VALUES ('held')"))
        handoffs.clear()

        async def writer() -> None:
            async with sqlite.request_session("POST") as session:
                await session.execute(text("INSERT INTO t (v) VALUES ('after')"))
                await session.commit()

        waiting = asyncio.create_task(writer())
        await asyncio.sleep(0.1)
        assert not waiting.done()
        # (a second pooled connection was opened first); BEGIN IMMEDIATE found the lock
        # taken and waits on the thread
        assert handoffs[-1] == "execute"
        await holder.commit()
        await asyncio.wait_for(waiting, 5)


async def test_checkpoints_run_in_the_background(
    sqlite: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_sqlite, "CHECKPOINT_EVERY", 5)
    wal = tmp_path / "hybrid.db-wal"
    checkpointer = db_sqlite._checkpointer(str(tmp_path / "hybrid.db"))
    assert checkpointer is not None
    runs = checkpointer.runs
    for i in range(12):
        async with sqlite.request_session("POST") as session:
            await session.execute(text("INSERT INTO t (v) VALUES (:v)"), {"v": "x" * 2000 + str(i)})
            await session.commit()
    for _ in range(100):  # the checkpoint thread runs on its own
        if checkpointer.runs >= runs + 1:
            break
        await asyncio.sleep(0.02)
    assert checkpointer.runs >= runs + 1
    # what the checkpoints copied is in the database file: a fresh connection that ignores
    # the WAL (immutable) sees the rows of the checkpointed commits
    async with sqlite.request_session("POST") as session:
        await session.execute(text("SELECT 1"))
        await session.rollback()
    db_sqlite.checkpoint_now(str(tmp_path / "hybrid.db"))
    plain = sqlite3.connect(f"file:{tmp_path / 'hybrid.db'}?immutable=1", uri=True)
    try:
        assert plain.execute("SELECT count(*) FROM t").fetchone()[0] == 14
    finally:
        plain.close()
    assert wal.exists()


async def test_the_loop_keeps_serving_while_a_writer_waits_for_the_lock(
    sqlite: Database,
) -> None:
    async with sqlite.sessionmaker() as holder:
        await declare_write_intent(holder)  # BEGIN IMMEDIATE: holds the write lock
        await holder.execute(text("INSERT INTO t (v) VALUES ('held')"))
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.005)
                ticks += 1

        async def writer() -> None:
            async with sqlite.sessionmaker() as waiting:
                await declare_write_intent(waiting)  # waits (busy_timeout) on the thread
                await waiting.execute(text("INSERT INTO t (v) VALUES ('after')"))
                await waiting.commit()

        tick = asyncio.create_task(ticker())
        waiting = asyncio.create_task(writer())
        started = time.monotonic()
        await asyncio.sleep(0.2)
        assert not waiting.done() and ticks >= 10  # the loop ran while the writer waited
        async with sqlite.request_session("GET") as reader:  # and reads are not blocked
            assert (await reader.execute(text("SELECT count(*) FROM t"))).scalar() == 2
        await holder.commit()
        await asyncio.wait_for(waiting, 5)
        tick.cancel()
    assert time.monotonic() - started < 5
    async with sqlite.request_session("GET") as session:
        values = (await session.execute(text("SELECT v FROM t ORDER BY id"))).scalars().all()
    assert values == ["a", "b", "held", "after"]
