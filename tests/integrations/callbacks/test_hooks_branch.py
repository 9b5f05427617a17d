"""The hook's fast paths and their fallbacks: ``HooksBranch`` serves callbacks ahead of the
platform middleware and answers exactly as the routed endpoint does (the route stays for apps
without the branch); outside tests the inbox writer stores on a connection of its own (no ORM
session; PostgreSQL in autocommit), each callback committed before its answer."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from conftest import Org, make_org
from fastapi import FastAPI
from hooks_support import compact, inbox_count, make_instance, ticket_event, ticket_headers
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from relaydesk.app import create_app
from relaydesk.config import Settings
from relaydesk.integrations.hooks_api import RECEIVED, HooksBranch
from relaydesk.integrations.inbox import InboxEntry, insert_entries
from relaydesk.integrations.models import CallbackInbox
from relaydesk.kit.db import Database
from relaydesk.kit.metrics import HTTP_REQUESTS

HOOK = "/hooks/acme/tickets/ticket_status_changed"
TEMPLATE = "/hooks/{tenant_slug}/{instance_name}/{callback}"


@pytest.fixture(params=["branch", "router"])
def served_by(request: pytest.FixtureRequest, app: FastAPI) -> Iterator[str]:
    """Each test twice: through HooksBranch (as create_app builds the app), and through the
    router alone (the branch removed before the first request builds the middleware stack)."""
    assert any(m.cls is HooksBranch for m in app.user_middleware)
    if request.param == "router":
        app.user_middleware = [m for m in app.user_middleware if m.cls is not HooksBranch]
    yield str(request.param)


@pytest.fixture
async def tickets(db: Database, settings: Settings, org_a: Org) -> Org:
    await make_instance(db, settings, org_a.id)
    return org_a


def _count(status: str) -> float:
    return HTTP_REQUESTS.labels("POST", TEMPLATE, status)._value.get()


def _outcome(name: str) -> float:
    return RECEIVED.labels(name)._value.get()


async def test_both_paths_answer_store_and_count_alike(
    client: httpx.AsyncClient, db: Database, tickets: Org, served_by: str
) -> None:
    before = [_outcome(name) for name in ("accepted", "duplicate", "rejected")]
    ok, unauthorized = _count("202"), _count("401")
    event = ticket_event()
    body = compact(event)
    headers = {**ticket_headers(body), "X-Request-ID": "callback-0001"}
    r = await client.post(HOOK, content=body, headers=headers)
    assert r.status_code == 202, r.text
    assert r.headers["x-request-id"] == "callback-0001"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["content-type"] == "application/json"
    assert set(r.json()) == {"status", "event_id", "id"}
    assert r.json()["event_id"] == event["eventId"]
    r = await client.post(HOOK, content=body, headers=ticket_headers(body))
    assert (r.status_code, r.json()) == (200, {"status": "duplicate", "event_id": event["eventId"]})
    assert len(r.headers["x-request-id"]) == 32  # one was made
    r = await client.post(HOOK, content=body, headers=ticket_headers(body, secret="guessed"))
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "invalid_signature"
    assert r.json()["error"]["request_id"] == r.headers["x-request-id"]
    assert await inbox_count(db, tickets.id) == 1
    after = [_outcome(name) for name in ("accepted", "duplicate", "rejected")]
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 1, 1]
    assert (_count("202") - ok, _count("401") - unauthorized) == (1, 1)


async def test_a_streamed_oversize_body_is_413_on_both_paths(
    client: httpx.AsyncClient, db: Database, settings: Settings, tickets: Org, served_by: str
) -> None:
    chunk = b"x" * (settings.http.max_body_bytes // 2 + 1)

    async def stream() -> AsyncIterator[bytes]:  # no Content-Length: the limit is counted
        for _ in range(3):
            yield chunk

    r = await client.post(HOOK, content=stream(), headers=ticket_headers(b""))
    assert r.status_code == 413
    error: dict[str, Any] = r.json()["error"]
    assert (error["code"], error["details"]) == ("payload_too_large", None)  # as routed
    assert error["request_id"] == r.headers["x-request-id"]
    assert await inbox_count(db, tickets.id) == 0


async def test_other_methods_and_paths_under_hooks_go_to_the_router(
    client: httpx.AsyncClient, tickets: Org, served_by: str
) -> None:
    body = compact(ticket_event())
    assert (await client.get(HOOK)).status_code == 405
    for path in (HOOK + "/extra", "/hooks/acme//ticket_status_changed", "/hooks/acme/tickets"):
        r = await client.post(path, content=body, headers=ticket_headers(body))
        assert r.status_code == 404, path


# --- as deployed: a Database whose sessions really commit ------------------------------------


@pytest.fixture
async def live(
    committing_engine: AsyncEngine, settings: Settings
) -> AsyncIterator[tuple[httpx.AsyncClient, Database, Org]]:
    db = Database(committing_engine)
    org = await make_org(db, f"hk-{uuid.uuid4().hex[:8]}", roles=())
    await make_instance(db, settings, org.id)
    transport = httpx.ASGITransport(app=create_app(settings, db=db))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client, db, org


async def test_concurrent_callbacks_are_each_committed_once_before_their_answer(
    live: tuple[httpx.AsyncClient, Database, Org],
) -> None:
    client, db, org = live
    hook = f"/hooks/{org.slug}/tickets/ticket_status_changed"
    bodies = [compact(ticket_event(version=n + 2)) for n in range(24)]
    sent = bodies + bodies[:6]  # six are sent twice, at the same time

    async def post(body: bytes) -> httpx.Response:
        return await client.post(hook, content=body, headers=ticket_headers(body))

    answers = await asyncio.gather(*(post(body) for body in sent))
    assert Counter(r.status_code for r in answers) == {202: 24, 200: 6}
    per_event = Counter((r.json()["event_id"], r.status_code) for r in answers)
    assert all(per_event[(event_id, 202)] == 1 for event_id, _ in per_event)
    accepted = {uuid.UUID(r.json()["id"]) for r in answers if r.status_code == 202}
    async with db.job(org.id) as session:  # another connection sees every row at once
        rows = (await session.execute(select(CallbackInbox.id, CallbackInbox.tenant_id))).all()
    assert {row.id for row in rows} == accepted
    assert {row.tenant_id for row in rows} == {org.id}
    assert "callback_inbox_writes" in db.extensions  # the writer's own connection


async def test_insert_entries_without_a_session(
    live: tuple[httpx.AsyncClient, Database, Org], settings: Settings
) -> None:
    _, db, org = live
    instance = await make_instance(db, settings, org.id, name="second")

    def entry(event_id: str) -> InboxEntry:
        return InboxEntry(org.id, instance.id, "ticket_status_changed", event_id,
                          "ticket.status_changed", "GD1", "3", {"eventId": event_id})  # fmt: skip

    first = await insert_entries(db, [entry("a"), entry("b")])
    assert sorted(key[3] for key in first) == ["a", "b"]
    again = await insert_entries(db, [entry("b"), entry("c")])  # "b" is a duplicate
    assert [key[3] for key in again] == ["c"]
    async with db.job(org.id) as session:
        stored = await session.execute(
            select(CallbackInbox.event_id, CallbackInbox.payload, CallbackInbox.status)
            .where(CallbackInbox.instance_id == instance.id)
            .order_by(CallbackInbox.event_id)
        )
        assert [tuple(row) for row in stored] == [
            ("a", {"eventId": "a"}, "pending"),
            ("b", {"eventId": "b"}, "pending"),
            ("c", {"eventId": "c"}, "pending"),
        ]
