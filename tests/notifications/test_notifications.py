"""Per-user notifications: who ``notify`` reaches, and ``/api/v1/notifications`` for the
signed-in user only."""

from __future__ import annotations

import uuid

import httpx
import pytest
from conftest import Org, login
from fastapi import FastAPI
from sqlalchemy import select

from relaydesk.auth.models import User
from relaydesk.kit.db import Database
from relaydesk.notifications import notify
from relaydesk.notifications.api import router
from relaydesk.notifications.models import Notification

API = "/api/v1"


@pytest.fixture
def notifications_app(app: FastAPI) -> FastAPI:
    """The lead wires the router into app.py; until then the test mounts it."""
    if f"{API}/notifications" not in {getattr(r, "path", "") for r in app.routes}:
        app.include_router(router, prefix=API)
    return app


async def _recipients(db: Database, org: Org, **who: object) -> set[uuid.UUID]:
    async with db.job(org.id) as session:
        return set(await notify(session, org.id, title="t", **who))  # type: ignore[arg-type]


async def test_recipients_by_id_role_and_permission(db: Database, org_a: Org, org_b: Org
                                                    ) -> None:  # fmt: skip
    users = org_a.users
    assert await _recipients(db, org_a, role="supervisor") == {users["supervisor"]}
    # rules.manage: the owner (*) and the admin, through their roles
    assert await _recipients(db, org_a, permission="rules.manage") == {
        users["owner"],
        users["admin"],
    }
    assert await _recipients(
        db, org_a, user_ids=[users["agent"], users["agent"], org_b.users["agent"]]
    ) == {users["agent"]}
    async with db.job(org_a.id) as session:
        agent = await session.get(User, users["agent"])
        assert agent is not None
        agent.is_active = False
    assert await _recipients(db, org_a, user_ids=[users["agent"]], role="agent") == set()
    assert await _recipients(db, org_a, role="no such role") == set()
    async with db.job(org_b.id) as session:
        assert list(await session.scalars(select(Notification))) == []


async def test_each_user_sees_and_marks_only_their_own(
    notifications_app: FastAPI, client: httpx.AsyncClient, db: Database, org_a: Org
) -> None:
    async with db.job(org_a.id) as session:
        await notify(session, org_a.id, role="supervisor", title="大额退款待审核",
                     body="订单 YQ1 退款 3000 元", link="/orders/YQ1")  # fmt: skip
        await notify(session, org_a.id, role="supervisor", title="second")
        await notify(session, org_a.id, role="agent", title="for the agent")
    supervisor = await login(client, org_a, "supervisor")
    agent = await login(client, org_a, "agent")

    mine = (await client.get(f"{API}/notifications", headers=supervisor)).json()["items"]
    assert [n["title"] for n in mine] == ["second", "大额退款待审核"]  # newest first
    assert mine[1]["link"] == "/orders/YQ1" and mine[1]["read_at"] is None
    count = await client.get(f"{API}/notifications/unread-count", headers=supervisor)
    assert count.json() == {"unread": 2}

    r = await client.post(f"{API}/notifications/{mine[1]['id']}/read", headers=agent)
    assert r.status_code == 404  # not theirs: not found, never forbidden
    r = await client.post(f"{API}/notifications/{mine[1]['id']}/read", headers=supervisor)
    assert r.status_code == 200 and r.json()["read_at"] is not None
    unread = (await client.get(f"{API}/notifications?unread=true", headers=supervisor)).json()
    assert [n["title"] for n in unread["items"]] == ["second"]
    r = await client.post(f"{API}/notifications/read-all", headers=supervisor)
    assert r.json() == {"updated": 1}
    count = await client.get(f"{API}/notifications/unread-count", headers=supervisor)
    assert count.json() == {"unread": 0}
    agent_items = (await client.get(f"{API}/notifications", headers=agent)).json()["items"]
    assert [n["title"] for n in agent_items] == ["for the agent"]


async def test_test_notification_and_api_keys(
    notifications_app: FastAPI, client: httpx.AsyncClient, org_a: Org
) -> None:
    owner = await login(client, org_a, "owner")
    r = await client.post(f"{API}/notifications/test", headers=owner)
    assert r.status_code == 201 and r.json()["source"] == {"kind": "test"}
    r = await client.post(f"{API}/api-keys", headers=owner,
                          json={"name": "erp", "permissions": ["customers.read"]})  # fmt: skip
    key = {"X-API-Key": r.json()["key"]}
    assert (await client.get(f"{API}/notifications", headers=key)).json()["items"] == []
    r = await client.post(f"{API}/notifications/test", headers=key)
    assert r.status_code == 403
    mine = (await client.get(f"{API}/notifications", headers=owner)).json()["items"]
    r = await client.post(f"{API}/notifications/{mine[0]['id']}/read", headers=key)
    assert r.status_code == 404


async def test_personal_data_in_a_notification_is_masked_for_readers_without_pii_view(
    notifications_app: FastAPI, client: httpx.AsyncClient, db: Database, org_a: Org
) -> None:
    """A rule's notification text may quote the customer; the list shows it as the realtime
    frame does: the phone and e-mail masked inside the text, the rest readable."""
    async with db.job(org_a.id) as session:
        body = "客户 13812345678 (li.lei@example.cn) 要求退款 SO20261121001"
        await notify(session, org_a.id, role="agent", title="回电 13812345678", body=body)
    agent = await login(client, org_a, "agent")
    item = (await client.get(f"{API}/notifications", headers=agent)).json()["items"][0]
    text = item["title"] + item["body"]
    assert "13812345678" not in text and "li.lei@example.cn" not in text
    assert "5678" in item["title"] and "要求退款 SO20261121001" in item["body"]
    marked = (await client.post(f"{API}/notifications/{item['id']}/read", headers=agent)).json()
    assert "13812345678" not in marked["title"] + marked["body"]
