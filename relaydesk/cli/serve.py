"""``relaydesk serve`` (and ``relaydesk demo``, which seeds first)."""

from __future__ import annotations

import asyncio

import typer
import uvicorn
from rich.console import Console
from sqlalchemy import text

from relaydesk.cli.common import run_process
from relaydesk.config import Settings, get_settings
from relaydesk.errors import ConfigError
from relaydesk.kit.db import Database
from relaydesk.migrations.runner import upgrade

console = Console()


async def prepare_database(settings: Settings) -> None:
    """Embedded default: create and migrate on first start. Otherwise: insist on head."""
    db = Database.from_url(settings.database_url)
    try:
        if settings.is_embedded:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            await upgrade(db.engine)
            return
        from alembic.script import ScriptDirectory

        from relaydesk.migrations.runner import alembic_config

        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        try:
            async with db.engine.connect() as conn:
                current = (
                    await conn.execute(text("SELECT version_num FROM alembic_version"))
                ).scalar_one_or_none()
        except Exception as exc:
            if "alembic_version" not in str(exc):
                name = exc.__class__.__name__
                raise ConfigError(
                    f"cannot reach the database of RELAYDESK_DATABASE__URL: {name}"
                ) from None
            current = None
        if current != head:
            raise ConfigError(
                f"database schema is at {current or 'nothing'}, code expects {head}: "
                "run `relaydesk db upgrade` first"
            )
    finally:
        await db.dispose()


def serve_app(host: str, port: int, banner: list[str] | None = None) -> None:
    settings = get_settings()
    asyncio.run(prepare_database(settings))
    from relaydesk.app import create_app

    application = create_app(settings)
    console.print(
        f"Relaydesk on [bold]http://{host}:{port}/[/]  "
        f"(API docs: http://{host}:{port}/api/v1/docs)",
        soft_wrap=True,
    )
    for line in banner or []:
        console.print(line, highlight=False)
    # no permessage-deflate: frames are small JSON that compresses little, and its zlib state
    # is half the memory of every held socket (docs/benchmarks.md, issue 5)
    uvicorn.run(application, host=host, port=port, log_config=None, access_log=False,
                ws_per_message_deflate=False)  # fmt: skip


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve(
        host: str = typer.Option("127.0.0.1", help="Interface to listen on"),
        port: int = typer.Option(8000, min=1, max=65535, help="Port to listen on"),
    ) -> None:
        """Run Relaydesk (embedded default: data under ./var of the current directory)."""
        serve_app(host, port)

    @app.command("demo")
    def demo(
        host: str = typer.Option("127.0.0.1", help="Interface to listen on"),
        port: int = typer.Option(8000, min=1, max=65535, help="Port to listen on"),
        systems_base_port: int = typer.Option(
            8101, min=1, max=65000, help="First port of the eight demo enterprise systems"
        ),
    ) -> None:
        """Seed the demo organisation (once), start the demo enterprise systems and run
        Relaydesk, printing the URLs and logins."""
        settings = get_settings()
        asyncio.run(prepare_database(settings))
        run_process(_demo(settings, host, port, systems_base_port))


async def _demo(settings: Settings, host: str, port: int, systems_base_port: int) -> None:
    """One event loop for Relaydesk and the eight systems it is connected to."""
    from relaydesk.app import create_app
    from relaydesk.channels.sms.demo import seed_sms_inbox, sms_callback_urls
    from relaydesk.demo.connectors import callback_urls
    from relaydesk.demo.seed import seed_demo
    from relaydesk.demo_systems.runner import PORT_OFFSETS, banner, start_all, stop_all

    logins = await seed_demo(settings, systems_base_port=systems_base_port)
    hooks = callback_urls(host, port)
    gateway = f"http://{host}:{systems_base_port + PORT_OFFSETS['sms']}"
    sms_inbox = await seed_sms_inbox(settings, gateway_url=gateway)
    from relaydesk.channels.voice.demo import seed_voice_inbox, voice_event_url

    cc_url = f"http://{host}:{systems_base_port + PORT_OFFSETS['callcenter']}"
    voice_inbox = await seed_voice_inbox(settings, callcenter_url=cc_url)
    systems = await start_all(
        host, systems_base_port, data_dir=settings.data_dir,
        ticket_callback_url=hooks["tickets"], order_callback_url=hooks["orders"],
        sms_callbacks=sms_callback_urls(host, port, sms_inbox),
        callcenter_event_url=voice_event_url(host, port, voice_inbox),
    )
    try:
        application = create_app(settings)
        console.print(
            f"Relaydesk on [bold]http://{host}:{port}/[/]  "
            f"(API docs: http://{host}:{port}/api/v1/docs)",
            soft_wrap=True,
        )
        for line in [*logins, "", "Demo enterprise systems:", *banner(systems)]:
            console.print(line, highlight=False, markup=False, soft_wrap=True)
        config = uvicorn.Config(
            application, host=host, port=port, log_config=None, access_log=False,
            ws_per_message_deflate=False,
        )  # fmt: skip
        await uvicorn.Server(config).serve()
    finally:
        await stop_all()
