"""The demo organisation's priority rule (relaydesk.demo.routing): seeded once, valid, and a
CRM diamond member's conversation goes to VIP 专席 as urgent."""

from __future__ import annotations

import uuid

import httpx
from conftest import login, make_org, settle
from conversations.conversations_support import customer_says, make_inbox
from fastapi import FastAPI
from priority_support import API, VIP, Crm, bind, connect_crm, crm, state
from sqlalchemy import select

from relaydesk.demo.routing import DEMO_RULE, VIP_TEAM, seed_priority_routing
from relaydesk.kit.db import Database
from relaydesk.tenancy.models import Team, TeamMember

__all__ = ["crm"]  # the module-scoped demo CRM fixture


async def test_demo_priority_rule(
    client: httpx.AsyncClient, app: FastAPI, db: Database, crm: Crm
) -> None:
    bind(app, db)
    org = await make_org(db, "demo", roles=("owner", "supervisor", "agent"))
    owner = await login(client, org, "owner")
    assert await seed_priority_routing(db) == []  # no CRM connected yet: nothing to do
    await connect_crm(client, owner, crm.url)
    assert len(await seed_priority_routing(db)) == 2
    assert await seed_priority_routing(db) == []  # idempotent
    rules = (await client.get(f"{API}/routing/priority-rules", headers=owner)).json()
    assert [(r["name"], r["priority"], r["skills"]) for r in rules] == [
        (DEMO_RULE["name"], "urgent", ["vip"])
    ]
    async with db.job(org.id) as session:
        team = await session.scalar(select(Team).where(Team.name == VIP_TEAM))
        assert team is not None and str(team.id) == rules[0]["team_id"]
        members = set(await session.scalars(
            select(TeamMember.user_id).where(TeamMember.team_id == team.id)))  # fmt: skip
    assert members == {org.users["agent"], org.users["supervisor"]}

    r = await client.post(f"{API}/customers", headers=owner,
                          json={"name": "李娜", "phone": VIP["李娜"]})  # fmt: skip
    assert r.status_code == 201, r.text
    inbox = await make_inbox(db, org)
    conversation, _, _ = await customer_says(db, org, inbox, uuid.UUID(r.json()["id"]), "在吗")
    await settle(db)
    c = await state(db, org, conversation)
    assert (c.priority, c.team_id, "vip" in c.tags) == ("urgent", team.id, True)
