"""Fixtures of the SMS channel tests: the demo SMS gateway and Relaydesk, both on loopback.

The gateway pushes its callbacks to the Relaydesk app served by uvicorn; delivery reports are
pushed when a test asks (``report_delay=None``), so that nothing touches the test's one
database connection while a job runs.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from conftest import Org, login
from fastapi import FastAPI
from sqlalchemy import select

import relaydesk.channels.sms
import relaydesk.conversations.delivery
from relaydesk.channels import apply_settings
from relaydesk.channels.sms import bind_keyring, router
from relaydesk.conversations.models import Conversation, Inbox, Message
from relaydesk.demo_systems.runner import RunningServer, start_server
from relaydesk.demo_systems.sms_gateway import (
    SMS_ACCESS_KEY_ID,
    SMS_ACCESS_KEY_SECRET,
    SMS_ADMIN_TOKEN,
    SmsGatewayConfig,
    create_sms_gateway_app,
)
from relaydesk.kit.db import Database

API = "/api/v1"
ADMIN = {"X-Admin-Token": SMS_ADMIN_TOKEN}


def mount_channel(app: FastAPI) -> None:
    """What the lead's wiring does: the SMS callbacks under /api/v1."""
    if not any(getattr(r, "path", "").startswith(f"{API}/channels/sms") for r in app.routes):
        app.include_router(router, prefix=API)


@dataclass
class Gateway:
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

    async def sent(self) -> list[dict[str, Any]]:
        return list((await self.admin("GET", "/admin/messages"))["messages"])


@dataclass
class Relaydesk:
    server: RunningServer

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    config = SmsGatewayConfig(report_delay=None, retry_delays=(0.05,))
    server = await start_server(create_sms_gateway_app(config), name="sms-gateway")
    async with httpx.AsyncClient(timeout=10) as http:
        yield Gateway(server, http)
    await server.stop()


@pytest.fixture
async def relaydesk(app: FastAPI, db: Database) -> AsyncIterator[Relaydesk]:
    mount_channel(app)
    bind_keyring(db, app.state.keyring)
    server = await start_server(app, name="relaydesk")
    yield Relaydesk(server)
    await server.stop()


def sms_settings(gateway: Gateway, **overrides: Any) -> dict[str, Any]:
    return {
        "gateway_url": gateway.url, "access_key_id": SMS_ACCESS_KEY_ID,
        "access_key_secret": SMS_ACCESS_KEY_SECRET, "sign_name": "云栖优选",
        "sender_number": "1069012345678", "allow_private": ["127.0.0.1"], **overrides,
    }  # fmt: skip


async def make_sms_inbox(app: FastAPI, db: Database, org: Org, settings: dict[str, Any],
                         name: str = "短信客服") -> uuid.UUID:  # fmt: skip
    """What InboxService.create does for an sms inbox once wired: validate and encrypt."""
    async with db.job(org.id) as session:
        inbox = Inbox(tenant_id=org.id, name=name, channel="sms")
        apply_settings(inbox, settings, app.state.keyring)
        session.add(inbox)
        await session.flush()
        return inbox.id


async def connect(gateway: Gateway, relaydesk: Relaydesk, inbox_id: uuid.UUID) -> None:
    """The gateway console: point the callbacks at the inbox."""
    base = f"{relaydesk.url}{API}/channels/sms/{inbox_id}"
    urls = {"inbound_url": f"{base}/inbound", "report_url": f"{base}/reports"}
    await gateway.admin("PUT", "/admin/callbacks", json=urls)


async def text_in(gateway: Gateway, phone: str, content: str, **extra: Any) -> dict[str, Any]:
    """A customer texts the service number; returns the gateway's push outcome."""
    fields = {"phone_number": phone, "content": content, **extra}
    return await gateway.admin("POST", "/admin/inbound", json=fields)


async def reply(client: httpx.AsyncClient, org: Org, conversation_id: uuid.UUID,
                text: str) -> uuid.UUID:  # fmt: skip
    agent = await login(client, org, "agent")
    r = await client.post(f"{API}/conversations/{conversation_id}/messages", headers=agent,
                          json={"text": text})  # fmt: skip
    assert r.status_code == 201, r.text
    return uuid.UUID(r.json()["id"])


async def conversations(db: Database, org: Org, inbox_id: uuid.UUID) -> list[Conversation]:
    async with db.job(org.id) as session:
        rows = await session.scalars(
            select(Conversation).where(Conversation.inbox_id == inbox_id).order_by(Conversation.id)
        )
        return list(rows)


async def message(db: Database, org: Org, message_id: uuid.UUID) -> Message:
    async with db.job(org.id) as session:
        found = await session.get(Message, message_id)
        assert found is not None
        return found


async def messages(db: Database, org: Org, conversation_id: uuid.UUID) -> list[Message]:
    async with db.job(org.id) as session:
        rows = await session.scalars(
            select(Message).where(Message.conversation_id == conversation_id).order_by(Message.id)
        )
        return list(rows)
