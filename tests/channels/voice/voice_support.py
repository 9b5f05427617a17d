"""Fixtures of the voice channel tests: the demo call centre and Relaydesk, both on loopback,
and an agent's WebSocket.

The call centre's agents are the test organisation's users (8001 → agent, 8002 →
supervisor, 8009 → nobody), so seats map to users by e-mail. Click-to-call does not push by
itself (``dial_push_delay=None``): a test pushes the call's events when it wants them, so
nothing touches the test's one database connection behind its back.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import websockets
from conftest import Org, login
from fastapi import FastAPI
from sqlalchemy import select

import relaydesk.channels.voice
from relaydesk.auth.principal import Principal
from relaydesk.channels.sms.runtime import bind_keyring
from relaydesk.channels.voice import router
from relaydesk.conversations.models import Conversation, Message
from relaydesk.demo_systems.callcenter import (
    CC_ADMIN_TOKEN,
    CC_APP_KEY,
    CC_APP_SECRET,
    CallCenterConfig,
    create_callcenter_app,
    signed_url,
)
from relaydesk.demo_systems.runner import RunningServer, start_server
from relaydesk.events.models import OutboxEvent
from relaydesk.kit.db import Database
from relaydesk.realtime import hub as hub_module

API = "/api/v1"
ADMIN = {"X-Admin-Token": CC_ADMIN_TOKEN}
ZHANG_WEI = "13937704964"

assert relaydesk.channels.voice.SCREENPOP.name == "voice.screenpop"  # consumer registered


def mount_channel(app: FastAPI) -> None:
    """What the lead's wiring does: the voice routes under /api/v1."""
    if not any(getattr(r, "path", "").startswith(f"{API}/channels/voice") for r in app.routes):
        app.include_router(router, prefix=API)


