"""``/api/v1/events``: the log, delivery status, dead letters and replay, as a user sees them."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from conftest import Org, login
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.audit.models import AuditEntry
from relaydesk.events import consumers as registry
from relaydesk.events import emit
from relaydesk.events.consumers import Consumer, register_consumer
from relaydesk.events.dispatch import Dispatcher
from relaydesk.events.envelope import Envelope
from relaydesk.events.inprocess import InProcessBackend
from relaydesk.events.relay import Relay
from relaydesk.kit.db import Database

API = "/api/v1/events"
SHIPPED = {"order_no": "SO1001", "status": "shipped", "carrier": "顺丰速运",
           "tracking_no": "SF100200300", "receiver_phone": "13912345678",
           "receiver_name": "张三"}  # fmt: skip
broken: set[uuid.UUID] = set()  # events the test consumer refuses


async def _notes(session: AsyncSession, envelope: Envelope) -> None:
    if envelope.id in broken:
        raise ConnectionError("ticket system down")


@pytest.fixture
def events_app(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> Iterator[FastAPI]:
    """The events router (until app.py includes it) and our consumer only."""
    if not any(getattr(r, "path", "") == API for r in app.router.routes):
        from relaydesk.events.api import router

        before = len(app.router.routes)
        app.include_router(router, prefix="/api/v1")
        added = app.router.routes[before:]
        del app.router.routes[before:]
        app.router.routes[0:0] = added
    monkeypatch.setattr(registry, "_CONSUMERS", {})
    register_consumer(Consumer("test.notes", _notes, types=("order.*",), max_attempts=2))
    broken.clear()
    yield app


async def _emit(db: Database, org: Org, order_no: str, kind: str = "order.shipped") -> uuid.UUID:
    async with db.job(org.id) as session:
        envelope = await emit(session, kind, {**SHIPPED, "order_no": order_no}, tenant_id=org.id)
    return envelope.id


async def _deliver(db: Database) -> Dispatcher:
    dispatcher = Dispatcher(db, retry_base=0.0001)
    relay = Relay(db, InProcessBackend(dispatcher))
    while await relay.run_once():
        pass
    return dispatcher


async def _get(client: httpx.AsyncClient, url: str, headers: dict[str, str], **params: Any
               ) -> dict[str, Any]:  # fmt: skip
    r = await client.get(url, headers=headers, params=params)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


pytestmark = pytest.mark.usefixtures("events_app")


async def test_list_filter_page_and_mask(
    client: httpx.AsyncClient, db: Database, org_a: Org, org_b: Org
) -> None:
    start = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    ids = [await _emit(db, org_a, f"SO{i}") for i in range(3)]
    paid = await _emit(db, org_a, "SO9", "order.paid")
    await _emit(db, org_b, "SO-B")
    admin = await login(client, org_a, "admin")
    page = await _get(client, API, admin, limit=2)
    assert [e["id"] for e in page["items"]] == [str(paid), str(ids[2])]  # newest first
    rest = await _get(client, API, admin, limit=2, cursor=page["next_cursor"])
    assert [e["id"] for e in rest["items"]] == [str(ids[1]), str(ids[0])]
    assert rest["next_cursor"] is None
    shipped = await _get(client, API, admin, type="order.shipped", key="SO1")
    assert [e["id"] for e in shipped["items"]] == [str(ids[1])]
    family = await _get(client, API, admin, type="order.*", since=start.isoformat())
    assert len(family["items"]) == 4  # org_b's event is not visible
    later = await _get(client, API, admin, since=(start + dt.timedelta(hours=1)).isoformat())
    assert later["items"] == []
    payload = shipped["items"][0]["payload"]
    assert payload["receiver_phone"] != "13912345678" and payload["receiver_name"] != "张三"
    assert payload["carrier"] == "顺丰速运"
    owner = await login(client, org_a, "owner")  # holds customers.pii.view
    clear = await _get(client, f"{API}/{ids[1]}", owner)
    assert clear["payload"]["receiver_phone"] == "13912345678"
    other = await login(client, org_b, "admin")
    r = await client.get(f"{API}/{ids[1]}", headers=other)
    assert r.status_code == 404


async def test_status_dead_letter_and_replay_of_one(
    client: httpx.AsyncClient, db: Database, org_a: Org
) -> None:
    good, bad, behind = (await _emit(db, org_a, "SO-OK"), await _emit(db, org_a, "SO-BAD"),
                         await _emit(db, org_a, "SO-BAD", "order.delivered"))  # fmt: skip
    broken.add(bad)
    dispatcher = await _deliver(db)
    admin = await login(client, org_a, "admin")

    def status(detail: dict[str, Any]) -> dict[str, Any]:
        (only,) = detail["consumers"]
        assert only["consumer"] == "test.notes"
        return only  # type: ignore[no-any-return]

    assert status(await _get(client, f"{API}/{good}", admin))["status"] == "processed"
    failing = status(await _get(client, f"{API}/{bad}", admin))
    assert failing["status"] == "failing" and failing["attempts"] == 1
    assert "ticket system down" in failing["error"] and failing["next_attempt_at"]
    assert status(await _get(client, f"{API}/{behind}", admin))["status"] == "waiting"
    await dispatcher.retry_due()  # second failure: dead; the waiting one runs
    assert status(await _get(client, f"{API}/{behind}", admin))["status"] == "processed"
    dead = status(await _get(client, f"{API}/{bad}", admin))
    assert dead["status"] == "dead" and dead["attempts"] == 2
    letters = await _get(client, f"{API}/dead-letters", admin)
    assert [d["event_id"] for d in letters["items"]] == [str(bad)]
    assert (await _get(client, f"{API}/dead-letters", admin, consumer="other"))["items"] == []

    supervisor = await login(client, org_a, "supervisor")  # events.read only
    url = f"{API}/dead-letters/{dead['dead_letter_id']}/replay"
    assert (await client.post(url, headers=supervisor)).status_code == 403
    broken.clear()
    r = await client.post(url, headers=admin)
    assert r.status_code == 202 and r.json()["dead"] is False
    again = await client.post(url, headers=admin)
    assert again.status_code == 409 and "not dead" in again.json()["error"]["message"]
    assert status(await _get(client, f"{API}/{bad}", admin))["status"] == "pending"
    assert await dispatcher.retry_due() == 1
    assert status(await _get(client, f"{API}/{bad}", admin))["status"] == "processed"
    assert (await _get(client, f"{API}/dead-letters", admin))["items"] == []
    async with db.job(org_a.id) as session:
        actions = list(await session.scalars(select(AuditEntry.action)))
    assert "events.dead_letter_replayed" in actions


async def test_replay_since_fills_gaps_or_forces(
    client: httpx.AsyncClient, db: Database, org_a: Org
) -> None:
    start = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    first = await _emit(db, org_a, "SO-1")
    await _emit(db, org_a, "SO-2", "order.paid")
    dispatcher = await _deliver(db)
    admin = await login(client, org_a, "admin")
    body = {"since": start.isoformat()}
    r = await client.post(f"{API}/replay", headers=admin, json=body)
    assert r.status_code == 202, r.text
    assert r.json() == {"events": 2, "deliveries": 0, "skipped": 2}  # nothing missing
    r = await client.post(f"{API}/replay", headers=admin,
                          json={**body, "type": "order.shipped", "force": True})  # fmt: skip
    assert r.json() == {"events": 1, "deliveries": 1, "skipped": 0}
    detail = await _get(client, f"{API}/{first}", admin)
    assert detail["consumers"][0]["status"] == "pending"
    assert await dispatcher.retry_due() == 1
    detail = await _get(client, f"{API}/{first}", admin)
    assert detail["consumers"][0]["status"] == "processed"
    async with db.job(org_a.id) as session:
        entry = (await session.scalars(
            select(AuditEntry).where(AuditEntry.action == "events.replayed")
            .order_by(AuditEntry.seq.desc())
        )).first()  # fmt: skip
    assert entry is not None and entry.details["force"] is True
    assert entry.details["deliveries"] == 1


BAD_REPLAYS: list[tuple[dict[str, Any], list[str]]] = [
    ({"since": "2026-01-01T00:00:00"}, ["body", "since"]),  # no time zone
    ({"since": "2999-01-01T00:00:00Z"}, ["body", "since"]),
    ({"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, ["body", "until"]),
    ({"since": "2026-01-01T00:00:00Z", "consumer": "nobody"}, ["body", "consumer"]),
    ({"since": "2026-01-01T00:00:00Z", "type": "Order Shipped"}, ["body", "type"]),
    ({"since": "2026-01-01T00:00:00Z", "extra": 1}, ["body", "extra"]),
    ({}, ["body", "since"]),
]


async def test_bad_replay_requests_name_the_field(client: httpx.AsyncClient, org_a: Org) -> None:
    admin = await login(client, org_a, "admin")
    for body, loc in BAD_REPLAYS:
        r = await client.post(f"{API}/replay", headers=admin, json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["error"]["details"][0]["loc"][: len(loc)] == loc, body


async def test_bad_queries_are_4xx(client: httpx.AsyncClient, org_a: Org) -> None:
    admin = await login(client, org_a, "admin")
    r = await client.get(API, headers=admin, params={"type": "order..x"})
    assert r.status_code == 422 and r.json()["error"]["details"][0]["loc"] == ["query", "type"]
    r = await client.get(API, headers=admin, params={"since": "yesterday"})
    assert r.status_code == 422
    r = await client.get(API, headers=admin, params={"cursor": "%%%"})
    assert r.status_code == 400
    r = await client.get(f"{API}/{uuid.uuid4()}", headers=admin)
    assert r.status_code == 404
    r = await client.get(f"{API}/not-a-uuid", headers=admin)
    assert r.status_code == 422
    r = await client.post(f"{API}/dead-letters/{uuid.uuid4()}/replay", headers=admin)
    assert r.status_code == 404
    assert (await client.get(API)).status_code == 401
