"""SQLite: reads run on the event loop's thread (no hand-off to aiosqlite's), anything that
may wait for the write lock still waits on aiosqlite's thread, so the loop keeps serving."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import text

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


async def test_a_write_takes_the_lock_and_commits_on_the_thread(
    sqlite: Database, handoffs: list[str]
) -> None:
    async with sqlite.request_session("POST") as session:
        await session.execute(text("INSERT INTO t (v) VALUES ('c')"))
        assert (await session.execute(text("SELECT count(*) FROM t"))).scalar() == 3
        await session.commit()
    # BEGIN IMMEDIATE (may wait for the lock) and COMMIT (may checkpoint) went to the thread;
    # the statements inside the held lock did not
    assert [name for name in handoffs if name == "execute"] == ["execute"]  # the BEGIN
    assert "commit" in handoffs
    async with sqlite.request_session("POST") as session:
        await session.execute(text("INSERT INTO t (v) VALUES ('d')"))
        await session.rollback()
    async with sqlite.request_session("GET") as session:
        assert (await session.execute(text("SELECT count(*) FROM t"))).scalar() == 3


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
