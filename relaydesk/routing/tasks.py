"""The routing consumer and its jobs.

A new conversation is assigned by the ``routing.assign`` job, after the tenant's priority rules
(:mod:`relaydesk.routing.priority`: connector lookups, outside any transaction) had their say.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.events.consumers import Consumer, register_consumer
from relaydesk.events.envelope import Envelope
from relaydesk.jobs import JobContext, enqueue, job_handler
from relaydesk.routing import priority, service


async def on_event(session: AsyncSession, event: Envelope) -> None:
    payload = event.payload
    if event.type == "conversation.created":
        await enqueue(session, "routing.assign", {"conversation_id": payload["conversation_id"]},
                      tenant_id=event.tenant_id,
                      dedupe_key=service.assign_key(payload["conversation_id"]))  # fmt: skip
        return
    freed = (
        event.type == "conversation.status_changed" and payload["status"] not in service.ACTIVE
    ) or (
        event.type == "conversation.assigned"
        and payload.get("previous_assignee_id") and payload.get("by") != "routing"
    )  # fmt: skip
    if freed:
        await enqueue(session, "routing.drain", {}, tenant_id=event.tenant_id,
                      dedupe_key=f"routing.drain:{event.id}")  # fmt: skip


ROUTING = register_consumer(Consumer(
    "routing", on_event,
    types=("conversation.created", "conversation.status_changed", "conversation.assigned"),
))  # fmt: skip


@job_handler("routing.assign")
async def assign_job(ctx: JobContext, payload: dict[str, Any]) -> None:
    if ctx.tenant_id is None:
        return
    await priority.route(ctx.db, ctx.tenant_id, uuid.UUID(payload["conversation_id"]))


@job_handler("routing.drain")
async def drain_job(ctx: JobContext, payload: dict[str, Any]) -> None:
    if ctx.tenant_id is None:
        return
    team = uuid.UUID(payload["team_id"]) if payload.get("team_id") else None
    async with ctx.db.job(ctx.tenant_id) as session:
        await service.drain(session, team)
