"""Routing: round robin and least busy among online agents, capacity, skills, queues, drain."""

from __future__ import annotations

import uuid

import httpx
import pytest
from conftest import Org, login, make_org
from conversations.conversations_support import customer_says, make_customer, make_inbox
from sqlalchemy import select

from relaydesk.conversations.models import Conversation
from relaydesk.events.models import OutboxEvent
from relaydesk.events.outbox import to_envelope
from relaydesk.jobs import JobRunner
from relaydesk.kit.db import Database
from relaydesk.routing.models import AgentPresence, TeamRouting
from relaydesk.routing.tasks import ROUTING
from relaydesk.tenancy.models import Team, TeamMember

API = "/api/v1"


async def settle(db: Database, org: Org) -> None:
    """Run what the bus and the workers would: routing sees every event once, jobs run."""
    seen: set[uuid.UUID] = set()
    for _ in range(10):
        async with db.job(org.id) as session:
            rows = [r for r in await session.scalars(select(OutboxEvent).order_by(OutboxEvent.id))
                    if r.id not in seen]  # fmt: skip
            for row in rows:
                seen.add(row.id)
                if ROUTING.wants(row.type):
                    await ROUTING.handle(session, to_envelope(row))
        ran = await JobRunner(db).run_once(50)
        if not rows and not ran:
            return


async def team_with_agents(
    db: Database, org: Org, agents: dict[str, dict[str, object]], mode: str = "round_robin",
    skills: tuple[str, ...] = (),
) -> tuple[uuid.UUID, dict[str, uuid.UUID]]:  # fmt: skip
    """A team, its routing settings and agents (name → presence fields)."""
    async with db.job(org.id) as session:
        team = Team(tenant_id=org.id, name=f"售后一组-{uuid.uuid4().hex[:4]}")
        session.add(team)
        await session.flush()
        session.add(TeamRouting(tenant_id=org.id, team_id=team.id, mode=mode,
                                auto_assign=True, skills=list(skills)))  # fmt: skip
        ids = {}
        for name, fields in agents.items():
            user_id = org.users[name]
            ids[name] = user_id
            session.add(TeamMember(tenant_id=org.id, team_id=team.id, user_id=user_id))
            session.add(AgentPresence(tenant_id=org.id, user_id=user_id, **fields))
        return team.id, ids


async def new_conversation(db: Database, org: Org, inbox: uuid.UUID, name: str,
                           tags: list[str] | None = None) -> uuid.UUID:  # fmt: skip
    conversation, _, _ = await customer_says(
        db, org, inbox, await make_customer(db, org, name), "在吗"
    )
    if tags:
        async with db.job(org.id) as session:
            (await session.get(Conversation, conversation)).tags = tags  # type: ignore[union-attr]
    return conversation


async def assignee(db: Database, org: Org, conversation: uuid.UUID) -> uuid.UUID | None:
    async with db.job(org.id) as session:
        return (await session.get(Conversation, conversation)).assignee_id  # type: ignore[union-attr]


@pytest.fixture
async def org(db: Database) -> Org:
    return await make_org(db, "routing", roles=("owner", "supervisor", "agent", "admin"))


async def test_round_robin_alternates_and_capacity_makes_a_queue(db: Database, org: Org) -> None:
    team, ids = await team_with_agents(db, org, {
        "agent": {"status": "online", "capacity": 1},
        "supervisor": {"status": "online", "capacity": 1},
        "admin": {"status": "offline", "capacity": 9},
    })  # fmt: skip
    inbox = await make_inbox(db, org, team_id=team)
    first = await new_conversation(db, org, inbox, "甲")
    await settle(db, org)
    second = await new_conversation(db, org, inbox, "乙")
    await settle(db, org)
    third = await new_conversation(db, org, inbox, "丙")
    await settle(db, org)
    got = [await assignee(db, org, c) for c in (first, second, third)]
    assert set(got[:2]) == {ids["agent"], ids["supervisor"]}  # one each
    assert got[2] is None  # both full, the offline admin never gets one: it waits
    async with db.job(org.id) as session:  # the first is resolved: room for the waiting one
        done = await session.get(Conversation, first)
        assert done is not None
        from relaydesk.conversations.schemas import ConversationPatch
        from relaydesk.conversations.service import ConversationService
        from relaydesk.routing.service import ROUTER

        await ConversationService(session, ROUTER).update(
            first, ConversationPatch(status="resolved")
        )
    await settle(db, org)
    assert await assignee(db, org, third) == got[0]


