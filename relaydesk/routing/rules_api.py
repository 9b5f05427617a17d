"""``/api/v1/routing/priority-rules`` and a conversation's routing decision.

Included by :mod:`relaydesk.routing.api` (under its ``/routing`` prefix).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from sqlalchemy import select

from relaydesk.auth.deps import Require
from relaydesk.auth.principal import Principal
from relaydesk.conversations.models import Conversation
from relaydesk.errors import NotFound
from relaydesk.kit.db import DbSession
from relaydesk.kit.schemas import COMMON_ERRORS, error_responses
from relaydesk.routing.models import RoutingDecision
from relaydesk.routing.priority_rules import PriorityRuleService
from relaydesk.routing.priority_schemas import (
    PriorityRuleIn,
    PriorityRuleOut,
    RoutingCheckOut,
    RoutingDecisionOut,
)

router = APIRouter(tags=["routing"])

Manager = Annotated[Principal, Depends(Require("teams.manage"))]
Reader = Annotated[Principal, Depends(Require("conversations.read"))]
WRITE_ERRORS = {**COMMON_ERRORS, **error_responses(409)}


@router.get("/priority-rules", response_model=list[PriorityRuleOut], responses=COMMON_ERRORS)
async def list_priority_rules(principal: Manager, session: DbSession) -> list[PriorityRuleOut]:
    """The organisation's priority rules, in the order they are tried."""
    rules = PriorityRuleService(session, principal)
    return await rules.out(await rules.ordered())


@router.post("/priority-rules", response_model=PriorityRuleOut, status_code=201,
             responses=WRITE_ERRORS)  # fmt: skip
async def create_priority_rule(
    body: PriorityRuleIn, principal: Manager, session: DbSession
) -> PriorityRuleOut:
    """A rule: a connector lookup and a condition on its answer; a match sets the new
    conversation's priority, team and skills before it is assigned."""
    rules = PriorityRuleService(session, principal)
    return (await rules.out([await rules.create(body)]))[0]


@router.get("/priority-rules/{priority_rule_id}", response_model=PriorityRuleOut,
            responses=COMMON_ERRORS)  # fmt: skip
async def get_priority_rule(
    priority_rule_id: uuid.UUID, principal: Manager, session: DbSession
) -> PriorityRuleOut:
    rules = PriorityRuleService(session, principal)
    return (await rules.out([await rules.get(priority_rule_id)]))[0]


@router.put("/priority-rules/{priority_rule_id}", response_model=PriorityRuleOut,
            responses=WRITE_ERRORS)  # fmt: skip
async def replace_priority_rule(
    priority_rule_id: uuid.UUID, body: PriorityRuleIn, principal: Manager, session: DbSession
) -> PriorityRuleOut:
    rules = PriorityRuleService(session, principal)
    return (await rules.out([await rules.replace(priority_rule_id, body)]))[0]


@router.delete("/priority-rules/{priority_rule_id}", status_code=204, response_class=Response,
               responses=COMMON_ERRORS)  # fmt: skip
async def delete_priority_rule(
    priority_rule_id: uuid.UUID, principal: Manager, session: DbSession
) -> Response:
    await PriorityRuleService(session, principal).delete(priority_rule_id)
    return Response(status_code=204)


@router.get("/conversations/{conversation_id}/decision", response_model=RoutingDecisionOut,
            responses=COMMON_ERRORS)  # fmt: skip
async def routing_decision(
    conversation_id: uuid.UUID, principal: Reader, session: DbSession
) -> RoutingDecisionOut:
    """Why the conversation got its priority and team: the rules tried, each lookup's result
    (and call id), or why the systems could not say (normal routing)."""
    # the conversation first: hidden by tenant and department like everywhere else
    conversation = await session.get(Conversation, conversation_id)
    if conversation is None:
        raise NotFound(f"conversation {conversation_id} not found")
    row = await session.scalar(
        select(RoutingDecision).where(RoutingDecision.conversation_id == conversation.id)
    )
    if row is None:
        raise NotFound("no priority rule was evaluated for this conversation")
    return RoutingDecisionOut(
        conversation_id=row.conversation_id, outcome=row.outcome, reason=row.reason,
        rule_id=row.rule_id, priority=row.priority, team_id=row.team_id,
        skills=list(row.skills or []),
        checks=[RoutingCheckOut.model_validate(c) for c in row.checks or []],
        latency_ms=row.latency_ms, created_at=row.created_at,
    )  # fmt: skip
