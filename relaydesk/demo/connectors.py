"""The demo organisation's connector instances to the demo enterprise systems."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.auth.models import Role
from relaydesk.auth.permissions import WILDCARD
from relaydesk.auth.principal import Principal
from relaydesk.config import Settings
from relaydesk.connectors.demo_instances import demo_instances
from relaydesk.integrations.instances import InstanceService, action_permissions
from relaydesk.integrations.models import ConnectorInstance
from relaydesk.integrations.schemas import InstanceIn
from relaydesk.kit.crypto import Keyring
from relaydesk.kit.db import Database, scope_session
from relaydesk.tenancy.models import Tenant

DEMO_SLUG = "demo"
GRANTEES = ("agent", "supervisor")
FINANCE = "connector_action:finance."
SUPERVISOR_ONLY = (
    "connector_action:membership.add_points",
    "connector_action:membership.sync_points",
)


async def seed_connectors(db: Database, settings: Settings, base_port: int) -> list[str]:
    """Create each demo instance that does not exist yet; return the names created."""
    keyring = Keyring.from_settings(settings)
    created: list[str] = []
    async with db.job(system=True) as session:
        tenant = (
            await session.execute(select(Tenant).where(Tenant.slug == DEMO_SLUG))
        ).scalar_one()
        scope_session(session, tenant.id)
        principal = Principal(
            kind="system", id=tenant.id, tenant_id=tenant.id, tenant_slug=tenant.slug,
            label="demo seed", permissions=frozenset({WILDCARD}),
        )
        existing = set(
            (await session.execute(select(ConnectorInstance.name))).scalars().all()
        )
        service = InstanceService(session, principal, keyring)
        for entry in demo_instances(base_port, data_dir=settings.data_dir):
            if entry["name"] in existing:
                continue
            spec_text = Path(entry["spec_path"]).read_text(encoding="utf-8")  # noqa: ASYNC240 - once, at seed time
            await service.create(
                InstanceIn(
                    name=entry["name"], title=entry["title"], spec=spec_text,
                    config=entry["config"], allow_network=entry["allow_network"],
                    sandbox=entry["sandbox"], enabled=entry["enabled"],
                )
            )
            created.append(entry["name"])
        if created:
            await _grant_agents(session, await action_permissions(session))
    return created


async def _grant_agents(session: AsyncSession, permissions: dict[str, str]) -> None:
    """Supervisors may run every demo action except the finance system's, which stays with
    holders of an explicit finance grant (least privilege, as the seeds ask); agents also
    leave points adjustments to supervisors."""
    for role in (await session.execute(select(Role).where(Role.name.in_(GRANTEES)))).scalars():
        closed = (FINANCE,) if role.name == "supervisor" else (FINANCE, *SUPERVISOR_ONLY)
        grant = [p for p in permissions if not p.startswith(closed)]
        role.permissions = sorted({*role.permissions, *grant})
    await session.flush()