async def test_least_busy_and_skills(db: Database, org: Org) -> None:
    team, ids = await team_with_agents(db, org, {
        "agent": {"status": "online", "capacity": 5, "skills": []},
        "supervisor": {"status": "online", "capacity": 5, "skills": ["english"]},
    }, mode="least_busy", skills=("english",))  # fmt: skip
    inbox = await make_inbox(db, org, team_id=team)
    english = [await new_conversation(db, org, inbox, f"Tom {n}", ["english"]) for n in range(2)]
    await settle(db, org)
    assert {await assignee(db, org, c) for c in english} == {ids["supervisor"]}
    plain = await new_conversation(db, org, inbox, "张三", ["售后"])
    await settle(db, org)
    assert await assignee(db, org, plain) == ids["agent"]  # least busy: 0 against 2


async def test_going_online_drains_the_queue_in_priority_order(
    client: httpx.AsyncClient, db: Database, org: Org
) -> None:
    team, ids = await team_with_agents(db, org, {"agent": {"status": "offline", "capacity": 1}})
    inbox = await make_inbox(db, org, team_id=team)
    normal = await new_conversation(db, org, inbox, "甲")
    urgent = await new_conversation(db, org, inbox, "乙")
    async with db.job(org.id) as session:
        (await session.get(Conversation, urgent)).priority = "urgent"  # type: ignore[union-attr]
    await settle(db, org)
    agent = await login(client, org, "agent")
    supervisor = await login(client, org, "supervisor")
    queues = (await client.get(f"{API}/routing/queues", headers=supervisor)).json()
    mine = next(q for q in queues if q["team_id"] == str(team))
    assert mine["waiting"] == 2 and mine["agents_online"] == 0
    r = await client.put(f"{API}/routing/presence/me", headers=agent,
                         json={"status": "online", "skills": [" Refunds ", "refunds"]})  # fmt: skip
    assert r.status_code == 200 and r.json()["skills"] == ["refunds"]
    await settle(db, org)
    assert await assignee(db, org, urgent) == ids["agent"]  # the urgent one first
    assert await assignee(db, org, normal) is None  # capacity 1
    queues = (await client.get(f"{API}/routing/queues", headers=supervisor)).json()
    mine = next(q for q in queues if q["team_id"] == str(team))
    assert mine["waiting"] == 1 and mine["agents"][0]["open_conversations"] == 1


async def test_routing_settings_validation_and_isolation(
    client: httpx.AsyncClient, db: Database, org: Org, org_b: Org
) -> None:
    owner = await login(client, org, "owner")
    team = (await client.post(f"{API}/teams", headers=owner, json={"name": "VIP"})).json()["id"]
    r = await client.put(f"{API}/routing/teams/{team}", headers=owner,
                         json={"mode": "least_busy", "skills": ["VIP", "vip"]})  # fmt: skip
    assert r.status_code == 200 and r.json()["skills"] == ["vip"]
    queues = (await client.get(f"{API}/routing/queues", headers=owner)).json()
    mine = next(q for q in queues if q["team_id"] == team)
    assert (mine["mode"], mine["skills"]) == ("least_busy", ["vip"])  # what the admin page shows
    bad = await client.put(f"{API}/routing/teams/{team}", headers=owner, json={"mode": "random"})
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["loc"] == ["body", "mode"]
    other = await login(client, org_b, "owner")
    assert (await client.put(f"{API}/routing/teams/{team}", headers=other,
                             json={"mode": "least_busy"})).status_code == 404  # fmt: skip
    agent = await login(client, org, "agent")
    assert (await client.put(f"{API}/routing/teams/{team}", headers=agent,
                             json={})).status_code == 403  # fmt: skip
    assert (await client.put(f"{API}/routing/presence/me", headers=agent,
                             json={"status": "dancing"})).status_code == 422  # fmt: skip
