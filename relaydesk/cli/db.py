from __future__ import annotations

import typer
from rich.console import Console

from relaydesk.cli.common import run
from relaydesk.config import Settings
from relaydesk.kit.db import Database
from relaydesk.migrations.runner import upgrade as alembic_upgrade

app = typer.Typer(help="Database schema.", no_args_is_help=True)
console = Console()


@app.command("upgrade")
def upgrade(revision: str = typer.Argument("head", help="Target revision")) -> None:
    """Apply migrations (creates the embedded SQLite database if missing)."""

    async def _go(settings: Settings, db: Database) -> None:
        await alembic_upgrade(db.engine, revision)

    run(_go)
    console.print(f"database at {revision}")
