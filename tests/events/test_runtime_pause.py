"""The runtime's loops wait without spinning: a follower poked by its own commits asks for the
lead once per poke, and a stop ends every pause at once."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from relaydesk.config import EventsSettings, Settings
from relaydesk.events import consumers as registry
from relaydesk.events.runtime import EventRuntime
from relaydesk.kit.db import Database


async def test_a_follower_poked_by_commits_does_not_spin_and_stops_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry, "_CONSUMERS", {})
    db = Database.from_url(f"sqlite+aiosqlite:///{tmp_path / 'rd.db'}")
    settings = Settings(environment="test", events=EventsSettings(poll_seconds=30))
    runtime = EventRuntime(db, settings, run_jobs=False)
    asked = 0

    async def follow() -> bool:  # another process leads
        nonlocal asked
        asked += 1
        return False

    monkeypatch.setattr(runtime.leadership, "acquire", follow)
    try:
        await runtime.start()
        await asyncio.sleep(0.05)
        for _ in range(3):
            runtime._on_commit()  # a commit in this process pokes the loops
            await asyncio.sleep(0.05)
        assert 2 <= asked <= 5  # once at the start, about once per poke: no busy loop
    finally:
        started = time.monotonic()
        await runtime.stop()
        assert time.monotonic() - started < 1  # the 30 s pauses ended with the stop
        await db.dispose()
