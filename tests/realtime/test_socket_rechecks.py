"""The agents' WebSocket keeps checking who is on the other end: a logout closes an open
socket; typing signals need the right to reply; a resume replays an event that was written
before the last one the client saw (it committed later) instead of losing it."""

from __future__ import annotations

import json

import httpx
import pytest
import websockets
from conftest import Org, login
from conversations.conversations_support import customer_says, make_customer, make_inbox
from fastapi import FastAPI
from realtime_support import connect, connect_ready, deliver, frames_until_ready, next_event, serve

from relaydesk.kit.db import Database
from relaydesk.realtime import api as realtime_api


def _token(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


async def test_a_logout_closes_the_open_socket(
    app: FastAPI, client: httpx.AsyncClient, org_a: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(realtime_api, "RECHECK_SECONDS", 0.2)
    headers = await login(client, org_a, "agent")
    async with serve(app) as url:
        ws = await connect_ready(url, _token(headers))
        assert (await client.post("/api/v1/auth/logout", headers=headers)).status_code in (200, 204)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


async def test_typing_needs_the_right_to_reply(
    app: FastAPI, client: httpx.AsyncClient, org_a: Org
) -> None:
    reader = _token(await login(client, org_a, "read-only"))
    agent = _token(await login(client, org_a, "agent"))
    supervisor = _token(await login(client, org_a, "supervisor"))
    async with serve(app) as url:
        r, a, s = [await connect_ready(url, t) for t in (reader, agent, supervisor)]
        await r.send(json.dumps({"type": "typing", "conversation_id": "c-9", "on": True}))
        await a.send(json.dumps({"type": "typing", "conversation_id": "c-1", "on": True}))
        await a.send(json.dumps({"type": "typing", "conversation_id": "c-1", "on": True}))
        await a.send(json.dumps({"type": "typing", "conversation_id": "c-1", "on": False}))
        frames = [await next_event(s) for _ in range(2)]
        assert [(f["payload"]["conversation_id"], f["payload"]["on"]) for f in frames] == [
            ("c-1", True), ("c-1", False),  # the reader's signal and the repeat are dropped
        ]  # fmt: skip
        for ws in (r, a, s):
            await ws.close()


async def test_a_resume_replays_an_event_written_before_the_last_one_seen(
    app: FastAPI, client: httpx.AsyncClient, db: Database, org_a: Org
) -> None:
    agent = _token(await login(client, org_a, "agent"))
    inbox = await make_inbox(db, org_a)
    customer = await make_customer(db, org_a)
    await customer_says(db, org_a, inbox, customer, "先写的")
    await customer_says(db, org_a, inbox, customer, "后写的")
    ids = await deliver(db)
    async with serve(app) as url:
        # the client saw the newest event only (the older one committed after it)
        ws = await connect(url, agent, after=str(ids[-1]))
        replayed, _ = await frames_until_ready(ws)
        await ws.close()
    texts = [f["payload"].get("text") for f in replayed if f.get("type") == "event"]
    assert "先写的" in texts
