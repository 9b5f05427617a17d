"""``notification.created`` over the agents' WebSocket: only the addressed user gets it (not
their supervisor, not the owner, not another tenant), personal data in its text is masked
for that user's role, it is replayed on resume, and a rule notifying on notifications does
not feed on its own events."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
from automation.rules_support import create_rule, rule, runtime_fixture
from conftest import Org, login, settle
from fastapi import FastAPI
from realtime_support import connect, connect_ready, frames_until_ready, serve
from sqlalchemy import func, select

from relaydesk.automation.models import RuleExecution
from relaydesk.kit.db import Database
from relaydesk.notifications import notify
from relaydesk.notifications.models import Notification

API = "/api/v1"
runtime = runtime_fixture  # the rules engine bound to the test database


def _token(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


async def _notifications(ws: Any, wait: float = 0.5) -> list[dict[str, Any]]:
    """The notification.created frames received until ``wait`` passes in silence."""
    found = []
    try:
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), wait))
            if frame.get("event_type") == "notification.created":
                found.append(frame)
    except TimeoutError:
        return found


async def test_a_notification_reaches_only_its_user_masked_for_their_role(
    app: FastAPI, client: httpx.AsyncClient, db: Database, org_a: Org, org_b: Org
) -> None:
    agent_headers = await login(client, org_a, "agent")
    tokens = {"agent": _token(agent_headers)}
    for role in ("supervisor", "owner"):
        tokens[role] = _token(await login(client, org_a, role))
    tokens["outsider"] = _token(await login(client, org_b, "owner"))
    async with serve(app) as url:
        sockets = {name: await connect_ready(url, token) for name, token in tokens.items()}
        r = await client.post(f"{API}/notifications/test", headers=agent_headers)
        assert r.status_code == 201, r.text
        async with db.job(org_a.id) as session:  # what a rule's notify step does
            await notify(session, org_a.id, [org_a.users["agent"], org_a.users["owner"]],
                         title="VIP 来电未接", body="请回电 13912345678，订单 202611210001",
                         link="/conversations", source={"kind": "rule"})  # fmt: skip
        await settle(db)
        got = {name: await _notifications(ws) for name, ws in sockets.items()}

        test_note, missed_call = got["agent"]
        assert test_note["payload"]["notification_id"] == r.json()["id"]
        assert test_note["payload"]["title"] == "Test notification / 测试通知"
        assert test_note["id"], "stored as an event: a reconnecting client gets it again"
        # the agent may not see customers' personal data: the number is masked, the rest not
        body = missed_call["payload"]["body"]
        assert "13912345678" not in body and "139****5678" in body and "202611210001" in body
        assert missed_call["payload"]["user_id"] == str(org_a.users["agent"])
        (owners,) = got["owner"]  # the owner's own copy, in clear
        assert owners["payload"]["body"] == "请回电 13912345678，订单 202611210001"
        assert owners["payload"]["user_id"] == str(org_a.users["owner"])
        assert got["supervisor"] == [] and got["outsider"] == []
        for ws in sockets.values():
            await ws.close()

        # on resume the agent gets its own notifications again, nobody else's
        ws = await connect(url, tokens["agent"], after=str(uuid.UUID(int=0)))
        replayed, _ = await frames_until_ready(ws)
        mine = [f for f in replayed if f.get("event_type") == "notification.created"]
        assert [f["id"] for f in mine] == [test_note["id"], missed_call["id"]]
        assert "13912345678" not in mine[1]["payload"]["body"]
        await ws.close()


async def test_a_rule_notifying_on_notifications_runs_once_not_forever(
    app: FastAPI, client: httpx.AsyncClient, db: Database, org_a: Org, runtime: Any
) -> None:
    owner = await login(client, org_a, "owner")
    copy = {"role": "supervisor", "title": "抄送：{{ event.payload.title }}"}
    created = await create_rule(client, owner, rule(
        "抄送主管", "notification.created", [{"type": "notify", "params": copy}]))  # fmt: skip
    agent = await login(client, org_a, "agent")
    assert (await client.post(f"{API}/notifications/test", headers=agent)).status_code == 201
    await settle(db)  # raises if the rule kept triggering itself
    async with db.job(org_a.id) as session:
        titles = list(await session.scalars(select(Notification.title).order_by(Notification.id)))
        runs = await session.scalar(
            select(func.count())
            .select_from(RuleExecution)
            .where(
                RuleExecution.rule_id == uuid.UUID(created["id"]),
                RuleExecution.matched.is_(True),
            )
        )
    assert titles == ["Test notification / 测试通知", "抄送：Test notification / 测试通知"]
    assert runs == 1  # the supervisor's notification did not trigger the rule again