def personal_frames(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hub's rule for ``screenpop.`` frames (only payload.user_id, conversations.read),
    applied here until relaydesk/realtime/hub.py carries it."""
    if "screenpop." in hub_module.NEEDS:
        return
    original = hub_module.visible_payload

    def visible(principal: Principal, frame: dict[str, Any]) -> dict[str, Any] | None:
        if frame["event_type"].startswith("screenpop."):
            mine = (frame.get("payload") or {}).get("user_id") == str(principal.user_id)
            return frame if mine and principal.has("conversations.read") else None
        return original(principal, frame)

    monkeypatch.setattr(hub_module, "visible_payload", visible)


@dataclass
class CallCenter:
    server: RunningServer
    http: httpx.AsyncClient

    @property
    def url(self) -> str:
        return self.server.url

    async def admin(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        r = await self.http.request(method, f"{self.url}{path}", headers=ADMIN, **kw)
        assert r.status_code == 200, r.text
        data: dict[str, Any] = r.json()
        return data

    async def ring(self, number: str, cno: str = "8001", **extra: Any) -> dict[str, Any]:
        """A customer calls the hotline and it rings at ``cno``; returns the answer (the
        call in ``data``, the push's outcome in ``push``)."""
        return await self.admin("POST", "/admin/calls/inbound",
                                json={"from": number, "cno": cno, **extra})  # fmt: skip

    async def calls(self) -> list[dict[str, Any]]:
        return list((await self.admin("GET", "/admin/calls"))["data"])


@pytest.fixture
async def callcenter(org_a: Org) -> AsyncIterator[CallCenter]:
    agents = (
        ("8001", "王小燕", org_a.email("agent")),
        ("8002", "林雅婷", org_a.email("supervisor")),
        ("8009", "临时工", "temp@elsewhere.example.com"),
    )
    config = CallCenterConfig(agents=agents, dial_push_delay=None, retry_delays=(0.05,))
    server = await start_server(create_callcenter_app(config), name="callcenter")
    async with httpx.AsyncClient(timeout=10) as http:
        yield CallCenter(server, http)
    await server.stop()


@dataclass
class Relaydesk:
    server: RunningServer

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + f"{API}/realtime"


@pytest.fixture
async def relaydesk(app: FastAPI, db: Database, monkeypatch: pytest.MonkeyPatch
                    ) -> AsyncIterator[Relaydesk]:  # fmt: skip
    mount_channel(app)
    personal_frames(monkeypatch)
    bind_keyring(db, app.state.keyring)
    server = await start_server(app, name="relaydesk")
    yield Relaydesk(server)
    await server.stop()


def voice_settings(callcenter: CallCenter, **overrides: Any) -> dict[str, Any]:
    return {"base_url": callcenter.url, "app_key": CC_APP_KEY, "app_secret": CC_APP_SECRET,
            "hotline": "4008206666", **overrides}  # fmt: skip


async def make_voice_inbox(client: httpx.AsyncClient, org: Org, settings: dict[str, Any],
                           name: str = "客服热线") -> uuid.UUID:  # fmt: skip
    owner = await login(client, org, "owner")
    body = {"name": name, "channel": "voice", "settings": settings}
    r = await client.post(f"{API}/inboxes", headers=owner, json=body)
    assert r.status_code == 201, r.text
    return uuid.UUID(r.json()["id"])


async def connect(callcenter: CallCenter, relaydesk: Relaydesk, inbox_id: uuid.UUID) -> str:
    """The call centre's console: push the events to the inbox; returns that URL."""
    url = f"{relaydesk.url}{API}/channels/voice/{inbox_id}/events"
    await callcenter.admin("PUT", "/admin/callbacks", json={"eventUrl": url})
    return url


async def agent_socket(relaydesk: Relaydesk, headers: dict[str, str]) -> Any:
    """An agent's realtime WebSocket, authenticated and ready."""
    ws = await websockets.connect(relaydesk.ws_url)
    token = headers["Authorization"].removeprefix("Bearer ")
    await ws.send(json.dumps({"type": "auth", "token": token}))
    while json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] != "ready":
        pass
    return ws


async def frames(ws: Any, wait: float = 0.3) -> list[dict[str, Any]]:
    """Every event frame that arrives until the socket is quiet for ``wait`` seconds."""
    seen = []
    while True:
        try:
            frame = json.loads(await asyncio.wait_for(ws.recv(), wait))
        except TimeoutError:
            return seen
        if frame.get("type") == "event":
            seen.append(frame)


async def call_records(db: Database, org: Org, inbox_id: uuid.UUID) -> list[Message]:
    async with db.job(org.id) as session:
        stmt = select(Message).where(Message.inbox_id == inbox_id, Message.content_type == "call")
        rows = await session.scalars(stmt.order_by(Message.id))
        return list(rows)


async def conversation(db: Database, org: Org, conversation_id: uuid.UUID) -> Conversation:
    async with db.job(org.id) as session:
        found = await session.get(Conversation, conversation_id)
        assert found is not None
        return found


async def outbox(db: Database, org: Org, prefix: str = "call.") -> list[OutboxEvent]:
    async with db.job(org.id) as session:
        rows = await session.scalars(select(OutboxEvent).order_by(OutboxEvent.id))
        return [row for row in rows if row.type.startswith(prefix)]


async def push_signed(app: FastAPI, client: httpx.AsyncClient, inbox_id: uuid.UUID,
                      event: dict[str, Any] | bytes) -> httpx.Response:  # fmt: skip
    """What the call centre does: one signed push to the inbox (through ``client``)."""
    mount_channel(app)
    path = f"{API}/channels/voice/{inbox_id}/events"
    body = event if isinstance(event, bytes) else json.dumps(event, ensure_ascii=False).encode()
    url = signed_url(CC_APP_KEY, CC_APP_SECRET, "POST", f"http://testserver{path}", body)
    return await client.post(url, content=body, headers={"Content-Type": "application/json"})


def call_event(event_type: str, call_id: str = "CA2026112110300000001", **fields: Any
               ) -> dict[str, Any]:  # fmt: skip
    """A pushed event as the call centre sends it (an answered inbound call at seat 8001)."""
    event = {
        "eventId": f"{call_id}-{event_type}", "eventType": event_type, "callId": call_id,
        "direction": "IB", "customerNumber": ZHANG_WEI, "hotline": "4008206666",
        "cno": "8001", "agentName": "王小燕", "agentEmail": "nobody@example.com",
        "status": event_type, "startTime": "2026-11-21 10:30:00", "answerTime": None,
        "endTime": None, "talkSeconds": 0, "hangupSide": None, "endReason": None,
        "recordUrl": None, "asrText": [], "userField": None,
    }  # fmt: skip
    if event_type in ("ANSWERED", "HANGUP"):
        event["answerTime"] = "2026-11-21 10:30:06"
    if event_type == "HANGUP":
        event |= {
            "endTime": "2026-11-21 10:33:18",
            "talkSeconds": 192,
            "hangupSide": "CUSTOMER",
            "endReason": "NORMAL",
            "recordUrl": f"/recordings/{call_id}.wav",
            "asrText": [
                {"role": "AGENT", "text": "您好，云栖优选客服中心。", "offset": 0},
                {"role": "CUSTOMER", "text": "我的快递到哪了？", "offset": 4.2},
            ],
        }
    return {**event, **fields}
