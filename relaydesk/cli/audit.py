from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from relaydesk.audit.service import VerifyResult, verify
from relaydesk.cli.common import run
from relaydesk.config import Settings
from relaydesk.kit.db import Database
from relaydesk.tenancy.models import Tenant

app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)
console = Console()


@app.command("verify")
def verify_cmd(
    tenant: str | None = typer.Option(None, "--tenant", "-t", help="Only this organisation"),
) -> None:
    """Recompute every organisation's hash chain; exit 1 if any row was changed or removed."""

    async def _go(settings: Settings, db: Database) -> list[tuple[str, VerifyResult]]:
        out = []
        async with db.job(system=True) as session:
            stmt = select(Tenant).order_by(Tenant.slug)
            if tenant:
                stmt = stmt.where(Tenant.slug == tenant.lower())
            tenants = (await session.execute(stmt)).scalars().all()
            if tenant and not tenants:
                from relaydesk.errors import NotFound

                raise NotFound(f"no organisation with slug {tenant!r}")
            for t in tenants:
                out.append((t.slug, await verify(session, t.id)))
        return out

    results = run(_go)
    table = Table("organisation", "rows checked", "status")
    bad = False
    for slug, result in results:
        status = "[green]intact[/]" if result.ok else f"[red]{len(result.problems)} problem(s)[/]"
        table.add_row(slug, str(result.checked), status)
        bad = bad or not result.ok
    console.print(table)
    for slug, result in results:
        for problem in result.problems:
            console.print(f"[red]{slug}[/]: row {problem['seq']}: {problem['problem']}")
    if bad:
        raise typer.Exit(1)
