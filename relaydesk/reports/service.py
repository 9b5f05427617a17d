"""Conversation report: volumes by channel, status and day; first response and resolution."""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections import Counter
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.conversations.models import CHANNELS, STATUSES
from relaydesk.errors import NotFound, ValidationFailed
from relaydesk.reports import repository
from relaydesk.reports.schemas import ConversationReportOut, CountOut, DayOut, DurationStatsOut
from relaydesk.tenancy.models import Team

DEFAULT_DAYS = 7
MAX_DAYS = 366


def _invalid(field: str, msg: str) -> ValidationFailed:
    return ValidationFailed(msg, details=[{"loc": ["query", field], "msg": msg,
                                           "type": "value_error"}])  # fmt: skip


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        msg = f"unknown time zone {name!r} (an IANA name such as Asia/Shanghai)"
        raise _invalid("tz", msg) from None


def period(
    start: dt.datetime | None, end: dt.datetime | None, tz: ZoneInfo, now: dt.datetime
) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) in UTC; naive times are read in the report's time zone."""

    def aware(value: dt.datetime) -> dt.datetime:
        return (value if value.tzinfo else value.replace(tzinfo=tz)).astimezone(dt.UTC)

    try:
        end_ = aware(end) if end is not None else now
    except OverflowError:
        raise _invalid("to", "out of range") from None
    try:
        start_ = aware(start) if start is not None else end_ - dt.timedelta(days=DEFAULT_DAYS)
    except OverflowError:
        raise _invalid("from", "out of range") from None
    if start_ >= end_:
        raise _invalid("from", "from must be before to")
    if end_ - start_ > dt.timedelta(days=MAX_DAYS):
        raise _invalid("from", f"the period is longer than {MAX_DAYS} days")
    return start_, end_


def percentile(ordered: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (PostgreSQL's percentile_cont)."""
    pos = (len(ordered) - 1) * q
    low, high = math.floor(pos), math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def stats(durations: list[float]) -> DurationStatsOut:
    if not durations:
        return DurationStatsOut(count=0, p50_seconds=None, p90_seconds=None, avg_seconds=None)
    ordered = sorted(durations)
    return DurationStatsOut(
        count=len(ordered),
        p50_seconds=round(percentile(ordered, 0.5), 3),
        p90_seconds=round(percentile(ordered, 0.9), 3),
        avg_seconds=round(sum(ordered) / len(ordered), 3),
    )


def _days(start: dt.datetime, end: dt.datetime, tz: ZoneInfo) -> list[dt.date]:
    first = start.astimezone(tz).date()
    last = (end - dt.timedelta(microseconds=1)).astimezone(tz).date()
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


async def conversation_report(
    session: AsyncSession, *, start: dt.datetime | None, end: dt.datetime | None,
    team_id: uuid.UUID | None, tz_name: str, now: dt.datetime,
) -> ConversationReportOut:  # fmt: skip
    tz = zone(tz_name)
    start_, end_ = period(start, end, tz, now)
    if team_id is not None and await session.get(Team, team_id) is None:
        raise NotFound(f"team {team_id} not found")
    channels: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    created: Counter[dt.date] = Counter()
    first_response: list[float] = []
    resolution: list[float] = []
    async for row in repository.opened_between(session, start_, end_, team_id):
        channels[row.channel] += 1
        statuses[row.status] += 1
        created[row.created_at.astimezone(tz).date()] += 1
        if row.first_response_at is not None:
            first_response.append(
                max(0.0, (row.first_response_at - row.created_at).total_seconds())
            )
        if row.status == "resolved" and row.resolved_at is not None:
            resolution.append(max(0.0, (row.resolved_at - row.created_at).total_seconds()))
    resolved = Counter(
        at.astimezone(tz).date()
        for at in await repository.resolved_between(session, start_, end_, team_id)
    )
    return ConversationReportOut(
        from_=start_, to=end_, tz=tz_name, team_id=team_id,
        total=sum(channels.values()),
        by_channel=[CountOut(key=k, count=channels[k])
                    for k in (*CHANNELS, *sorted(set(channels) - set(CHANNELS)))],
        by_status=[CountOut(key=k, count=statuses[k])
                   for k in (*STATUSES, *sorted(set(statuses) - set(STATUSES)))],
        first_response=stats(first_response),
        resolution=stats(resolution),
        per_day=[DayOut(date=d, created=created[d], resolved=resolved[d])
                 for d in _days(start_, end_, tz)],
    )  # fmt: skip
