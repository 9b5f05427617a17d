"""Event scenarios of the webhooks domain: ``endpoint.disabled``.

The real path: an endpoint created through the API, an event handed to the webhooks
consumer, the attempt job POSTing to a receiver on loopback that answers 410 Gone, which
disables the endpoint and emits the event. Contract: tests/events/test_every_event.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from conftest import Org, login
from sqlalchemy import select
from webhook_support import create_endpoint, publish, run_due, serve_receiver

from relaydesk.events.models import OutboxEvent
from relaydesk.kit.db import Database
from relaydesk.kit.ratelimit import MemoryRateLimiter
from relaydesk.webhooks import runtime as webhook_runtime
from relaydesk.webhooks.api import router

Scenario = Callable[..., Awaitable[None]]


async def endpoint_disabled(app: Any, client: httpx.AsyncClient, db: Database, org_a: Org) -> None:
    if not any(getattr(r, "path", "").startswith("/api/v1/webhooks") for r in app.routes):
        app.include_router(router, prefix="/api/v1")
    webhook_runtime.configure(keyring=app.state.keyring, limiter=MemoryRateLimiter())
    try:
        async with serve_receiver() as receiver:
            owner = await login(client, org_a, "owner")
            created = await create_endpoint(client, owner, receiver.url("gone") + "?key=s3cr3t")
            await publish(db, org_a.id, "custom.ping", {"n": 1})
            await run_due(db)
    finally:
        await webhook_runtime.reset()
    async with db.job(org_a.id) as session:
        [row] = (
            await session.scalars(
                select(OutboxEvent).where(OutboxEvent.type == "endpoint.disabled")
            )
        ).all()
    assert row.key == created["id"]
    assert row.source == {"kind": "webhooks", "endpoint_id": created["id"]}
    payload = row.payload
    assert payload["endpoint_id"] == created["id"] and payload["cause"] == "gone"
    assert payload["url"] == receiver.url("gone"), "no query string (it may hold a token)"
    assert payload["reason"] == "the receiver answered 410 Gone"
    assert payload["last_error"].startswith("HTTP 410 Gone")


SCENARIOS: dict[str, Scenario] = {"endpoint.disabled": endpoint_disabled}
