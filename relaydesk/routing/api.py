"""``/api/v1/routing``: my presence, queues and agent load, team routing settings; priority
rules and routing decisions (:mod:`relaydesk.routing.rules_api`)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends
from sqlalchemy import func, select

from relaydesk.auth.deps import Require
from relaydesk.auth.principal import Principal
from relaydesk.conversations.models import Conversation
from relaydesk.errors import Forbidden, NotFound
from relaydesk.jobs import enqueue
from relaydesk.kit.db import DbSession
from relaydesk.kit.schemas import COMMON_ERRORS
from relaydesk.realtime.hub import get_hub
from relaydesk.routing import online, service
from relaydesk.routing.models import AgentPresence, TeamRouting
from relaydesk.routing.rules_api import router as rules_router
from relaydesk.routing.schemas import (
    AgentLoadOut,
    PresenceIn,
    PresenceOut,
    QueueOut,
    TeamRoutingIn,
    TeamRoutingOut,
)
from relaydesk.tenancy.models import Team

router = APIRouter(prefix="/routing", tags=["routing"])

Agent = Annotated[Principal, Depends(Require("conversations.write"))]
Supervisor = Annotated[Principal, Depends(Require("conversations.read", "users.read"))]
Manager = Annotated[Principal, Depends(Require("teams.manage"))]


def _clean_skills(skills: list[str]) -> list[str]:
    return sorted({s.strip().lower() for s in skills if s.strip()})


async def _presence(session: DbSession, principal: Principal) -> AgentPresence:
    if principal.user_id is None:
        raise Forbidden("presence belongs to users: sign in as a user, not with an API key")
    row = await session.scalar(
        select(AgentPresence).where(AgentPresence.user_id == principal.user_id)
    )
    if row is None:
        row = AgentPresence(tenant_id=principal.tenant_id, user_id=principal.user_id)
        session.add(row)
    return row


@router.get("/presence/me", response_model=PresenceOut, responses=COMMON_ERRORS)
async def my_presence(principal: Agent, session: DbSession) -> PresenceOut:
    row = await _presence(session, principal)
    return PresenceOut(user_id=row.user_id, status=row.status or "offline",
                       capacity=row.capacity or 5, skills=list(row.skills or []))  # fmt: skip


@router.put("/presence/me", response_model=PresenceOut, responses=COMMON_ERRORS)
async def set_presence(body: PresenceIn, principal: Agent, session: DbSession) -> PresenceOut:
    """Go online, busy, away or offline; online agents below capacity get conversations."""
    row = await _presence(session, principal)
    row.status = body.status
    if body.capacity is not None:
        row.capacity = body.capacity
    elif row.capacity is None:
        row.capacity = 5
    if body.skills is not None:
        row.skills = _clean_skills(body.skills)
    await session.flush()
    online.forget(principal.tenant_id)
    if body.status == "online":
        await enqueue(session, "routing.drain", {}, tenant_id=principal.tenant_id)
    await get_hub().signal({
        "type": "event", "id": None, "tenant_id": str(principal.tenant_id),
        "event_type": "presence.changed",
        "payload": {"user_id": str(row.user_id), "status": row.status},
    })  # fmt: skip
    return PresenceOut(user_id=row.user_id, status=row.status, capacity=row.capacity,
                       skills=list(row.skills or []))  # fmt: skip


@router.get("/queues", response_model=list[QueueOut], responses=COMMON_ERRORS)
async def queues(principal: Supervisor, session: DbSession) -> list[QueueOut]:
    """Every team: waiting conversations, its agents' presence and load (the supervisor view)."""
    counts = await session.execute(
        select(Conversation.team_id, func.count())
        .where(Conversation.assignee_id.is_(None), Conversation.status.in_(service.ACTIVE))
        .group_by(Conversation.team_id)
    )
    waiting = {team_id: int(n) for team_id, n in counts.all()}
    settings = {r.team_id: r for r in await session.scalars(select(TeamRouting))}
    out = []
    for team in await session.scalars(select(Team).order_by(Team.name)):
        agents = await service.loads(session, team.id)
        setting = settings.get(team.id)
        out.append(QueueOut(
            team_id=team.id, team_name=team.name,
            mode=setting.mode if setting else "round_robin",
            auto_assign=setting.auto_assign if setting else True,
            skills=list(setting.skills or []) if setting else [],
            waiting=int(waiting.get(team.id, 0)),
            agents_online=sum(a.status == "online" for a in agents),
            agents=[AgentLoadOut(**a.__dict__) for a in agents],
        ))  # fmt: skip
    return out


@router.put("/teams/{team_id}", response_model=TeamRoutingOut, responses=COMMON_ERRORS)
async def set_team_routing(
    team_id: uuid.UUID, body: TeamRoutingIn, principal: Manager, session: DbSession
) -> TeamRoutingOut:
    if await session.get(Team, team_id) is None:
        raise NotFound(f"team {team_id} not found")
    row = await service.team_settings(session, team_id)
    if row is None:
        row = TeamRouting(tenant_id=principal.tenant_id, team_id=team_id)
        session.add(row)
    row.mode, row.auto_assign, row.skills = body.mode, body.auto_assign, _clean_skills(body.skills)
    await session.flush()
    await enqueue(session, "routing.drain", {"team_id": str(team_id)},
                  tenant_id=principal.tenant_id)  # fmt: skip
    return TeamRoutingOut(team_id=team_id, mode=row.mode, auto_assign=row.auto_assign,
                          skills=row.skills)  # fmt: skip


router.include_router(rules_router)
