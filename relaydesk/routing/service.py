"""Choosing an agent, keeping queues moving, and presence.

A new conversation (``conversation.created``) enqueues a ``routing.assign`` job; the job
picks an online agent of the conversation's team who holds the skills its tags require and
is below capacity: round robin (longest since their last assignment) or least busy (fewest
open conversations, then round robin). With nobody free the conversation waits in the team's
queue (unassigned); an agent coming online, or a conversation being resolved or handed on,
enqueues ``routing.drain``, which assigns waiting conversations by priority, then age.

While a tenant has priority rules (:mod:`relaydesk.routing.priority`), a new conversation is
the ``routing.assign`` job's until its rules decided (a :class:`RoutingDecision`): while that
job is still queued or running, drain leaves it alone, so an agent coming online cannot take
a VIP into the normal queue before the CRM answered. After ``UNDECIDED_GRACE`` drain takes it
anyway (the job could not run). One whose job ran without deciding (the conversation was
assigned or closed then, and put back in the queue since) is drained at once.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.audit.service import Actor
from relaydesk.auth.models import User
from relaydesk.conversations.models import Conversation
from relaydesk.conversations.schemas import AssignIn
from relaydesk.conversations.service import ConversationService
from relaydesk.jobs.models import Job
from relaydesk.kit.db import utcnow
from relaydesk.routing.models import AgentPresence, PriorityRule, RoutingDecision, TeamRouting
from relaydesk.tenancy.models import TeamMember

ROUTER = Actor("system", "routing", "routing")
ACTIVE = ("open", "pending")
PRIORITY_ORDER = {"urgent": 0, "high": 1, "normal": 2, "low": 3}
#: how long drain leaves a new conversation to its priority rules
UNDECIDED_GRACE = dt.timedelta(seconds=60)


@dataclass(frozen=True)
class AgentLoad:
    user_id: uuid.UUID
    display_name: str
    status: str
    capacity: int
    skills: list[str]
    open_conversations: int


async def team_settings(session: AsyncSession, team_id: uuid.UUID) -> TeamRouting | None:
    return await session.scalar(select(TeamRouting).where(TeamRouting.team_id == team_id))


async def loads(session: AsyncSession, team_id: uuid.UUID | None = None) -> list[AgentLoad]:
    """Every agent with presence (of one team, if given) and their open conversations."""
    open_count = (
        select(Conversation.assignee_id, func.count().label("n"))
        .where(Conversation.status.in_(ACTIVE), Conversation.assignee_id.is_not(None))
        .group_by(Conversation.assignee_id)
        .subquery()
    )
    stmt = (
        select(AgentPresence, User.display_name, func.coalesce(open_count.c.n, 0))
        .join(User, User.id == AgentPresence.user_id)
        .outerjoin(open_count, open_count.c.assignee_id == AgentPresence.user_id)
        .where(User.is_active.is_(True))
    )
    if team_id is not None:
        stmt = stmt.join(TeamMember, TeamMember.user_id == AgentPresence.user_id).where(
            TeamMember.team_id == team_id
        )
    rows = (await session.execute(stmt.order_by(User.display_name))).all()
    return [
        AgentLoad(p.user_id, name, p.status, p.capacity, list(p.skills or []), int(n))
        for p, name, n in rows
    ]


async def choose_agent(session: AsyncSession, conversation: Conversation) -> uuid.UUID | None:
    """The agent who should take ``conversation`` now, or None (it waits in the queue)."""
    if conversation.team_id is None:
        return None
    settings = await team_settings(session, conversation.team_id)
    if settings is not None and not settings.auto_assign:
        return None
    mode = settings.mode if settings is not None else "round_robin"
    known = set(settings.skills if settings is not None else ())
    needed = known & set(conversation.tags or ())
    candidates = [
        agent for agent in await loads(session, conversation.team_id)
        if agent.status == "online" and agent.open_conversations < agent.capacity
        and needed <= set(agent.skills)
    ]  # fmt: skip
    if not candidates:
        return None
    last = {
        p.user_id: p.last_assigned_at
        for p in await session.scalars(
            select(AgentPresence).where(AgentPresence.user_id.in_([c.user_id for c in candidates]))
        )
    }
    epoch = utcnow().replace(year=1970)

    def round_robin(agent: AgentLoad) -> tuple[object, ...]:
        return (last.get(agent.user_id) or epoch, str(agent.user_id))

    if mode == "least_busy":
        chosen = min(candidates, key=lambda a: (a.open_conversations, *round_robin(a)))
    else:
        chosen = min(candidates, key=round_robin)
    return chosen.user_id


async def assign(session: AsyncSession, conversation: Conversation) -> uuid.UUID | None:
    """Assign ``conversation`` if it is open, unassigned and someone is free."""
    if conversation.assignee_id is not None or conversation.status not in ACTIVE:
        return None
    agent = await choose_agent(session, conversation)
    if agent is None:
        return None
    presence = await session.scalar(select(AgentPresence).where(AgentPresence.user_id == agent))
    if presence is not None:
        presence.last_assigned_at = utcnow()
    await ConversationService(session, ROUTER).assign(conversation.id, AssignIn(assignee_id=agent))
    return agent


async def waiting(
    session: AsyncSession, team_id: uuid.UUID | None = None, limit: int = 200
) -> Sequence[Conversation]:
    """Unassigned open conversations of a team (or all teams), most urgent then oldest first;
    without those a ``routing.assign`` job is still to decide (:func:`_left_to_rules`)."""
    stmt = select(Conversation).where(
        Conversation.assignee_id.is_(None), Conversation.status.in_(ACTIVE),
        Conversation.team_id.is_not(None),
    )  # fmt: skip
    if team_id is not None:
        stmt = stmt.where(Conversation.team_id == team_id)
    rules = select(PriorityRule.id).where(PriorityRule.enabled.is_(True)).limit(1)
    if await session.scalar(rules) is not None:
        held = await _left_to_rules(session, stmt)
        if held:
            stmt = stmt.where(Conversation.id.not_in(held))
    # most urgent first in SQL too: an urgent one behind ``limit`` older ones is still served
    rank = case(PRIORITY_ORDER, value=Conversation.priority, else_=len(PRIORITY_ORDER))
    return list(await session.scalars(stmt.order_by(rank, Conversation.id).limit(limit)))


def assign_key(conversation_id: uuid.UUID | str) -> str:
    """The ``dedupe_key`` of a conversation's ``routing.assign`` job."""
    return f"routing.assign:{conversation_id}"


async def _left_to_rules(session: AsyncSession, waiting_stmt: Select[Any]) -> list[uuid.UUID]:
    """The waiting conversations younger than ``UNDECIDED_GRACE``, not decided yet, whose
    ``routing.assign`` job is still queued or running: their rules have yet to decide."""
    decided = select(RoutingDecision.id).where(RoutingDecision.conversation_id == Conversation.id)
    young = waiting_stmt.with_only_columns(Conversation.id).where(
        Conversation.created_at >= utcnow() - UNDECIDED_GRACE, ~decided.exists()
    )  # fmt: skip
    keys = {assign_key(found): found for found in await session.scalars(young)}
    if not keys:
        return []
    pending = await session.scalars(select(Job.dedupe_key).where(
        Job.dedupe_key.in_(list(keys)), Job.status.in_(("pending", "running"))))  # fmt: skip
    return [keys[key] for key in pending if key is not None]


async def drain(session: AsyncSession, team_id: uuid.UUID | None = None) -> int:
    """Assign waiting conversations while agents have room; returns how many were assigned."""
    assigned = 0
    for conversation in await waiting(session, team_id):
        if await assign(session, conversation) is not None:
            assigned += 1
    return assigned
