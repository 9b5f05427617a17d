"""GET /api/v1/reports/conversations: counts, response and resolution times, days, scoping."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import pytest
from admin.admin_helpers import create_role, create_user, login_as
from conftest import PASSWORD, Org, login
from conversations.conversations_support import make_customer, make_inbox
from fastapi import FastAPI

from relaydesk.conversations.models import Conversation
from relaydesk.kit.db import Database
from relaydesk.reports.api import router as reports_router
from relaydesk.tenancy.models import Department, Team

URL = "/api/v1/reports/conversations"
T0 = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)  # 09:00 in Shanghai


@pytest.fixture
def app(app: FastAPI) -> FastAPI:
    """The reports router, until app.py mounts it (then this adds nothing)."""
    if not any(getattr(r, "path", "") == URL for r in app.routes):
        app.include_router(reports_router, prefix="/api/v1")
    return app


async def add_team(db: Database, org: Org, name: str, department_id: uuid.UUID | None = None
                   ) -> uuid.UUID:  # fmt: skip
    async with db.job(org.id) as session:
        team = Team(tenant_id=org.id, name=name, department_id=department_id)
        session.add(team)
        await session.flush()
        return team.id


async def add_conversations(db: Database, org: Org, rows: list[dict[str, Any]]) -> None:
    """Conversations as they would be after their lives: opened, answered, resolved."""
    inbox_ids: dict[str, uuid.UUID] = {}
    customer = await make_customer(db, org)
    for row in rows:
        channel = row.get("channel", "web_chat")
        if channel not in inbox_ids:
            inbox_ids[channel] = await make_inbox(db, org, name=f"inbox {channel}", channel=channel)
    async with db.job(org.id) as session:
        for row in rows:
            opened: dt.datetime = row["opened"]
            minutes = row.get("first_response_min")
            resolved_min = row.get("resolved_min")
            session.add(Conversation(
                tenant_id=org.id, inbox_id=inbox_ids[row.get("channel", "web_chat")],
                channel=row.get("channel", "web_chat"), customer_id=customer,
                status=row.get("status", "resolved" if resolved_min is not None else "open"),
                team_id=row.get("team_id"), department_id=row.get("department_id"),
                created_at=opened, last_message_at=opened,
                first_response_at=opened + dt.timedelta(minutes=minutes) if minutes else None,
                resolved_at=opened + dt.timedelta(minutes=resolved_min) if resolved_min else None,
            ))  # fmt: skip


def counts(items: list[dict[str, Any]]) -> dict[str, int]:
    return {i["key"]: i["count"] for i in items if i["count"]}


async def test_counts_times_and_days_in_the_supervisors_time_zone(
    client: httpx.AsyncClient, db: Database, org_a: Org
) -> None:
    # first responses after 1..10 minutes: p50 = 5.5 min, p90 = 9.1 min (interpolated)
    rows: list[dict[str, Any]] = [
        {"opened": T0 + dt.timedelta(hours=i), "first_response_min": i + 1,
         "channel": "email" if i % 2 else "web_chat"}
        for i in range(10)
    ]  # fmt: skip
    rows[0]["resolved_min"] = 30
    rows[1]["resolved_min"] = 90
    rows[2]["resolved_min"] = 600  # resolved 2026-03-02 13:00 UTC = 21:00 Shanghai
    rows.append({"opened": T0 + dt.timedelta(hours=16), "channel": "sms"})  # 03-03 in Shanghai
    rows.append({"opened": T0 - dt.timedelta(days=3), "first_response_min": 1})  # before `from`
    await add_conversations(db, org_a, rows)
    headers = await login(client, org_a, "supervisor")

    local = {"from": "2026-03-01T00:00:00", "to": "2026-03-04T00:00:00", "tz": "Asia/Shanghai"}
    r = await client.get(URL, headers=headers, params=local)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["from"] == "2026-02-28T16:00:00Z"
    assert body["total"] == 11
    assert counts(body["by_channel"]) == {"web_chat": 5, "email": 5, "sms": 1}
    assert [c["key"] for c in body["by_channel"]] == ["web_chat", "email", "sms", "voice", "api"]
    assert counts(body["by_status"]) == {"resolved": 3, "open": 8}
    assert body["first_response"] == {"count": 10, "p50_seconds": 330.0,
                                      "p90_seconds": 546.0, "avg_seconds": 330.0}  # fmt: skip
    assert body["resolution"]["count"] == 3
    assert body["resolution"]["p50_seconds"] == 90 * 60
    assert body["per_day"] == [
        {"date": "2026-03-01", "created": 0, "resolved": 0},
        {"date": "2026-03-02", "created": 10, "resolved": 3},
        {"date": "2026-03-03", "created": 1, "resolved": 0},
    ]

    # in UTC the same conversations fall on other days
    r = await client.get(URL, headers=headers, params={
        "from": "2026-03-01T00:00:00Z", "to": "2026-03-04T00:00:00Z"})  # fmt: skip
    days = {d["date"]: d["created"] for d in r.json()["per_day"]}
    assert days == {"2026-03-01": 0, "2026-03-02": 11, "2026-03-03": 0}


async def test_an_empty_period_has_zeros_and_no_percentiles(
    client: httpx.AsyncClient, org_a: Org
) -> None:
    headers = await login(client, org_a, "supervisor")
    r = await client.get(URL, headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == 0
    assert body["first_response"] == {"count": 0, "p50_seconds": None, "p90_seconds": None,
                                      "avg_seconds": None}  # fmt: skip
    # the default period: the last 7 days up to now (8 partial calendar days at most)
    start = dt.datetime.fromisoformat(body["from"])
    end = dt.datetime.fromisoformat(body["to"])
    assert end - start == dt.timedelta(days=7)
    assert 7 <= len(body["per_day"]) <= 8
    assert all(d["created"] == 0 for d in body["per_day"])


async def test_team_filter_and_tenant_isolation(
    client: httpx.AsyncClient, db: Database, org_a: Org, org_b: Org
) -> None:
    sales = await add_team(db, org_a, "售前")
    care = await add_team(db, org_a, "售后")
    other = await add_team(db, org_b, "globex care")
    await add_conversations(db, org_a, [
        {"opened": T0, "team_id": sales, "first_response_min": 2},
        {"opened": T0, "team_id": care, "first_response_min": 8},
        {"opened": T0, "team_id": care},
    ])  # fmt: skip
    await add_conversations(db, org_b, [{"opened": T0, "team_id": other}] * 4)
    headers = await login(client, org_a, "supervisor")
    period = {"from": "2026-03-01T00:00:00Z", "to": "2026-03-03T00:00:00Z"}

    everyone = (await client.get(URL, headers=headers, params=period)).json()
    assert everyone["total"] == 3
    r = await client.get(URL, headers=headers, params={**period, "team_id": str(care)})
    assert r.json()["total"] == 2
    assert r.json()["first_response"]["p50_seconds"] == 480.0
    assert r.json()["team_id"] == str(care)
    # another organisation's team does not exist here
    r = await client.get(URL, headers=headers, params={**period, "team_id": str(other)})
    assert r.status_code == 404
    other_headers = await login(client, org_b, "supervisor")
    assert (await client.get(URL, headers=other_headers, params=period)).json()["total"] == 4


async def test_a_department_scoped_supervisor_sees_its_department_only(
    client: httpx.AsyncClient, db: Database, org_a: Org
) -> None:
    async with db.job(org_a.id) as session:
        north, south = Department(tenant_id=org_a.id, name="North"), Department(
            tenant_id=org_a.id, name="South")  # fmt: skip
        session.add_all([north, south])
        await session.flush()
        north_id, south_id = north.id, south.id
    await add_conversations(db, org_a, [
        {"opened": T0, "department_id": north_id, "channel": "email"},
        {"opened": T0, "department_id": south_id, "channel": "sms"},
        {"opened": T0, "department_id": south_id, "channel": "sms"},
    ])  # fmt: skip
    owner = await login(client, org_a, "owner")
    await create_role(client, owner, "north-lead", ["users.read", "conversations.read"],
                      scope="department")  # fmt: skip
    await create_user(client, owner, "north@acme.example.com", PASSWORD, ["north-lead"],
                      department_id=str(north_id))  # fmt: skip
    headers = await login_as(client, org_a.slug, "north@acme.example.com", PASSWORD)
    period = {"from": "2026-03-01T00:00:00Z", "to": "2026-03-03T00:00:00Z"}
    body = (await client.get(URL, headers=headers, params=period)).json()
    assert body["total"] == 1
    assert counts(body["by_channel"]) == {"email": 1}
    assert (await client.get(URL, headers=owner, params=period)).json()["total"] == 3


async def test_bad_input_names_the_parameter(client: httpx.AsyncClient, org_a: Org) -> None:
    headers = await login(client, org_a, "supervisor")

    async def loc(params: dict[str, str]) -> list[Any]:
        r = await client.get(URL, headers=headers, params=params)
        assert r.status_code == 422, r.text
        return [d["loc"] for d in r.json()["error"]["details"]]

    assert await loc({"from": "2026-03-05T00:00:00Z", "to": "2026-03-01T00:00:00Z"}) == [
        ["query", "from"]]  # fmt: skip
    assert await loc({"from": "2024-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}) == [
        ["query", "from"]]  # fmt: skip
    assert await loc({"tz": "Mars/Olympus"}) == [["query", "tz"]]
    assert await loc({"from": "yesterday"}) == [["query", "from"]]
    assert await loc({"team_id": "nope"}) == [["query", "team_id"]]
    # times that leave the calendar in UTC are refused, not a server error
    assert await loc({"to": "0001-01-01T00:00:00", "tz": "Asia/Tokyo"}) == [["query", "to"]]
    assert await loc({"to": "0001-01-03T00:00:00Z"}) == [["query", "from"]]


async def test_needs_conversations_and_users_read(client: httpx.AsyncClient, org_a: Org) -> None:
    owner = await login(client, org_a, "owner")
    await create_role(client, owner, "inbox-reader", ["conversations.read"])
    await create_user(client, owner, "reader@acme.example.com", PASSWORD, ["inbox-reader"])
    headers = await login_as(client, org_a.slug, "reader@acme.example.com", PASSWORD)
    r = await client.get(URL, headers=headers)
    assert r.status_code == 403
    assert r.json()["error"]["details"]["missing"] == ["users.read"]
    assert (await client.get(URL)).status_code == 401
