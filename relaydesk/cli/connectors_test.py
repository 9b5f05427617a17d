"""``relaydesk connectors test INSTANCE ACTION --tenant SLUG --param k=v ...``.

Runs one action of a configured instance as the system principal (every permission, clear
data), through the same pipeline as the API: the call is audited and logged. Prints the
outcome as JSON; the exit code is 1 when the call failed (``ok: false``).
"""

from __future__ import annotations

import json
from typing import Any

import typer
from sqlalchemy import select

from relaydesk.cli.common import run
from relaydesk.config import Settings
from relaydesk.errors import NotFound, ValidationFailed
from relaydesk.integrations.outcome import ActionOutcome
from relaydesk.integrations.registry import RuntimeRegistry
from relaydesk.integrations.service import IntegrationService, system_principal
from relaydesk.kit.crypto import Keyring
from relaydesk.kit.db import Database, scope_session
from relaydesk.tenancy.models import Tenant

__all__ = ["parse_params", "register", "test_cmd"]


def parse_params(pairs: list[str]) -> dict[str, Any]:
    """``k=v`` pairs: values are text (the action's types convert them), except values that
    start with ``[`` or ``{``, which are JSON (arrays and objects)."""
    params: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ValidationFailed(f"--param {pair!r}: expected name=value")
        parsed: Any = value
        if value.lstrip().startswith(("[", "{")):
            try:
                parsed = json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValidationFailed(f"--param {name}: not valid JSON: {exc.msg}") from None
        params[name.strip()] = parsed
    return params


async def run_test(
    db: Database,
    keyring: Keyring,
    tenant_slug: str,
    instance: str,
    action: str,
    params: dict[str, Any],
    *,
    registry: RuntimeRegistry | None = None,
) -> ActionOutcome:
    """Run the action in one job (committed: the call log and the audit row stay)."""
    owned = registry is None
    registry = registry or RuntimeRegistry()
    try:
        async with db.job(system=True) as session:
            tenant = (
                await session.execute(select(Tenant).where(Tenant.slug == tenant_slug.lower()))
            ).scalar_one_or_none()
            if tenant is None:
                raise NotFound(f"no organisation with slug {tenant_slug!r}")
            scope_session(session, tenant.id)
            session.info["system"] = False
            principal = system_principal(tenant.id, tenant.slug, label="cli: connectors test")
            service = IntegrationService(session, principal, registry, keyring)
            return await service.run_action(instance, action, params)
    finally:
        if owned:
            await registry.aclose()


def test_cmd(
    instance: str = typer.Argument(..., help="Instance name or id"),
    action: str = typer.Argument(..., help="Action name"),
    tenant: str = typer.Option(..., "--tenant", "-t", help="Organisation slug"),
    param: list[str] = typer.Option(
        [], "--param", "-p", help="name=value (repeatable); [..] or {..} values are JSON"
    ),
) -> None:
    """Run an action of a connector instance and print the outcome (exit 1 if it failed)."""
    params = parse_params(param)

    async def _go(settings: Settings, db: Database) -> ActionOutcome:
        return await run_test(db, Keyring.from_settings(settings), tenant, instance, action, params)

    outcome = run(_go)
    typer.echo(json.dumps(outcome.model_dump(mode="json", by_alias=True), ensure_ascii=False,
                          indent=2))
    if not outcome.ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``test`` to the ``connectors`` sub-app."""
    app.command("test")(test_cmd)
