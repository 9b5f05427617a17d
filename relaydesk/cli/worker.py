"""``relaydesk worker``: the event relay, consumers and job runner in a process of their own.

Run any number of them (PostgreSQL + Redis); set ``RELAYDESK_EVENTS__RUN_IN_API=false`` for
the API processes then. SIGTERM (or Ctrl-C) finishes the batches in hand, gives the leases
back and exits 0.
"""

from __future__ import annotations

import asyncio
import importlib
import signal

import typer
from rich.console import Console

from relaydesk.cli.common import run_process
from relaydesk.config import Settings, get_settings
from relaydesk.errors import ConfigError
from relaydesk.events.consumers import consumer_names
from relaydesk.jobs.queue import registered_kinds
from relaydesk.kit.db import Database

__all__ = ["register", "run_worker"]

console = Console(stderr=True)


def import_modules(names: list[str]) -> None:
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise ConfigError(f"--import {name}: {exc}") from None


async def run_worker(
    settings: Settings, *, lease_seconds: float = 10.0, stop: asyncio.Event | None = None
) -> None:
    from relaydesk.cli.serve import prepare_database
    from relaydesk.events.runtime import EventRuntime

    await prepare_database(settings)
    db = Database.from_url(settings.database_url, pool_size=settings.database.pool_size)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    from relaydesk.integrations.registry import RuntimeRegistry
    from relaydesk.kit.crypto import Keyring
    from relaydesk.kit.ratelimit import make_rate_limiter
    from relaydesk.wiring import bind_process, start_hub, stop_hub

    runtime = EventRuntime(db, settings, lease_seconds=lease_seconds)
    registry = RuntimeRegistry()
    bind_process(db, registry=registry, keyring=Keyring.from_settings(settings),
                 rate_limiter=make_rate_limiter(settings.redis.url))  # fmt: skip
    hub = await start_hub(settings)
    try:
        await runtime.start()
        from relaydesk.app import settle_heap

        settle_heap()
        console.print(
            f"relaydesk worker {runtime.worker_id}: {runtime.backend} bus, consumers "
            f"{', '.join(consumer_names()) or '(none)'}; job kinds "
            f"{', '.join(registered_kinds()) or '(none)'}",
            highlight=False, soft_wrap=True,
        )  # fmt: skip
        await stop.wait()
    finally:
        await runtime.stop()
        await stop_hub(hub)
        await registry.aclose()
        await db.dispose()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    console.print(f"relaydesk worker {runtime.worker_id}: stopped", highlight=False)


def register(app: typer.Typer) -> None:
    @app.command("worker")
    def worker(
        imports: list[str] = typer.Option(
            [],
            "--import",
            "-i",
            help="Import this module first (it registers consumers or job handlers); repeatable",
        ),
        lease_seconds: float = typer.Option(
            10.0,
            "--lease-seconds",
            min=1.0,
            max=300.0,
            hidden=True,
            help="Life of a Redis partition lease (a dead worker's partitions move after it)",
        ),
    ) -> None:
        """Run the event relay, the event consumers and the job runner until stopped."""
        settings = get_settings()
        import_modules(imports)
        run_process(run_worker(settings, lease_seconds=lease_seconds))
