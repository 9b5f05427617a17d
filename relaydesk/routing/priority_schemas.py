"""Priority rules and routing decisions (``/api/v1/routing/priority-rules``, ``.../decision``)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import Field

from relaydesk.integrations.spec_models.base import JmesPath
from relaydesk.kit.schemas import RequestModel, ResponseModel

__all__ = ["PriorityRuleIn", "PriorityRuleOut", "RoutingCheckOut", "RoutingDecisionOut"]

ConversationPriority = Literal["low", "normal", "high", "urgent"]


class PriorityRuleIn(RequestModel):
    """A rule: look the customer up with a connector's read action; when ``condition`` holds
    for the answer, set the conversation's priority, team and/or skills."""

    name: str = Field(min_length=1, max_length=100)
    instance: str = Field(
        min_length=1, max_length=100, description="Connector instance: its name or id"
    )
    action: str = Field(min_length=1, max_length=100, description="A read action of it")
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="Parameter -> literal or {{ customer.* }} template, e.g. "
        '{"mobile": "{{ customer.phone_national }}"}',
    )
    condition: JmesPath = Field(
        max_length=1000,
        description="JMESPath over {result, customer}; a truthy value is a match, e.g. "
        "\"contains(['gold', 'diamond'], result[0].tier)\"",
    )
    priority: ConversationPriority | None = Field(None, description="Priority on a match")
    team_id: uuid.UUID | None = Field(None, description="Team the conversation moves to")
    skills: list[str] = Field(
        default_factory=list, max_length=20,
        description="Added to the conversation's tags: agents of the team need them",
    )  # fmt: skip
    timeout_seconds: float = Field(2.0, ge=0.2, le=10, description="Longest wait for the lookup")
    position: int = Field(0, ge=0, le=10_000, description="Rules are tried in this order")
    enabled: bool = True


class PriorityRuleOut(ResponseModel):
    id: uuid.UUID
    name: str
    position: int
    enabled: bool
    instance: str
    instance_id: uuid.UUID
    action: str
    params: dict[str, Any]
    condition: str
    priority: str | None
    team_id: uuid.UUID | None
    skills: list[str]
    timeout_seconds: float
    #: the rule's service identity: the one permission its lookup runs with
    permission: str
    created_at: dt.datetime
    updated_at: dt.datetime


class RoutingCheckOut(ResponseModel):
    rule_id: uuid.UUID | None
    rule: str
    #: matched | no_match | failed | not_applicable | skipped
    result: str
    reason: str
    #: the connector call log entry (and its ``connector.action_called`` audit row)
    call_id: uuid.UUID | None = None


class RoutingDecisionOut(ResponseModel):
    conversation_id: uuid.UUID
    #: matched | no_match | failed
    outcome: str
    reason: str
    rule_id: uuid.UUID | None
    priority: str | None
    team_id: uuid.UUID | None
    skills: list[str]
    checks: list[RoutingCheckOut]
    latency_ms: float
    created_at: dt.datetime
