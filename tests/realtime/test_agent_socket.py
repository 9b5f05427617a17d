"""The agents' WebSocket over a real server: auth, live events, masking, resume, typing."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
import websockets
from conftest import Org, login
from conversations.conversations_support import customer_says, make_customer, make_inbox
from fastapi import FastAPI
from realtime_support import (
    connect,
    connect_ready,
    deliver,
    frames_until_ready,
    next_event,
    serve,
)

from relaydesk.events.outbox import emit
from relaydesk.kit.db import Database
from relaydesk.realtime import api as realtime_api
from relaydesk.realtime import hub as hub_module


def _token(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


async def test_bad_or_missing_credentials_close_with_4401(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(realtime_api, "AUTH_TIMEOUT", 0.3)
    async with serve(app) as url:
        ws = await connect(url, "not-a-token")
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd.code == 4401 and "invalid" in closed.value.rcvd.reason
        async with websockets.connect(url) as silent:
            with pytest.raises(websockets.ConnectionClosed) as timed_out:
                await silent.recv()
            assert timed_out.value.rcvd.code == 4401


async def test_agents_get_messages_live_and_personal_data_masked_by_role(
    app: FastAPI, client: httpx.AsyncClient, db: Database, org_a: Org, org_b: Org
) -> None:
    agent = _token(await login(client, org_a, "agent"))
    owner = _token(await login(client, org_a, "owner"))
    outsider = _token(await login(client, org_b, "owner"))
    inbox = await make_inbox(db, org_a)
    customer = await make_customer(db, org_a)
    async with serve(app) as url:
        sockets = [await connect_ready(url, t) for t in (agent, owner, outsider)]
        await customer_says(db, org_a, inbox, customer, "我的手机号 13912345678，帮我查订单")
        async with db.job(org_a.id) as session:
            await emit(session, "customer.updated", {
                "customer_id": str(customer), "name": "李雷", "phone": "+8613912345678",
                "changed": ["phone"]}, tenant_id=org_a.id)  # fmt: skip
        await deliver(db)
        for ws in sockets[:2]:
            created, received, updated = [await next_event(ws) for _ in range(3)]
            assert created["event_type"] == "conversation.created"
            assert received["payload"]["text"] == "我的手机号 13912345678，帮我查订单"
            assert "tenant_id" not in received
        outsider_ws = sockets[2]
        # the owner sees personal data; the agent sees it masked (the message text is theirs)
        assert updated["payload"]["phone"] == "+8613912345678"
        with pytest.raises(TimeoutError):
            await next_event(outsider_ws, wait=0.3)  # another tenant hears nothing
        for ws in sockets:
            await ws.close()
    # the agent's copy of customer.updated, checked apart so the loop above stays simple
    async with serve(app) as url:
        ws = await connect(url, agent, after=str(received["id"]))
        replayed, _ = await frames_until_ready(ws)
        masked = replayed[-1]["payload"]
        assert replayed[-1]["event_type"] == "customer.updated"
        assert masked["phone"] != "+8613912345678" and masked["phone"].endswith("5678")
        assert masked["name"] != "李雷"
        await ws.close()


async def test_a_reconnecting_agent_resumes_without_gaps_or_duplicates(
    app: FastAPI, client: httpx.AsyncClient, db: Database, org_a: Org
) -> None:
    agent = _token(await login(client, org_a, "agent"))
    inbox = await make_inbox(db, org_a)
    customer = await make_customer(db, org_a)
    async with serve(app) as url:
        ws = await connect_ready(url, agent)
        await customer_says(db, org_a, inbox, customer, "第一条")
        delivered = await deliver(db)
        first = [await next_event(ws) for _ in range(2)]
        await ws.close()  # the agent's network drops
        for n in range(2, 5):
            await customer_says(db, org_a, inbox, customer, f"第{n}条")
        await deliver(db, after=delivered[-1])  # live pushes while nobody listens
        ws = await connect(url, agent, after=first[-1]["id"])
        replayed, ready = await frames_until_ready(ws)
        # from a few seconds before the last one seen (an event committed late can carry a
        # smaller id): what the agent saw may come again, by id, and the client drops it
        seen = {f["id"] for f in first}
        missed = [f for f in replayed if f["id"] not in seen]
        assert [f["payload"]["text"] for f in missed] == ["第2条", "第3条", "第4条"]
        assert [f["id"] for f in replayed] == sorted(f["id"] for f in replayed)
        assert ready["last_event_id"] == replayed[-1]["id"]
        await customer_says(db, org_a, inbox, customer, "第5条")
        await deliver(db)  # redelivers everything: the replayed ones must not come twice
        live = await next_event(ws)
        assert live["payload"]["text"] == "第5条"
        await ws.close()


async def test_typing_reaches_other_agents_and_slow_sockets_are_told_to_resume(
    app: FastAPI, client: httpx.AsyncClient, db: Database, org_a: Org,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    agent = _token(await login(client, org_a, "agent"))
    supervisor = _token(await login(client, org_a, "supervisor"))
    async with serve(app) as url:
        a = await connect_ready(url, agent)
        s = await connect_ready(url, supervisor)
        await a.send(json.dumps({"type": "typing", "conversation_id": "c-1", "on": True}))
        typing = await next_event(s)
        assert typing["event_type"] == "typing.agent" and typing["payload"]["on"] is True
        await a.send(json.dumps({"type": "ping"}))
        frames = [json.loads(await asyncio.wait_for(a.recv(), 5)) for _ in range(2)]
        assert {"type": "pong"} in frames
        await a.send("not json")
        with pytest.raises(websockets.ConnectionClosed) as bad:
            await a.recv()
        assert bad.value.rcvd.code == 4400
        monkeypatch.setattr(hub_module, "QUEUE_SIZE", 3)
        slow = await connect_ready(url, agent)
        hub = hub_module.get_hub()
        for n in range(10):  # the slow socket never reads
            hub.deliver_local({"type": "event", "id": None, "tenant_id": str(org_a.id),
                               "event_type": "typing.agent",
                               "payload": {"conversation_id": str(n), "on": True}})  # fmt: skip
        with pytest.raises(websockets.ConnectionClosed) as too_slow:
            while True:
                await asyncio.wait_for(slow.recv(), 5)
        assert too_slow.value.rcvd.code == 1013
        await s.close()
