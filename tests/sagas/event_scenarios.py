"""Scenarios of the saga events for tests/events/test_every_event.py: each starts a saga
through the API against the real demo systems, runs its jobs, and checks the outbox row."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from conftest import Org, login
from fastapi import FastAPI
from saga_support import API, BIG_ORDER, ORDER, connect, demo_systems, drive, events_of
from sqlalchemy import select

from relaydesk.demo.sagas import REFUND
from relaydesk.events.models import OutboxEvent
from relaydesk.kit.db import Database
from relaydesk.sagas.api import router
from relaydesk.sagas.calls import bind_runtime

#: the refund, but its undo closes a ticket that does not exist: the undo is refused
BROKEN_UNDO: dict[str, Any] = {
    **REFUND,
    "name": "refund-broken-undo",
    "steps": [
        {**REFUND["steps"][0], "compensate": {
            "action": "close_ticket", "params": {"ticket_no": "GD000000000000", "reason": "x"}}},
        REFUND["steps"][1],
    ],
}  # fmt: skip


async def _run(
    app: FastAPI, client: httpx.AsyncClient, org: Org, db: Database, values: dict[str, Any],
    definition: dict[str, Any],
) -> OutboxEvent:  # fmt: skip
    if not any(getattr(r, "path", "") == f"{API}/sagas" for r in app.routes):
        app.include_router(router, prefix=API)
    bind_runtime(db, app.state.connectors, app.state.keyring)
    owner = await login(client, org, "owner")
    async with demo_systems() as systems:
        await connect(client, owner, systems.urls)
        r = await client.post(f"{API}/sagas/definitions", headers=owner,
                              json={"definition": definition})  # fmt: skip
        assert r.status_code == 201, r.text
        r = await client.post(f"{API}/sagas", headers=owner,
                              json={"definition": definition["name"], "input": values})  # fmt: skip
        assert r.status_code == 202, r.text
        await drive(db)
    (event,) = await events_of(db)
    assert event.key == r.json()["id"] and event.payload["saga_id"] == r.json()["id"]
    assert event.source == {"kind": "saga", "saga_id": r.json()["id"],
                            "definition": definition["name"]}  # fmt: skip
    assert event.payload["input"]["customer_mobile"] != values["customer_mobile"], "masked"
    async with db.job(system=True) as session:
        rows = await session.execute(select(OutboxEvent).where(OutboxEvent.id == event.id))
        assert rows.scalar_one().tenant_id == org.id
    return event


async def completed(app: FastAPI, client: httpx.AsyncClient, org_a: Org, db: Database) -> None:
    event = await _run(app, client, org_a, db, ORDER, REFUND)
    assert event.type == "saga.completed" and event.payload["error"] is None
    assert [s["status"] for s in event.payload["steps"]] == ["succeeded"] * 4


async def compensated(app: FastAPI, client: httpx.AsyncClient, org_a: Org, db: Database) -> None:
    event = await _run(app, client, org_a, db, BIG_ORDER, REFUND)
    assert event.type == "saga.compensated"
    assert event.payload["error"]["code"] == "refund_needs_review"
    assert event.payload["steps"][0]["compensation"] == "done"


async def failed(app: FastAPI, client: httpx.AsyncClient, org_a: Org, db: Database) -> None:
    event = await _run(app, client, org_a, db, BIG_ORDER, BROKEN_UNDO)
    assert event.type == "saga.failed"
    assert event.payload["steps"][0]["compensation"] == "failed"
    assert "undo it by hand in tickets" in event.payload["attention"][0]


SCENARIOS: dict[str, Callable[..., Awaitable[None]]] = {
    "saga.completed": completed,
    "saga.compensated": compensated,
    "saga.failed": failed,
}
