"""Presence, agent load and team routing settings."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import Field

from relaydesk.kit.schemas import RequestModel, ResponseModel

PresenceStatus = Literal["online", "busy", "away", "offline"]
Skill = str


class PresenceIn(RequestModel):
    status: PresenceStatus
    capacity: int | None = Field(None, ge=0, le=100, description="Most open conversations at once")
    skills: list[str] | None = Field(None, max_length=50)


class PresenceOut(ResponseModel):
    user_id: uuid.UUID
    status: str
    capacity: int
    skills: list[str]


class AgentLoadOut(ResponseModel):
    user_id: uuid.UUID
    display_name: str
    status: str
    capacity: int
    skills: list[str]
    open_conversations: int


class QueueOut(ResponseModel):
    team_id: uuid.UUID
    team_name: str
    mode: str
    auto_assign: bool
    skills: list[str] = Field(description="Skills the team's agents need (PUT /routing/teams/{id})")
    waiting: int
    agents_online: int
    agents: list[AgentLoadOut]


class TeamRoutingIn(RequestModel):
    mode: Literal["round_robin", "least_busy"] = "round_robin"
    auto_assign: bool = True
    skills: list[str] = Field(default_factory=list, max_length=100)


class TeamRoutingOut(ResponseModel):
    team_id: uuid.UUID
    mode: str
    auto_assign: bool
    skills: list[str]
