"""The ``relaydesk`` command. Errors are one readable line and a non-zero exit code."""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy.exc import DBAPIError

from relaydesk.errors import AppError, ConfigError

err = Console(stderr=True)
app = typer.Typer(
    name="relaydesk",
    help="Relaydesk: omnichannel customer service that works with the systems you already run.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
_registered = False


def _register() -> None:
    global _registered
    if _registered:
        return
    _registered = True
    from relaydesk.apps import cli as apps_cli
    from relaydesk.cli import (
        admin,
        audit,
        connectors,
        connectors_test,
        db,
        events,
        events_docs,
        keys,
        openapi,
        serve,
        worker,
    )

    app.add_typer(db.app, name="db")
    app.add_typer(admin.tenants, name="tenants")
    app.add_typer(admin.users, name="users")
    app.add_typer(admin.apikeys, name="apikeys")
    app.add_typer(audit.app, name="audit")
    connectors_test.register(connectors.app)
    app.add_typer(connectors.app, name="connectors")
    app.add_typer(keys.app, name="keys")
    events_docs.register(events.app)
    app.add_typer(events.app, name="events")
    app.add_typer(apps_cli.app, name="apps")
    serve.register(app)
    worker.register(app)
    openapi.register(app)


def _error(message: str) -> None:
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    _error(message)
    return typer.Exit(code)


def _database_error(exc: DBAPIError) -> str:
    reason = str(exc.orig if exc.orig is not None else exc).strip().splitlines()
    first = reason[0] if reason else type(exc).__name__
    if "no such table" in first or ("relation" in first and "does not exist" in first):
        return f"the database has no schema yet ({first}): run `relaydesk db upgrade` first"
    return f"database error: {first}"


def main() -> None:
    _register()
    try:
        app()
    except ConfigError as exc:
        _error(str(exc))
        sys.exit(2)
    except AppError as exc:
        _error(exc.message)
        sys.exit(1)
    except DBAPIError as exc:
        _error(_database_error(exc))
        sys.exit(1)
    except OSError as exc:
        _error(str(exc))
        sys.exit(1)
