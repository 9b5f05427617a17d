"""Helpers of the web chat tests: the mounted app, a real server on loopback, a visitor."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn
import websockets
from conftest import Org
from fastapi import FastAPI
from sqlalchemy import select

import relaydesk.conversations.delivery
import relaydesk.routing.tasks  # noqa: F401 - routing.drain, enqueued when agents go online
from relaydesk.channels import apply_settings
from relaydesk.channels.webchat import mount
from relaydesk.conversations.models import Conversation, Inbox, Message
from relaydesk.events.models import OutboxEvent
from relaydesk.jobs import JobRunner
from relaydesk.kit.db import Database

SITE = "https://shop.example.com"


@pytest.fixture
def wapp(app: FastAPI) -> FastAPI:
    """The app with the web chat mounted (what relaydesk/app.py will do)."""
    mount(app)
    return app


@pytest.fixture
async def wclient(wapp: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=wapp, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def make_web_inbox(db: Database, org: Org, app: FastAPI, **settings: Any) -> uuid.UUID:
    """A web chat inbox whose settings went through the channel's validation."""
    settings.setdefault("allowed_origins", [SITE])
    async with db.job(org.id) as session:
        inbox = Inbox(tenant_id=org.id, name=f"官网 {uuid.uuid4().hex[:6]}", channel="web_chat")
        apply_settings(inbox, settings, app.state.keyring)
        session.add(inbox)
        await session.flush()
        return inbox.id


async def go_online(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    r = await client.put("/api/v1/routing/presence/me", headers=headers, json={"status": "online"})
    assert r.status_code == 200, r.text


async def start(
    client: httpx.AsyncClient, inbox: uuid.UUID, origin: str = SITE, **body: Any
) -> httpx.Response:
    return await client.post(f"/widget/api/{inbox}/session", json=body, headers={"Origin": origin})


async def token_for(client: httpx.AsyncClient, inbox: uuid.UUID, **body: Any) -> str:
    r = await start(client, inbox, **body)
    assert r.status_code == 200, r.text
    return str(r.json()["token"])


@contextlib.asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[str]:
    """``ws://127.0.0.1:<port>`` of ``app`` served by uvicorn in this event loop."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        app, log_config=None, access_log=False, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        assert not task.done(), "the test server did not start"
        await asyncio.sleep(0.01)
    try:
        yield f"ws://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()


async def visitor(
    base: str, inbox: uuid.UUID, token: str, after: str | None = None, origin: str = SITE
) -> tuple[Any, dict[str, Any]]:
    """A visitor's socket after its hello: (socket, the ready frame)."""
    ws = await websockets.connect(f"{base}/widget/ws/{inbox}", origin=origin)  # type: ignore[arg-type]
    await ws.send(json.dumps({"type": "hello", "token": token, "after": after}))
    return ws, await next_frame(ws, "ready")


async def next_frame(ws: Any, kind: str, wait: float = 5) -> dict[str, Any]:
    """The next frame of ``kind`` (others are skipped)."""
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), wait))
        if frame["type"] == kind:
            return frame  # type: ignore[no-any-return]


async def say(ws: Any, text: str, client_id: str, **extra: Any) -> dict[str, Any]:
    """Send a message; the ack or error frame that answers it."""
    await ws.send(json.dumps({"type": "message", "text": text, "client_id": client_id, **extra}))
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
        if frame["type"] in ("ack", "error") and frame.get("client_id") == client_id:
            return frame  # type: ignore[no-any-return]


async def run_jobs(db: Database) -> None:
    while await JobRunner(db).run_once():
        pass


async def conversations(db: Database, org: Org, inbox: uuid.UUID) -> list[Conversation]:
    async with db.job(org.id) as session:
        rows = await session.scalars(select(Conversation).where(Conversation.inbox_id == inbox))
        return list(rows)


async def messages(db: Database, org: Org, conversation: uuid.UUID) -> list[Message]:
    async with db.job(org.id) as session:
        stmt = select(Message).where(Message.conversation_id == conversation).order_by(Message.id)
        return list(await session.scalars(stmt))


async def event_types(db: Database, org: Org) -> list[str]:
    async with db.job(org.id) as session:
        return list(await session.scalars(select(OutboxEvent.type).order_by(OutboxEvent.id)))
