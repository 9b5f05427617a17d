"""Fixtures of the API channel tests: Relaydesk and a small "app backend" on loopback.

The app backend receives agents' replies on its webhook (recording each request, answering
with the status a test sets) and posts its users' messages signed with the real
``standardwebhooks`` library, as a third party would.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from conftest import Org, login
from fastapi import FastAPI
from standardwebhooks import Webhook
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import relaydesk.channels.api_channel
import relaydesk.conversations.delivery
from relaydesk.channels import apply_settings
from relaydesk.channels.api_channel import router
from relaydesk.channels.sms.runtime import bind_keyring
from relaydesk.conversations.models import Inbox
from relaydesk.demo_systems.runner import RunningServer, start_server
from relaydesk.kit.db import Database

API = "/api/v1"


def mount_channel(app: FastAPI) -> None:
    """What the lead's wiring does: the API channel's routes under /api/v1."""
    if not any(getattr(r, "path", "").startswith(f"{API}/channels/api") for r in app.routes):
        app.include_router(router, prefix=API)


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class AppBackend:
    """The app's webhook receiver."""

    server: RunningServer | None = None
    received: list[Received] = field(default_factory=list)
    answer: int = 200

    @property
    def webhook_url(self) -> str:
        assert self.server is not None
        return f"{self.server.url}/relaydesk/webhook"

    def asgi(self) -> Starlette:
        async def webhook(request: Request) -> JSONResponse:
            self.received.append(Received(dict(request.headers), await request.body()))
            return JSONResponse({"ok": self.answer < 300}, self.answer)

        return Starlette(routes=[Route("/relaydesk/webhook", webhook, methods=["POST"])])


@dataclass
class Relaydesk:
    server: RunningServer
    http: httpx.AsyncClient

    def messages_url(self, inbox_id: uuid.UUID) -> str:
        return f"{self.server.url}{API}/channels/api/{inbox_id}/messages"

    async def post(self, inbox_id: uuid.UUID, payload: dict[str, Any] | bytes, secret: str, *,
                   msg_id: str | None = None, at: dt.datetime | None = None,
                   headers: dict[str, str] | None = None) -> httpx.Response:  # fmt: skip
        """The app posts a message, signed with ``standardwebhooks``."""
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
        at = at or dt.datetime.now(dt.UTC)
        signed = {
            "webhook-id": msg_id, "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": Webhook(secret).sign(msg_id, at, body.decode()),
            "content-type": "application/json",
        }  # fmt: skip
        if headers is not None:
            signed = headers
        return await self.http.post(self.messages_url(inbox_id), content=body, headers=signed)


@pytest.fixture
async def app_backend() -> AsyncIterator[AppBackend]:
    app = AppBackend()
    app.server = await start_server(app.asgi(), name="app-backend")
    yield app
    await app.server.stop()


@pytest.fixture
async def relaydesk(app: FastAPI, db: Database) -> AsyncIterator[Relaydesk]:
    mount_channel(app)
    bind_keyring(db, app.state.keyring)
    server = await start_server(app, name="relaydesk")
    async with httpx.AsyncClient(timeout=10) as http:
        yield Relaydesk(server, http)
    await server.stop()


def api_settings(backend: AppBackend | None, **overrides: Any) -> dict[str, Any]:
    return {
        "app_id": "wx8d3a1f2b", "webhook_url": backend.webhook_url if backend else None,
        "unionid_namespace": "yunqi-open", "allow_private": ["127.0.0.1"], **overrides,
    }  # fmt: skip


async def make_api_inbox(app: FastAPI, db: Database, org: Org, settings: dict[str, Any],
                         name: str = "云栖 App") -> uuid.UUID:  # fmt: skip
    """What InboxService.create does for an api inbox once wired: validate and encrypt."""
    async with db.job(org.id) as session:
        inbox = Inbox(tenant_id=org.id, name=name, channel="api")
        apply_settings(inbox, settings, app.state.keyring)
        session.add(inbox)
        await session.flush()
        return inbox.id


async def new_secret(client: httpx.AsyncClient, org: Org, inbox_id: uuid.UUID) -> str:
    admin = await login(client, org, "admin")
    r = await client.post(f"{API}/channels/api/{inbox_id}/signing-secret", headers=admin)
    assert r.status_code == 200, r.text
    secret: str = r.json()["signing_secret"]
    return secret


def app_message(text: str = "我的订单能改地址吗？", **fields: Any) -> dict[str, Any]:
    return {
        "message_id": f"m-{uuid.uuid4().hex[:12]}",
        "user": {"id": "u10086", "openid": "oX7f-2k9Qm3", "unionid": "uQ81xk2", "name": "王小明"},
        "text": text, **fields,
    }  # fmt: skip
