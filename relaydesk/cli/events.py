"""``relaydesk events``: the event log, dead letters and replay from the shell.

Lists show no payloads (they may hold personal data); replays are audited as the system.
"""

from __future__ import annotations

import datetime as dt
import uuid

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from relaydesk.audit.service import Actor
from relaydesk.cli.admin import _tenant
from relaydesk.cli.common import run
from relaydesk.config import Settings
from relaydesk.events.schemas import valid_type_filter
from relaydesk.events.service import EventService
from relaydesk.kit.db import Database
from relaydesk.kit.masking import detect_and_mask_text
from relaydesk.kit.pagination import PageParams

__all__ = ["app"]

app = typer.Typer(help="The event log: list events, dead letters, replay.", no_args_is_help=True)
CLI_ACTOR = Actor("system", None, "relaydesk events (command line)")

TenantOpt = typer.Option(..., "--tenant", "-t", help="Organisation slug")
TypeOpt = typer.Option(None, "--type", help="An event type (order.shipped) or family (order.*)")


def _when(value: str | None, option: str) -> dt.datetime | None:
    """ISO 8601; without a time zone it is UTC."""
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not an ISO 8601 time (2026-11-21T10:00:00+08:00)", param_hint=option
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _check_type(value: str | None) -> str | None:
    if value is not None and not valid_type_filter(value):
        raise typer.BadParameter("use an event type like order.shipped or a family like order.*",
                                 param_hint="--type")  # fmt: skip
    return value


def _print(renderable: object) -> None:
    Console().print(renderable, highlight=False, soft_wrap=isinstance(renderable, str))


def _table(*columns: str, ids: int = 1, title: str | None = None) -> Table:
    """Ids (the first ``ids`` columns) are never cut: they are copied into other commands."""
    table = Table(box=None, title=title, title_justify="left")
    for i, name in enumerate(columns):
        if i < ids:
            table.add_column(name, no_wrap=True, min_width=36)
        else:
            table.add_column(name, overflow="fold")
    return table


def _time(value: dt.datetime | None) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S") if value else "-"


@app.command("list")
def list_cmd(
    tenant: str = TenantOpt,
    event_type: str | None = TypeOpt,
    key: str | None = typer.Option(None, "--key", help="Ordering key"),
    since: str | None = typer.Option(None, "--since", help="ISO time (UTC if no zone)"),
    limit: int = typer.Option(50, "--limit", min=1, max=200),
) -> None:
    """Events, newest first."""
    after, kind = _when(since, "--since"), _check_type(event_type)

    async def _go(settings: Settings, db: Database) -> Table:
        async with db.job(system=True) as session:
            await _tenant(session, tenant)
            rows, _ = await EventService(session, CLI_ACTOR).search(
                PageParams(limit=limit), event_type=kind, key=key, since=after
            )
        table = _table("id", "occurred (UTC)", "type", "key", "published")
        for row in rows:
            shown = escape(detect_and_mask_text(row.key))
            table.add_row(str(row.id), _time(row.occurred_at), row.type, shown,
                          "yes" if row.published_at else "not yet")  # fmt: skip
        return table

    _print(run(_go))


@app.command("show")
def show_cmd(event_id: uuid.UUID = typer.Argument(...), tenant: str = TenantOpt) -> None:
    """One event's delivery status for each consumer."""

    async def _go(settings: Settings, db: Database) -> Table:
        async with db.job(system=True) as session:
            await _tenant(session, tenant)
            event, statuses = await EventService(session, CLI_ACTOR).get(event_id)
        table = _table("consumer", "status", "attempts", "next attempt", "error", ids=0,
                       title=f"{event.type} {event.id}")  # fmt: skip
        for status in statuses:
            table.add_row(status.consumer, status.status, str(status.attempts),
                          _time(status.next_attempt_at), escape(status.error or ""))  # fmt: skip
        return table

    _print(run(_go))


@app.command("dead-letters")
def dead_letters_cmd(
    tenant: str = TenantOpt,
    consumer: str | None = typer.Option(None, "--consumer"),
    event_type: str | None = TypeOpt,
    limit: int = typer.Option(50, "--limit", min=1, max=200),
) -> None:
    """Events a consumer gave up on, newest first, with the last error."""
    kind = _check_type(event_type)

    async def _go(settings: Settings, db: Database) -> str:
        async with db.job(system=True) as session:
            await _tenant(session, tenant)
            rows, _ = await EventService(session, CLI_ACTOR).dead_letters(
                PageParams(limit=limit), consumer=consumer, event_type=kind
            )
        blocks = [
            f"[bold]{row.id}[/]  {escape(row.consumer)}  {row.event_type}  "
            f"{row.attempts} attempt(s), last {_time(row.last_failed_at)} UTC\n"
            f"  event {row.event_id}\n  error {escape(row.error[:300])}"
            for row in rows
        ]
        return "\n".join(blocks) or "no dead letters"

    _print(run(_go))


@app.command("replay")
def replay_cmd(
    tenant: str = TenantOpt,
    dead_letter: uuid.UUID | None = typer.Option(None, "--dead-letter", help="One dead letter"),
    since: str | None = typer.Option(None, "--since", help="Every event since this ISO time"),
    until: str | None = typer.Option(None, "--until", help="...and before this ISO time"),
    event_type: str | None = TypeOpt,
    consumer: str | None = typer.Option(None, "--consumer", help="Only this consumer"),
    force: bool = typer.Option(False, "--force", help="Also re-run already processed events"),
) -> None:
    """Deliver one dead letter, or every event since a time, again (audited).

    The running workers (or the API process) deliver them within a second.
    """
    if (dead_letter is None) == (since is None):
        raise typer.BadParameter("give either --dead-letter ID or --since TIME",
                                 param_hint="--dead-letter/--since")  # fmt: skip
    start, end, kind = _when(since, "--since"), _when(until, "--until"), _check_type(event_type)

    async def _go(settings: Settings, db: Database) -> str:
        async with db.job(system=True) as session:
            await _tenant(session, tenant)
            service = EventService(session, CLI_ACTOR)
            if dead_letter is not None:
                row = await service.replay_dead_letter(dead_letter)
                return f"replaying {row.event_type} {row.event_id} to {row.consumer}"
            assert start is not None
            result = await service.replay(since=start, until=end, event_type=kind,
                                          consumer=consumer, force=force)  # fmt: skip
            return (f"replaying {result.deliveries} deliveries of {result.events} events "
                    f"({result.skipped} already processed, skipped)")  # fmt: skip

    _print(run(_go))
