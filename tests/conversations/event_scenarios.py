"""Event scenarios of the conversations domain (contract: tests/events/test_every_event.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from conftest import Org, login
from conversations_support import customer_says, make_customer, make_inbox
from sqlalchemy import select

from relaydesk.events.models import OutboxEvent
from relaydesk.kit.db import Database

API = "/api/v1"


async def _rows(db: Database, org: Org, event_type: str) -> list[OutboxEvent]:
    async with db.job(org.id) as session:
        rows = await session.scalars(select(OutboxEvent).where(OutboxEvent.type == event_type))
        return list(rows)


async def _started(client: httpx.AsyncClient, org: Org) -> tuple[dict[str, str], dict[str, Any]]:
    owner = await login(client, org, "owner")
    inbox = (await client.post(f"{API}/inboxes", headers=owner,
                               json={"name": "售后邮箱", "channel": "email"})).json()  # fmt: skip
    person = {"name": "周芷若", "phone": "13600001111"}
    customer = (await client.post(f"{API}/customers", headers=owner, json=person)).json()
    r = await client.post(f"{API}/conversations", headers=owner, json={
        "inbox_id": inbox["id"], "customer_id": customer["id"], "subject": "开票",
        "message": {"text": "您好，发票已开具。"}})  # fmt: skip
    assert r.status_code == 201, r.text
    return owner, r.json()


async def conversation_created(client: httpx.AsyncClient, db: Database, org_a: Org) -> None:
    _, started = await _started(client, org_a)
    (row,) = await _rows(db, org_a, "conversation.created")
    assert row.key == started["id"] and row.payload["channel"] == "email"
    assert row.payload["subject"] == "开票"


async def message_sent(client: httpx.AsyncClient, db: Database, org_a: Org) -> None:
    _, started = await _started(client, org_a)
    (row,) = await _rows(db, org_a, "message.sent")
    assert row.key == started["id"] and row.payload["text"] == "您好，发票已开具。"
    assert row.payload["author_type"] == "agent"


async def message_received(db: Database, org_a: Org) -> None:
    inbox = await make_inbox(db, org_a)
    conversation, message, _ = await customer_says(
        db, org_a, inbox, await make_customer(db, org_a), "我要退货", external_id="chat-1"
    )
    (row,) = await _rows(db, org_a, "message.received")
    assert row.key == str(conversation) and row.payload["message_id"] == str(message)
    assert row.payload["text"] == "我要退货" and row.source["kind"] == "channel"


async def conversation_assigned(client: httpx.AsyncClient, db: Database, org_a: Org) -> None:
    owner, started = await _started(client, org_a)
    body = {"assignee_id": str(org_a.users["agent"]), "note": "请跟进"}
    r = await client.post(f"{API}/conversations/{started['id']}/assign", headers=owner, json=body)
    assert r.status_code == 200
    (row,) = await _rows(db, org_a, "conversation.assigned")
    assert row.payload["assignee_id"] == str(org_a.users["agent"])
    assert row.payload["previous_assignee_id"] == str(org_a.users["owner"])


async def conversation_status_changed(client: httpx.AsyncClient, db: Database, org_a: Org) -> None:
    owner, started = await _started(client, org_a)
    r = await client.patch(f"{API}/conversations/{started['id']}", headers=owner,
                           json={"status": "resolved"})  # fmt: skip
    assert r.status_code == 200
    (row,) = await _rows(db, org_a, "conversation.status_changed")
    assert (row.payload["previous_status"], row.payload["status"]) == ("open", "resolved")


SCENARIOS: dict[str, Callable[..., Awaitable[None]]] = {
    "conversation.created": conversation_created,
    "message.sent": message_sent,
    "message.received": message_received,
    "conversation.assigned": conversation_assigned,
    "conversation.status_changed": conversation_status_changed,
}
