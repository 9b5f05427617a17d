"""The demo organisation's connector instances to the demo enterprise systems.

Two of the systems call back: the ticket system (``ticket_status_changed``) and the order
system (``order_status``: paid, shipped, delivered). Their instances are configured with the
callback secrets, and :func:`callback_urls` says where each system must send its callbacks
(``relaydesk demo`` hands them to the systems it starts).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.auth.models import Role
from relaydesk.auth.permissions import WILDCARD
from relaydesk.auth.principal import Principal
from relaydesk.config import Settings
from relaydesk.connectors.demo_instances import demo_instances
from relaydesk.demo_systems.orders_callbacks import ORDERS_CALLBACK_SECRET
from relaydesk.integrations.instances import InstanceService, action_permissions
from relaydesk.integrations.models import ConnectorInstance
from relaydesk.integrations.schemas import InstanceIn, InstancePatch
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
#: demo system -> the callback of its connector that it calls
CALLBACKS = {"tickets": "ticket_status_changed", "orders": "order_status"}
#: config the demo instances need beyond ``demo_config``: the order system's push secret
EXTRA_CONFIG: dict[str, dict[str, str]] = {"orders": {"callback_secret": ORDERS_CALLBACK_SECRET}}


def callback_urls(host: str, port: int) -> dict[str, str]:
    """Where each demo system sends its callbacks when Relaydesk listens on ``host:port``."""
    return {
        system: f"http://{host}:{port}/hooks/{DEMO_SLUG}/{system}/{callback}"
        for system, callback in CALLBACKS.items()
    }


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
        existing = {
            instance.name: instance
            for instance in (await session.execute(select(ConnectorInstance))).scalars()
        }
        service = InstanceService(session, principal, keyring)
        for entry in demo_instances(base_port, data_dir=settings.data_dir):
            spec_text = Path(entry["spec_path"]).read_text(encoding="utf-8")  # noqa: ASYNC240 - once, at seed time
            extra = EXTRA_CONFIG.get(entry["name"], {})
            found = existing.get(entry["name"])
            if found is not None:
                await _add_callback(service, found, spec_text, extra)
                continue
            await service.create(
                InstanceIn(
                    name=entry["name"], title=entry["title"], spec=spec_text,
                    config={**entry["config"], **extra}, allow_network=entry["allow_network"],
                    sandbox=entry["sandbox"], enabled=entry["enabled"],
                )
            )
            created.append(entry["name"])
        if created:
            await _grant_agents(session, await action_permissions(session))
    return created


async def _add_callback(
    service: InstanceService, instance: ConnectorInstance, spec_text: str, extra: dict[str, str]
) -> None:
    """A demo seeded before its system called back: give it the callback and its secret."""
    callback = CALLBACKS.get(instance.name)
    if callback is None or not extra or callback in (instance.spec.get("callbacks") or {}):
        return
    _, _, config = await service.load(instance.id)
    await service.update(instance.id, InstancePatch(spec=spec_text, config={**config, **extra}))


async def _grant_agents(session: AsyncSession, permissions: dict[str, str]) -> None:
    """Supervisors may run every demo action except the finance system's, which stays with
    holders of an explicit finance grant (least privilege, as the seeds ask); agents also
    leave points adjustments to supervisors."""
    for role in (await session.execute(select(Role).where(Role.name.in_(GRANTEES)))).scalars():
        closed = (FINANCE,) if role.name == "supervisor" else (FINANCE, *SUPERVISOR_ONLY)
        grant = [p for p in permissions if not p.startswith(closed)]
        role.permissions = sorted({*role.permissions, *grant})
    await session.flush()
