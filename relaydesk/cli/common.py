"""Helpers for commands: settings, a database, running a coroutine."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from relaydesk.config import Settings, get_settings
from relaydesk.kit.db import Database

T = TypeVar("T")


def run(fn: Callable[[Settings, Database], Awaitable[T]]) -> T:
    """Run ``fn(settings, db)`` on a fresh engine, disposing it afterwards."""
    settings = get_settings()

    async def _main() -> T:
        if settings.is_embedded:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = Database.from_url(settings.database_url)
        try:
            return await fn(settings, db)
        finally:
            await db.dispose()

    return asyncio.run(_main())


def run_process(main: Coroutine[Any, Any, T]) -> T:
    """Run a long-lived process (the worker, the demo) on uvloop when it is installed, as
    ``relaydesk serve`` runs (uvicorn picks uvloop itself); else on asyncio's own loop."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvicorn[standard] installs it on Linux
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)
