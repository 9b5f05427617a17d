"""Event scenarios of the events the realtime feed added (contract:
tests/events/test_every_event.py): ``message.status_changed`` and ``notification.created``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from conftest import Org, login, settle
from sqlalchemy import select

from relaydesk.events.models import OutboxEvent
from relaydesk.kit.db import Database

API = "/api/v1"


async def _rows(db: Database, org: Org, event_type: str) -> list[OutboxEvent]:
    async with db.job(org.id) as session:
        stmt = select(OutboxEvent).where(OutboxEvent.type == event_type).order_by(OutboxEvent.id)
        return list(await session.scalars(stmt))


async def message_status_changed(client: httpx.AsyncClient, db: Database, org_a: Org) -> None:
    """A reply on an app inbox that has no webhook to send it to: the delivery job fails it."""
    owner = await login(client, org_a, "owner")
    app_inbox = {"name": "云栖 App", "channel": "api", "settings": {"app_id": "wx8d3a1f2b"}}
    inbox = (await client.post(f"{API}/inboxes", headers=owner, json=app_inbox)).json()
    customer = (await client.post(f"{API}/customers", headers=owner,
                                  json={"name": "王小明"})).json()  # fmt: skip
    r = await client.post(f"{API}/conversations", headers=owner, json={
        "inbox_id": inbox["id"], "customer_id": customer["id"],
        "message": {"text": "您的地址已经改好了"}})  # fmt: skip
    assert r.status_code == 201, r.text
    await settle(db)  # the message.deliver job runs
    (row,) = await _rows(db, org_a, "message.status_changed")
    assert row.key == r.json()["id"] and row.payload["channel"] == "api"
    assert row.payload["previous_status"] == "queued" and row.payload["status"] == "failed"
    assert row.payload["error"], "the reason is part of the event"


async def notification_created(client: httpx.AsyncClient, db: Database, org_a: Org) -> None:
    agent = await login(client, org_a, "agent")
    r = await client.post(f"{API}/notifications/test", headers=agent)
    assert r.status_code == 201, r.text
    (row,) = await _rows(db, org_a, "notification.created")
    assert row.key == str(org_a.users["agent"]) == row.payload["user_id"]
    assert row.payload["notification_id"] == r.json()["id"]
    assert row.payload["title"] == r.json()["title"] and row.payload["source"] == {"kind": "test"}


SCENARIOS: dict[str, Callable[..., Awaitable[Any]]] = {
    "message.status_changed": message_status_changed,
    "notification.created": notification_created,
}
