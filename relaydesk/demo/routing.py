"""The demo organisation's priority routing: CRM gold and diamond members go to VIP 专席.

``await seed_priority_routing(db)`` after ``seed_connectors`` (it needs the ``crm`` instance):
creates the team VIP 专席 (the after-sales agent and supervisor) and the rule
``DEMO_RULE`` — the CRM's contact by the customer's mobile number; member tier 金卡 (gold)
or 钻石 (diamond) → priority urgent, team VIP 专席, tag ``vip`` — through the same validation
as ``POST /api/v1/routing/priority-rules``. Idempotent: what exists is left alone. Returns
what it created.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from relaydesk.auth.models import User
from relaydesk.auth.permissions import WILDCARD
from relaydesk.auth.principal import Principal
from relaydesk.integrations.models import ConnectorInstance
from relaydesk.kit.db import Database, scope_session
from relaydesk.routing.priority_rules import PriorityRuleService
from relaydesk.routing.priority_schemas import PriorityRuleIn
from relaydesk.tenancy.models import Department, Team, TeamMember, Tenant

__all__ = ["DEMO_RULE", "VIP_TEAM", "seed_priority_routing"]

DEMO_SLUG = "demo"
VIP_TEAM = "VIP 专席"
#: the demo logins who staff it (e-mail local parts, see relaydesk.demo.seed.DEMO_LOGINS)
VIP_STAFF = ("agent", "supervisor")
AFTER_SALES = "售后服务部"

#: the body of ``POST /api/v1/routing/priority-rules`` (``team_id`` is filled in)
DEMO_RULE: dict[str, Any] = {
    "name": "CRM 金卡/钻石会员 → VIP 专席",
    "instance": "crm",
    "action": "find_contact_by_mobile",
    "params": {"mobile": "{{ customer.phone_national }}"},
    "condition": "contains(['gold', 'diamond'], result[0].tier)",
    "priority": "urgent",
    "skills": ["vip"],
    "timeout_seconds": 2,
}


async def seed_priority_routing(db: Database) -> list[str]:
    created: list[str] = []
    async with db.job(system=True) as session:
        tenant = (
            await session.execute(select(Tenant).where(Tenant.slug == DEMO_SLUG))
        ).scalar_one()
        scope_session(session, tenant.id)
        if await session.scalar(select(ConnectorInstance.id).where(
                ConnectorInstance.name == DEMO_RULE["instance"])) is None:  # fmt: skip
            return created  # no CRM connected: nothing to look members up in
        team = await session.scalar(select(Team).where(Team.name == VIP_TEAM))
        if team is None:
            department = await session.scalar(
                select(Department.id).where(Department.name == AFTER_SALES)
            )
            team = Team(tenant_id=tenant.id, name=VIP_TEAM, department_id=department,
                        description="CRM gold and diamond members, ahead of the queue")  # fmt: skip
            session.add(team)
            await session.flush()
            for user in await session.scalars(select(User)):  # the organisation's users
                if user.email.split("@", 1)[0] in VIP_STAFF:
                    session.add(TeamMember(tenant_id=tenant.id, team_id=team.id,
                                           user_id=user.id))  # fmt: skip
            created.append(f"team {VIP_TEAM}")
        principal = Principal(
            kind="system", id=tenant.id, tenant_id=tenant.id, tenant_slug=tenant.slug,
            label="demo seed", permissions=frozenset({WILDCARD}),
        )  # fmt: skip
        rules = PriorityRuleService(session, principal)
        if not any(rule.name == DEMO_RULE["name"] for rule in await rules.ordered()):
            await rules.create(PriorityRuleIn.model_validate({**DEMO_RULE, "team_id": team.id}))
            created.append(f"priority rule {DEMO_RULE['name']}")
    return created
