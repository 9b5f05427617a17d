"""The ``relaydesk`` command. Errors are one readable line and a non-zero exit code."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from relaydesk.errors import AppError, ConfigError

err = Console(stderr=True)
app = typer.Typer(
    name="relaydesk",
    help="Relaydesk: omnichannel customer service that works with the systems you already run.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _register() -> None:
    from relaydesk.cli import admin, audit, db, serve

    app.add_typer(db.app, name="db")
    app.add_typer(admin.tenants, name="tenants")
    app.add_typer(admin.users, name="users")
    app.add_typer(admin.apikeys, name="apikeys")
    app.add_typer(audit.app, name="audit")
    serve.register(app)


def fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def main() -> None:
    _register()
    try:
        app()
    except ConfigError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except AppError as exc:
        err.print(f"[bold red]error:[/] {exc.message}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except OSError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(1)
