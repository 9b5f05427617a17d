"""An action run over the API, as a deployment runs it (sessions that really commit, no shared
test transaction): the call-log row, the audit row and the ``connector.action_failed`` event
are committed by the audit writer before the answer leaves; the instance comes from a short
cache that a committed change clears at once; another tenant never sees it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from conftest import Org, login, make_org
from integrations.service.hub_support import (
    API,
    ORDER_NO,
    Clock,
    FakeSystem,
    Sleeper,
    answer,
    fake_registry,
    instance_body,
    mount,
)
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from relaydesk.app import create_app
from relaydesk.audit import service as audit
from relaydesk.audit.models import AuditEntry
from relaydesk.audit.writer import AuditWriter
from relaydesk.config import Settings
from relaydesk.events.models import OutboxEvent
from relaydesk.integrations.instance_cache import INSTANCES
from relaydesk.integrations.models import ConnectorCall
from relaydesk.kit.db import Database

BASE = f"{API}/connector-instances"


@dataclass
class Live:
    client: httpx.AsyncClient
    db: Database
    system: FakeSystem
    org: Org

    def writer(self) -> AuditWriter:
        writer = self.db.extensions["audit_writer"]
        assert isinstance(writer, AuditWriter)
        return writer


@pytest.fixture
async def live(committing_engine: AsyncEngine, settings: Settings) -> AsyncIterator[Live]:
    db = Database(committing_engine)  # commits for real: the deployment's path
    system = FakeSystem()
    registry = fake_registry(system, Sleeper(), clock=Clock())
    app = mount(create_app(settings, db=db), registry)
    org = await make_org(db, f"dr-{uuid.uuid4().hex[:8]}", roles=("owner", "agent"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield Live(client, db, system, org)
    await registry.aclose()
    INSTANCES.clear()


async def _instance(live: Live, headers: dict[str, str]) -> str:
    r = await live.client.post(BASE, headers=headers, json=instance_body())
    assert r.status_code == 201, r.text
    return f"{BASE}/{r.json()['id']}"


async def _run(live: Live, headers: dict[str, str], url: str) -> httpx.Response:
    return await live.client.post(
        f"{url}/actions/get_order/run", headers=headers, json={"params": {"order_no": ORDER_NO}}
    )


async def test_rows_are_committed_by_the_writer_before_the_answer(live: Live) -> None:
    owner = await login(live.client, live.org, "owner")
    url = await _instance(live, owner)
    answers = await asyncio.gather(*(_run(live, owner, url) for _ in range(12)))
    assert all(r.status_code == 200 and r.json()["ok"] for r in answers), answers[0].text
    call_ids = {r.json()["call_id"] for r in answers}
    assert live.writer().batches >= 1  # the writer's path, not the request's transaction
    async with live.db.job(live.org.id) as session:  # another connection sees them at once
        calls = (await session.execute(select(ConnectorCall.id))).scalars().all()
        audited = (
            (
                await session.execute(
                    select(AuditEntry.details).where(AuditEntry.action == "connector.action_called")
                )
            )
            .scalars()
            .all()
        )
        chain = await audit.verify(session, live.org.id)
    assert {str(c) for c in calls} == call_ids
    assert {d["call_id"] for d in audited} == call_ids
    assert chain.ok, chain.problems


async def test_a_failed_call_emits_connector_action_failed_with_its_rows(live: Live) -> None:
    owner = await login(live.client, live.org, "owner")
    url = await _instance(live, owner)
    live.system.default = answer({"code": 500, "msg": "down"}, status=503)
    r = await _run(live, owner, url)
    assert r.status_code == 200 and r.json()["ok"] is False, r.text
    async with live.db.job(live.org.id) as session:
        event = (
            await session.execute(
                select(OutboxEvent).where(OutboxEvent.type == "connector.action_failed")
            )
        ).scalar_one()
        call = (await session.execute(select(ConnectorCall))).scalar_one()
    assert call.outcome == "error" and str(call.id) == r.json()["call_id"]
    assert event.key == "orders"
    assert event.payload["error_class"] == r.json()["error"]["class"]
    assert event.payload["action"] == "get_order" and event.payload["effect"] == "read"
    assert event.payload["http_status"] == 503 and event.payload["actor_type"] == "user"
    assert "params" not in event.payload and ORDER_NO not in str(event.payload)


async def test_a_committed_change_is_seen_at_once_and_tenants_stay_apart(
    live: Live, settings: Settings
) -> None:
    owner = await login(live.client, live.org, "owner")
    url = await _instance(live, owner)
    assert (await _run(live, owner, url)).status_code == 200  # now cached
    other = await make_org(live.db, f"dr-{uuid.uuid4().hex[:8]}", roles=("owner",))
    stranger = await login(live.client, other, "owner")
    assert (await _run(live, stranger, url)).status_code == 404

    r = await live.client.patch(url, headers=owner, json={"enabled": False})
    assert r.status_code == 200, r.text
    r = await _run(live, owner, url)
    assert r.status_code == 409 and r.json()["error"]["code"] == "connector_disabled"
