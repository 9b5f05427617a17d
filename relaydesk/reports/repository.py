"""The SQL of the reports: tenant- and department-guarded like every ORM statement."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.conversations.models import Conversation

#: rows fetched per round trip while streaming a period's conversations
BATCH = 2_000


class ConversationTimes(NamedTuple):
    channel: str
    status: str
    created_at: dt.datetime
    first_response_at: dt.datetime | None
    resolved_at: dt.datetime | None


async def opened_between(
    session: AsyncSession, start: dt.datetime, end: dt.datetime, team_id: uuid.UUID | None
) -> AsyncIterator[ConversationTimes]:
    """The conversations opened in [start, end), a few columns each, in batches."""
    stmt = select(
        Conversation.channel, Conversation.status, Conversation.created_at,
        Conversation.first_response_at, Conversation.resolved_at,
    ).where(Conversation.created_at >= start, Conversation.created_at < end)  # fmt: skip
    if team_id is not None:
        stmt = stmt.where(Conversation.team_id == team_id)
    last: tuple[dt.datetime, uuid.UUID] | None = None
    while True:
        page = stmt.add_columns(Conversation.id).order_by(Conversation.created_at, Conversation.id)
        if last is not None:
            page = page.where(
                (Conversation.created_at > last[0])
                | ((Conversation.created_at == last[0]) & (Conversation.id > last[1]))
            )
        rows = (await session.execute(page.limit(BATCH))).all()
        for row in rows:
            yield ConversationTimes(row[0], row[1], row[2], row[3], row[4])
        if len(rows) < BATCH:
            return
        last = (rows[-1][2], rows[-1][5])


async def resolved_between(
    session: AsyncSession, start: dt.datetime, end: dt.datetime, team_id: uuid.UUID | None
) -> list[dt.datetime]:
    """When the conversations resolved in [start, end) were resolved (still resolved now)."""
    stmt = select(Conversation.resolved_at).where(
        Conversation.status == "resolved",
        Conversation.resolved_at >= start,
        Conversation.resolved_at < end,
    )
    if team_id is not None:
        stmt = stmt.where(Conversation.team_id == team_id)
    return [r for r in (await session.scalars(stmt)).all() if r is not None]
