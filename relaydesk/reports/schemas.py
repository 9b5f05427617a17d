"""Response bodies of ``/api/v1/reports``."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import Field

from relaydesk.kit.schemas import ResponseModel


class CountOut(ResponseModel):
    key: str = Field(description="The channel or the status")
    count: int


class DurationStatsOut(ResponseModel):
    """Durations in seconds; the percentiles are null when no conversation qualifies."""

    count: int = Field(description="Conversations measured")
    p50_seconds: float | None
    p90_seconds: float | None
    avg_seconds: float | None


class DayOut(ResponseModel):
    date: dt.date = Field(description="The day in the report's time zone")
    created: int = Field(description="Conversations opened that day")
    resolved: int = Field(description="Conversations resolved that day (and still resolved)")


class ConversationReportOut(ResponseModel):
    from_: dt.datetime = Field(serialization_alias="from")
    to: dt.datetime
    tz: str
    team_id: uuid.UUID | None
    total: int = Field(description="Conversations opened in the period")
    by_channel: list[CountOut] = Field(description="Every channel, zeros included")
    by_status: list[CountOut] = Field(description="Every status (as it is now), zeros included")
    first_response: DurationStatsOut = Field(
        description="Opened → first agent reply, over the period's conversations that got one"
    )
    resolution: DurationStatsOut = Field(
        description="Opened → resolved, over the period's conversations that are resolved"
    )
    per_day: list[DayOut] = Field(description="Every day of the period, zeros included")
