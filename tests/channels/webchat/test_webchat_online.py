"""Whether the widget shows the chat as online: an active agent of the inbox's team is online."""

from __future__ import annotations

import uuid

import httpx
from conftest import Org, login
from fastapi import FastAPI
from sqlalchemy import update
from webchat_support import go_online, make_web_inbox, wapp, wclient

from relaydesk.auth.models import User
from relaydesk.conversations.models import Inbox
from relaydesk.kit.db import Database
from relaydesk.tenancy.models import Team, TeamMember

__all__ = ["wapp", "wclient"]


async def _online(client: httpx.AsyncClient, inbox: uuid.UUID) -> bool:
    r = await client.get(f"/widget/api/{inbox}/config")
    assert r.status_code == 200, r.text
    return bool(r.json()["online"])


async def test_only_an_active_online_agent_of_the_inboxs_team_makes_the_chat_online(
    wapp: FastAPI, wclient: httpx.AsyncClient, db: Database, org_a: Org, org_b: Org
) -> None:
    team_inbox = await make_web_inbox(db, org_a, wapp)
    any_inbox = await make_web_inbox(db, org_a, wapp)
    async with db.job(org_a.id) as session:
        team = Team(tenant_id=org_a.id, name="售后组")
        session.add(team)
        await session.flush()
        team_id = team.id
        await session.execute(update(Inbox).where(Inbox.id == team_inbox).values(team_id=team_id))
    assert not await _online(wclient, team_inbox) and not await _online(wclient, any_inbox)

    # another tenant's online agent counts for nobody here
    await go_online(wclient, await login(wclient, org_b, "agent"))
    assert not await _online(wclient, any_inbox)

    # an online agent outside the team: the team-less inbox is online, the team's is not
    await go_online(wclient, await login(wclient, org_a, "agent"))
    assert await _online(wclient, any_inbox)
    assert not await _online(wclient, team_inbox)

    async with db.job(org_a.id) as session:
        session.add(TeamMember(tenant_id=org_a.id, team_id=team_id, user_id=org_a.users["agent"]))
    assert await _online(wclient, team_inbox)

    # a deactivated agent no longer counts, even with their presence still "online"
    async with db.job(org_a.id) as session:
        await session.execute(
            update(User).where(User.id == org_a.users["agent"]).values(is_active=False)
        )
    assert not await _online(wclient, team_inbox) and not await _online(wclient, any_inbox)
