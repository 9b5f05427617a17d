"""The visitors' WebSocket over a real server: chat, delivery, resume, receipts, typing."""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
import pytest
import websockets
from conftest import Org, login
from fastapi import FastAPI
from webchat_support import (
    SITE,
    conversations,
    event_types,
    go_online,
    make_web_inbox,
    messages,
    next_frame,
    run_jobs,
    say,
    serve,
    token_for,
    visitor,
    wapp,
    wclient,
)

from relaydesk.kit.db import Database

__all__ = ["wapp", "wclient"]


async def test_anonymous_visitor_chats_and_the_agents_reply_reaches_the_widget(
    wapp: FastAPI, wclient: httpx.AsyncClient, db: Database, org_a: Org
) -> None:
    agent = await login(wclient, org_a, "agent")
    await go_online(wclient, agent)
    inbox = await make_web_inbox(db, org_a, wapp)
    token = await token_for(wclient, inbox)
    async with serve(wapp) as base:
        ws, ready = await visitor(base, inbox, token)
        assert ready["messages"] == [] and ready["online"] is True
        ack = await say(ws, "你好，我的订单 <b>还没到</b>", "c-1")
        assert ack["type"] == "ack" and ack["offline"] is False
        assert ack["message"]["text"] == "你好，我的订单 <b>还没到</b>"
        [conversation] = await conversations(db, org_a, inbox)
        assert conversation.status == "open" and conversation.channel == "web_chat"
        types = await event_types(db, org_a)
        assert "conversation.created" in types and "message.received" in types

        r = await wclient.post(
            f"/api/v1/conversations/{conversation.id}/messages",
            headers=agent,
            json={"text": "您好，我帮您查一下"},
        )
        assert r.status_code == 201, r.text
        assert r.json()["status"] == "queued"
        await run_jobs(db)  # the message.deliver job: the adapter pushes through the hub
        pushed = await next_frame(ws, "message")
        assert pushed["message"]["text"] == "您好，我帮您查一下"
        assert pushed["message"]["author"] == "agent" and pushed["message"]["direction"] == "out"
        reply = (await messages(db, org_a, conversation.id))[-1]
        assert reply.status == "delivered"

        # the visitor reads it: a read receipt
        await ws.send(json.dumps({"type": "read", "up_to": pushed["message"]["id"]}))
        await ws.send(json.dumps({"type": "ping"}))
        await next_frame(ws, "pong")
        assert (await messages(db, org_a, conversation.id))[-1].status == "read"
        await ws.close()


async def test_a_reconnecting_visitor_gets_what_it_missed_once(
    wapp: FastAPI, wclient: httpx.AsyncClient, db: Database, org_a: Org
) -> None:
    agent = await login(wclient, org_a, "agent")
    await go_online(wclient, agent)
    inbox = await make_web_inbox(db, org_a, wapp)
    token = await token_for(wclient, inbox)
    async with serve(wapp) as base:
        ws, _ = await visitor(base, inbox, token)
        first = await say(ws, "在吗？", "c-1")
        await ws.close()  # the visitor's phone loses the network
        conversation = uuid.UUID(first["message"]["conversation_id"])
        for text in ("在的", "请问有什么可以帮您？"):
            r = await wclient.post(
                f"/api/v1/conversations/{conversation}/messages", headers=agent, json={"text": text}
            )
            assert r.status_code == 201
        await run_jobs(db)
        statuses = [m.status for m in await messages(db, org_a, conversation)]
        assert statuses == ["received", "sent", "sent"]  # nobody was there to receive them

        ws, ready = await visitor(base, inbox, token, after=first["message"]["id"])
        assert [m["text"] for m in ready["messages"]] == ["在的", "请问有什么可以帮您？"]
        assert all(m["status"] == "delivered" for m in ready["messages"])
        statuses = [m.status for m in await messages(db, org_a, conversation)]
        assert statuses == ["received", "delivered", "delivered"]
        # the widget retries a message whose ack it never got: stored once
        again = await say(ws, "在吗？", "c-1")
        assert again["message"]["id"] == first["message"]["id"]
        assert len(await messages(db, org_a, conversation)) == 3
        await ws.close()

        # a fresh page (no "after") shows the recent history
        ws, ready = await visitor(base, inbox, token)
        assert [m["text"] for m in ready["messages"]] == ["在吗？", "在的", "请问有什么可以帮您？"]
        await ws.close()


async def test_typing_both_ways_through_the_hub(
    wapp: FastAPI, wclient: httpx.AsyncClient, db: Database, org_a: Org
) -> None:
    agent = await login(wclient, org_a, "agent")
    await go_online(wclient, agent)
    inbox = await make_web_inbox(db, org_a, wapp)
    token = await token_for(wclient, inbox)
    async with serve(wapp) as base:
        ws, _ = await visitor(base, inbox, token)
        ack = await say(ws, "请问发票怎么开？", "c-1")
        conversation = ack["message"]["conversation_id"]
        desk = await websockets.connect(f"{base}/api/v1/realtime")
        bearer = agent["Authorization"].removeprefix("Bearer ")
        await desk.send(json.dumps({"type": "auth", "token": bearer}))
        await next_frame(desk, "ready")
        await desk.send(json.dumps({"type": "typing", "conversation_id": conversation}))
        assert (await next_frame(ws, "typing"))["on"] is True
        # another conversation's typing never reaches this visitor
        await desk.send(json.dumps({"type": "typing", "conversation_id": "other", "on": False}))
        with pytest.raises(TimeoutError):
            await next_frame(ws, "typing", wait=0.3)

        await ws.send(json.dumps({"type": "typing", "on": True}))
        while True:
            frame = await next_frame(desk, "event")
            if frame["event_type"] == "typing.visitor":
                break
        assert frame["payload"]["conversation_id"] == conversation
        assert frame["payload"]["on"] is True
        await desk.close()
        await ws.close()


async def test_unknown_frames_bad_tokens_and_the_rate_limit(
    wapp: FastAPI, wclient: httpx.AsyncClient, db: Database, org_a: Org
) -> None:
    inbox = await make_web_inbox(db, org_a, wapp, messages_per_minute=2)
    other = await make_web_inbox(db, org_a, wapp)
    token = await token_for(wclient, inbox)
    async with serve(wapp) as base:
        # a token of another inbox (or a forged one) is refused
        ws = await websockets.connect(f"{base}/widget/ws/{other}", origin=SITE)  # type: ignore[arg-type]
        await ws.send(json.dumps({"type": "hello", "token": token}))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
        assert "another inbox" in closed.value.rcvd.reason

        ws, _ = await visitor(base, inbox, token)
        assert (await say(ws, "一", "c-1"))["type"] == "ack"
        assert (await say(ws, "二", "c-2"))["type"] == "ack"
        limited = await say(ws, "三", "c-3")
        assert limited["code"] == "rate_limited" and limited["retry_after"] >= 1
        await ws.send("not json")
        with pytest.raises(websockets.ConnectionClosed) as bad:
            await asyncio.wait_for(ws.recv(), 5)
        assert bad.value.rcvd is not None and bad.value.rcvd.code == 4400
