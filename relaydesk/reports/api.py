"""``/api/v1/reports``: figures for the supervisor dashboard.

Every figure is computed from the conversations the caller may see: the tenant guard and the
department scope apply to these statements like to every other one.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from relaydesk.auth.deps import Require
from relaydesk.auth.principal import Principal
from relaydesk.kit.db import DbSession, utcnow
from relaydesk.kit.schemas import COMMON_ERRORS
from relaydesk.reports.schemas import ConversationReportOut
from relaydesk.reports.service import conversation_report

router = APIRouter(prefix="/reports", tags=["reports"])

Supervisor = Annotated[Principal, Depends(Require("conversations.read", "users.read"))]


@router.get("/conversations", response_model=ConversationReportOut, responses=COMMON_ERRORS,
            response_model_by_alias=True)  # fmt: skip
async def conversations_report(
    principal: Supervisor, session: DbSession,
    from_: Annotated[dt.datetime | None, Query(
        alias="from", description="Start (inclusive); default: 7 days before `to`. "
        "A time without an offset is read in `tz`")] = None,
    to: Annotated[dt.datetime | None, Query(description="End (exclusive); default: now")] = None,
    team_id: Annotated[uuid.UUID | None, Query(description="Only this team's")] = None,
    tz: Annotated[str, Query(max_length=64,
                             description="IANA time zone of the days in `per_day`")] = "UTC",
) -> ConversationReportOut:  # fmt: skip
    """Conversations opened in the period (at most 366 days): counts by channel and by
    status, first response time and resolution time (p50, p90, average, in seconds), and the
    conversations opened and resolved per day."""
    return await conversation_report(session, start=from_, end=to, team_id=team_id,
                                     tz_name=tz, now=utcnow())  # fmt: skip
