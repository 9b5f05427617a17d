"""Rule actions of the conversations domain: reply, note, assign, set status/priority/tags.

Each runs inside the unit of work that records the rule step (``transactional``), so it
happens exactly once. ``conversation_id`` defaults to the trigger event's, so a rule on
``message.received`` can reply without naming it. Replies come from the bot (author "bot")
and go out through the channel like an agent's.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from relaydesk.audit.service import Actor
from relaydesk.automation.actions import ActionContext, ActionFailed, ActionType, register_action
from relaydesk.conversations.schemas import (
    MAX_TEXT,
    AssignIn,
    ConversationIn,
    ConversationPatch,
    MessageIn,
)
from relaydesk.conversations.service import ConversationService
from relaydesk.errors import AppError


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")

    conversation_id: uuid.UUID | None = Field(
        None, description="Defaults to the trigger event's conversation_id"
    )


class ReplyParams(_Params):
    text: str = Field(min_length=1, max_length=MAX_TEXT)
    private: bool = Field(False, description="An internal note instead of a reply")


class AssignParams(_Params):
    assignee_id: uuid.UUID | None = None
    team_id: uuid.UUID | None = None
    note: str | None = Field(None, max_length=2_000)


class StartParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    inbox_id: uuid.UUID = Field(description="The inbox (e-mail, SMS, API...) to write from")
    customer_id: uuid.UUID | None = Field(
        None, description="Defaults to the customer the trigger event is about"
    )
    subject: str | None = Field(None, max_length=300)
    text: str = Field(min_length=1, max_length=MAX_TEXT)


class UpdateParams(_Params):
    status: Literal["open", "pending", "resolved"] | None = None
    priority: Literal["low", "normal", "high", "urgent"] | None = None
    add_tags: list[str] = Field(default_factory=list, max_length=20)


def _target(ctx: ActionContext, params: _Params) -> tuple[ConversationService, uuid.UUID]:
    if ctx.session is None:
        raise ActionFailed("conversation actions run inside the step's unit of work")
    raw = params.conversation_id or ctx.trigger.payload.get("conversation_id")
    if raw is None:
        raise ActionFailed("no conversation: the event has no conversation_id; give one")
    actor = Actor("rule", str(ctx.rule_id), ctx.rule_name)
    return ConversationService(ctx.session, actor), uuid.UUID(str(raw))


async def _reply(ctx: ActionContext, params: ReplyParams) -> dict[str, Any]:
    service, conversation_id = _target(ctx, params)
    try:
        message = await service.reply(conversation_id, MessageIn(text=params.text,
                                      private=params.private), author_type="bot")  # fmt: skip
    except AppError as exc:
        raise ActionFailed(exc.message, code=exc.code) from None
    return {"message_id": str(message.id), "status": message.status}


async def _assign(ctx: ActionContext, params: AssignParams) -> dict[str, Any]:
    service, conversation_id = _target(ctx, params)
    fields = params.model_fields_set & {"assignee_id", "team_id", "note"}
    try:
        body = AssignIn(**{name: getattr(params, name) for name in fields})
        conversation = await service.assign(conversation_id, body)
    except AppError as exc:
        raise ActionFailed(exc.message, code=exc.code) from None
    return {"assignee_id": str(conversation.assignee_id) if conversation.assignee_id else None,
            "team_id": str(conversation.team_id) if conversation.team_id else None}  # fmt: skip


async def _update(ctx: ActionContext, params: UpdateParams) -> dict[str, Any]:
    service, conversation_id = _target(ctx, params)
    try:
        current = await service.get(conversation_id)
        change: dict[str, Any] = {}
        if params.status is not None:
            change["status"] = params.status
        if params.priority is not None:
            change["priority"] = params.priority
        if params.add_tags:
            change["tags"] = [*current.tags, *params.add_tags]
        conversation = await service.update(conversation_id, ConversationPatch(**change))
    except AppError as exc:
        raise ActionFailed(exc.message, code=exc.code) from None
    return {"status": conversation.status, "priority": conversation.priority,
            "tags": list(conversation.tags)}  # fmt: skip


async def _start(ctx: ActionContext, params: StartParams) -> dict[str, Any]:
    """Write to the customer through a configured channel: a new outbound conversation."""
    if ctx.session is None:
        raise ActionFailed("conversation actions run inside the step's unit of work")
    customer_id = params.customer_id or ctx.customer_id
    if customer_id is None:
        raise ActionFailed("no customer: the event names none that Relaydesk knows; give one")
    service = ConversationService(ctx.session, Actor("rule", str(ctx.rule_id), ctx.rule_name))
    body = ConversationIn(inbox_id=params.inbox_id, customer_id=customer_id,
                          subject=params.subject, message=MessageIn(text=params.text))  # fmt: skip
    try:
        conversation = await service.start(body, author_type="bot")
    except AppError as exc:
        raise ActionFailed(exc.message, code=exc.code) from None
    return {"conversation_id": str(conversation.id), "channel": conversation.channel}


register_action(ActionType(
    "conversation.start", StartParams, _start,
    "Send the customer a message through an inbox's channel (e-mail, SMS, API...): "
    "a new conversation from the bot",
    permission="conversations.write", transactional=True,
    describe=lambda p: f"message through inbox {p.inbox_id}: {p.text[:80]}",
))  # fmt: skip
register_action(ActionType(
    "conversation.reply", ReplyParams, _reply,
    "Reply to the customer as the bot (or add an internal note) in the conversation",
    permission="conversations.write", transactional=True,
    describe=lambda p: f"{'note' if p.private else 'reply'}: {p.text[:80]}",
))  # fmt: skip
register_action(ActionType(
    "conversation.assign", AssignParams, _assign,
    "Assign or transfer the conversation to an agent and/or team, with a note",
    permission="conversations.write", transactional=True,
    describe=lambda p: f"assign to agent {p.assignee_id} / team {p.team_id}",
))  # fmt: skip
register_action(ActionType(
    "conversation.update", UpdateParams, _update,
    "Set the conversation's status or priority, or add tags",
    permission="conversations.write", transactional=True,
    describe=lambda p: f"status {p.status}, priority {p.priority}, tags +{p.add_tags}",
))  # fmt: skip
