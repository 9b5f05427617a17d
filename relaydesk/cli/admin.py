"""Platform administration: organisations, users and API keys from the shell."""

from __future__ import annotations

import datetime as dt

import typer
from rich.console import Console

from relaydesk.auth.apikeys import create_api_key
from relaydesk.cli.common import run
from relaydesk.config import Settings
from relaydesk.errors import NotFound
from relaydesk.kit.db import Database, scope_session
from relaydesk.tenancy.models import Tenant
from relaydesk.tenancy.service import create_tenant, create_user

console = Console()
tenants = typer.Typer(help="Organisations (tenants).", no_args_is_help=True)
users = typer.Typer(help="Users.", no_args_is_help=True)
apikeys = typer.Typer(help="API keys for machine clients.", no_args_is_help=True)


async def _tenant(db_session: object, slug: str) -> Tenant:
    from sqlalchemy import select
    from sqlalchemy.ext.asyncio import AsyncSession

    assert isinstance(db_session, AsyncSession)
    tenant = (
        await db_session.execute(select(Tenant).where(Tenant.slug == slug.lower()))
    ).scalar_one_or_none()
    if tenant is None:
        raise NotFound(f"no organisation with slug {slug!r}")
    scope_session(db_session, tenant.id)
    return tenant


@tenants.command("create")
def tenants_create(
    slug: str = typer.Argument(..., help="Short name used to sign in, e.g. acme"),
    name: str = typer.Option("", help="Display name"),
) -> None:
    """Create an organisation with the built-in roles."""

    async def _go(settings: Settings, db: Database) -> str:
        async with db.job(system=True) as session:
            tenant = await create_tenant(session, slug=slug, name=name or slug)
            return str(tenant.id)

    tenant_id = run(_go)
    console.print(f"created organisation {slug} ({tenant_id})")


@users.command("create")
def users_create(
    tenant: str = typer.Option(..., "--tenant", "-t", help="Organisation slug"),
    email: str = typer.Option(..., help="Sign-in e-mail"),
    password: str = typer.Option(
        ..., prompt=True, hide_input=True, confirmation_prompt=True,
        help="Password (prompted when omitted)",
    ),
    name: str = typer.Option("", help="Display name"),
    role: list[str] = typer.Option(["agent"], "--role", "-r", help="Role name; repeatable"),
) -> None:
    """Create a user in an organisation."""

    async def _go(settings: Settings, db: Database) -> str:
        async with db.job(system=True) as session:
            await _tenant(session, tenant)
            user = await create_user(
                session, email=email, display_name=name or email, password=password,
                role_names=role, min_password_length=settings.security.password_min_length,
            )
            return str(user.id)

    user_id = run(_go)
    console.print(f"created user {email} ({user_id}) with roles {', '.join(role)}", markup=False)


@apikeys.command("create")
def apikeys_create(
    tenant: str = typer.Option(..., "--tenant", "-t", help="Organisation slug"),
    name: str = typer.Option(..., help="What the key is for"),
    permission: list[str] = typer.Option(
        [], "--permission", "-p", help="Permission granted to the key; repeatable"
    ),
    expires_in_days: int | None = typer.Option(None, min=1, help="Expire after N days"),
) -> None:
    """Create an API key; it is printed once and cannot be shown again."""

    async def _go(settings: Settings, db: Database) -> str:
        async with db.job(system=True) as session:
            t = await _tenant(session, tenant)
            expires = (
                dt.datetime.now(dt.UTC) + dt.timedelta(days=expires_in_days)
                if expires_in_days else None
            )
            _, key = await create_api_key(
                session, tenant_id=t.id, name=name, permissions=permission,
                granted_by=None, expires_at=expires,
            )
            return key

    key = run(_go)
    console.print("API key (shown once, store it now):")
    console.print(key, highlight=False, soft_wrap=True)
