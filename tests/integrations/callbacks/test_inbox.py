"""The inbox: group-committed storage, ordering by entity version, events into the outbox in the
processor's transaction, rejections by the event catalogue, retries."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from conftest import Org, login
from fastapi import FastAPI
from hooks_support import (
    SPEC,
    compact,
    inbox_rows,
    make_instance,
    mount_hooks,
    outbox_events,
    ticket_event,
    ticket_headers,
)
from sqlalchemy import event as sa_event
from sqlalchemy import select
from sqlalchemy.orm import Session

from relaydesk.config import Settings
from relaydesk.integrations import inbox_api
from relaydesk.integrations.inbox import (
    InboxEntry,
    InboxProcessor,
    InboxWriter,
    is_newer,
    process_pending,
    version_order,
)
from relaydesk.integrations.models import CallbackInbox, ConnectorInstance, EntityVersion
from relaydesk.kit.db import Database

HOOK = "/hooks/acme/tickets/ticket_status_changed"
INBOX_API = "/api/v1/connector-instances/{instance_id}/callbacks"
NO_DELAY = (0.0, 0.0, 0.0, 0.0)
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture(autouse=True)
def _hooks(app: FastAPI) -> None:
    mount_hooks(app)
    if not any(getattr(r, "path", "") == INBOX_API for r in app.router.routes):
        app.include_router(inbox_api.router, prefix="/api/v1")  # until app.py includes it


@pytest.fixture
async def instance(db: Database, settings: Settings, org_a: Org) -> ConnectorInstance:
    return await make_instance(db, settings, org_a.id, sandbox=True)


async def send(client: httpx.AsyncClient, event: dict[str, Any]) -> httpx.Response:
    body = compact(event)
    r = await client.post(HOOK, content=body, headers=ticket_headers(body))
    assert r.status_code in (200, 202), r.text
    return r


async def stored_version(db: Database, org: Org, key: str) -> str | None:
    async with db.job(org.id) as session:
        return await session.scalar(
            select(EntityVersion.version).where(EntityVersion.entity_key == key)
        )


async def test_a_processed_callback_becomes_one_outbox_event_with_its_source(
    client: httpx.AsyncClient, db: Database, org_a: Org, instance: ConnectorInstance
) -> None:
    event = ticket_event(version=2)
    await send(client, event)
    assert await outbox_events(db, org_a.id) == []  # stored, not yet processed
    assert await process_pending(db) == 1
    (row,) = await inbox_rows(db, org_a.id)
    assert (row.status, row.attempts, row.error) == ("done", 1, None)
    assert row.processed_at is not None
    (out,) = await outbox_events(db, org_a.id)
    assert (out.tenant_id, out.type, out.version, out.key) == (
        org_a.id,
        "ticket.status_changed",
        1,
        "GD202611210001",
    )
    assert out.published_at is None and out.depth == 0  # for the relay to publish
    payload = out.payload
    assert (payload["ticket_no"], payload["status"], payload["version"]) == (
        "GD202611210001",
        "open",
        2,
    )
    assert payload["changed_at"] == "2026-11-21T10:22:00+08:00"  # a field the mapping added
    assert out.source == {
        "kind": "callback",
        "connector": "tickets",
        "instance": "tickets",
        "instance_id": str(instance.id),
        "callback": "ticket_status_changed",
        "external_id": event["eventId"],
        "sandbox": True,
    }
    assert await stored_version(db, org_a, "GD202611210001") == "2"
    assert await process_pending(db) == 0  # nothing left
    assert len(await outbox_events(db, org_a.id)) == 1


async def test_the_row_and_its_event_commit_together_or_not_at_all(
    client: httpx.AsyncClient, db: Database, org_a: Org, instance: ConnectorInstance
) -> None:
    await send(client, ticket_event(version=4))

    def crash(session: Session) -> None:
        raise ConnectionError("the database went away at commit")

    sa_event.listen(Session, "before_commit", crash)
    try:
        with pytest.raises(ConnectionError):
            await process_pending(db)
    finally:
        sa_event.remove(Session, "before_commit", crash)
    (row,) = await inbox_rows(db, org_a.id)
    assert (row.status, row.attempts) == ("pending", 0)  # as if never processed
    assert await outbox_events(db, org_a.id) == []
    assert await stored_version(db, org_a, "GD202611210001") is None

    assert await process_pending(db) == 1  # the next pass applies it, once
    assert await process_pending(db) == 0
    assert [e.type for e in await outbox_events(db, org_a.id)] == ["ticket.status_changed"]
    assert [r.status for r in await inbox_rows(db, org_a.id)] == ["done"]


async def test_an_older_version_arriving_late_is_stale_and_emits_nothing(
    client: httpx.AsyncClient, db: Database, org_a: Org, instance: ConnectorInstance
) -> None:
    await send(client, ticket_event(version=3, newStatus="RESOLVED"))
    await process_pending(db)
    await send(client, ticket_event(version=2, newStatus="PROCESSING"))
    await send(client, ticket_event(version=3, newStatus="RESOLVED"))  # equal: also stale
    assert await process_pending(db) == 2
    statuses = [(r.entity_version, r.status) for r in await inbox_rows(db, org_a.id)]
    assert statuses == [("3", "done"), ("2", "stale"), ("3", "stale")]
    assert [e.payload["status"] for e in await outbox_events(db, org_a.id)] == ["solved"]
    assert await stored_version(db, org_a, "GD202611210001") == "3"


async def test_out_of_order_within_one_batch_and_numeric_comparison(
    client: httpx.AsyncClient, db: Database, org_a: Org, instance: ConnectorInstance
) -> None:
    for version, ticket in ((9, "A"), (10, "A"), (4, "B"), (3, "B")):
        await send(client, ticket_event(version=version, ticketNo=f"GD{ticket}"))
    assert await process_pending(db) == 4
    statuses = [(r.entity_key, r.entity_version, r.status) for r in await inbox_rows(db, org_a.id)]
    assert statuses == [
        ("GDA", "9", "done"),
        ("GDA", "10", "done"),
        ("GDB", "4", "done"),
        ("GDB", "3", "stale"),
    ]
    assert await stored_version(db, org_a, "GDA") == "10"  # 10 > 9, although "10" < "9"
    assert await stored_version(db, org_a, "GDB") == "4"
    events = await outbox_events(db, org_a.id)
    assert [(e.key, e.payload["version"]) for e in events] == [("GDA", 9), ("GDA", 10), ("GDB", 4)]


async def test_a_mapping_error_is_retried_after_the_delays_then_fails_with_its_field_path(
    client: httpx.AsyncClient, db: Database, org_a: Org, instance: ConnectorInstance
) -> None:
    await send(client, ticket_event(version=5, newStatus="ESCALATED"))
    assert await process_pending(db) == 1
    (row,) = await inbox_rows(db, org_a.id)
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.error is not None
    assert row.error.startswith("ValueError: mapping: status: unmapped value 'ESCALATED'")
    assert await stored_version(db, org_a, "GD202611210001") is None  # not applied
    assert await process_pending(db) == 0  # the retry waits RETRY_DELAYS[0]
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=6)
    assert await process_pending(db, now=later) == 1
    for _ in range(3):
        assert await process_pending(db, retry_delays=NO_DELAY, now=later) == 1
    (row,) = await inbox_rows(db, org_a.id)
    assert (row.status, row.attempts) == ("failed", 5)
    assert await process_pending(db, retry_delays=NO_DELAY, now=later) == 0  # stays failed
    assert await outbox_events(db, org_a.id) == []


async def test_the_catalogue_refusing_an_event_fails_the_row_at_once_and_the_rest_go_on(
    client: httpx.AsyncClient, db: Database, settings: Settings, org_a: Org
) -> None:
    """A payload that does not fit its event's model, and a row stored with a type the
    catalogue does not know (before an upgrade dropped it): each fails on its first attempt
    with the reason; the callbacks around them are processed normally."""
    loose = SPEC.replace(
        "ticket_no: {expr: ticketNo, type: string, required: true}",
        "ticket_no: {expr: ticketNumber, type: string}",
    )
    instance = await make_instance(db, settings, org_a.id, spec_text=loose)
    await send(client, ticket_event(version=1, ticketNo="GD1"))
    writer = InboxWriter(db)
    await writer.store(
        InboxEntry(
            org_a.id, instance.id, "unsigned", "ping-1", "test.pinged", None, None, {"id": "ping-1"}
        )
    )
    await send(client, ticket_event(version=1, ticketNo="GD3", ticketNumber="GD3"))

    assert await process_pending(db) == 3
    rows = {r.entity_key or r.event_id: r for r in await inbox_rows(db, org_a.id)}
    assert {key: (r.status, r.attempts) for key, r in rows.items()} == {
        "GD1": ("failed", 1),
        "ping-1": ("failed", 1),
        "GD3": ("done", 1),
    }
    assert rows["GD1"].error == (
        "the event catalogue refused it: payload.ticket_no: Input should be a valid string "
        "(event ticket.status_changed)"
    )
    assert rows["ping-1"].error is not None
    assert "unknown event type 'test.pinged'" in rows["ping-1"].error
    assert "docs/events.md" in rows["ping-1"].error
    assert [e.key for e in await outbox_events(db, org_a.id)] == ["GD3"]
    assert await stored_version(db, org_a, "GD1") is None  # a refused event is not applied
    assert await process_pending(db, retry_delays=NO_DELAY) == 0  # failed rows stay failed


async def test_the_inbox_api_shows_each_callbacks_outcome_and_why_one_failed(
    client: httpx.AsyncClient,
    db: Database,
    org_a: Org,
    org_b: Org,
    instance: ConnectorInstance,
) -> None:
    await send(client, ticket_event(version=1))
    await send(client, ticket_event(version=2, newStatus="13812345678"))  # unmapped: a phone
    await process_pending(db)
    writer = InboxWriter(db)  # stored before an upgrade dropped its type from the catalogue
    await writer.store(
        InboxEntry(
            org_a.id, instance.id, "unsigned", "ping-1", "test.pinged", None, None, {"id": "ping-1"}
        )
    )
    await process_pending(db)
    url = f"/api/v1/connector-instances/{instance.id}/callbacks"

    agent = await login(client, org_a, "agent")
    r = await client.get(url, headers=agent)
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [(i["event_id"], i["status"], i["attempts"]) for i in items] == [
        ("ping-1", "failed", 1),
        (items[1]["event_id"], "pending", 1),
        (items[2]["event_id"], "done", 1),
    ]
    assert "unknown event type 'test.pinged'" in items[0]["error"]
    assert "docs/events.md" in items[0]["error"]
    assert "13812345678" not in r.text and "138****5678" in items[1]["error"]
    assert "payload" not in items[0]  # the stored body is not shown
    failed = await client.get(url, headers=agent, params={"status": "failed"})
    assert [i["event_id"] for i in failed.json()["items"]] == ["ping-1"]
    owner = await login(client, org_a, "owner")
    clear = await client.get(url, headers=owner, params={"callback": "ticket_status_changed"})
    assert "13812345678" in clear.text and len(clear.json()["items"]) == 2
    other = await client.get(url, headers=await login(client, org_b, "owner"))
    assert other.status_code == 404  # another organisation's instance


async def test_custom_event_types_pass_with_any_object(
    client: httpx.AsyncClient, db: Database, org_a: Org, instance: ConnectorInstance
) -> None:
    r = await client.post("/hooks/acme/tickets/unsigned", json={"id": "p-7", "note": "心跳"})
    assert r.status_code == 202, r.text
    await process_pending(db)
    (out,) = await outbox_events(db, org_a.id)
    assert (out.type, out.payload, out.source["external_id"]) == (
        "custom.test_pinged",
        {"id": "p-7", "note": "心跳"},
        "p-7",
    )
    assert out.key == str(out.id)  # no ordering key: each event on its own


async def test_timestamps_as_versions(
    db: Database, org_a: Org, instance: ConnectorInstance
) -> None:
    writer = InboxWriter(db)

    def entry(event_id: str, updated_at: str) -> InboxEntry:
        return InboxEntry(
            org_a.id,
            instance.id,
            "tracking_xml",
            event_id,
            "custom.tracking_updated",
            "SF1",
            updated_at,
            {"eventId": event_id},
        )

    await writer.store(entry("t1", "2026-11-21 10:00:00"))  # Shanghai wall clock
    await writer.store(entry("t2", "2026-11-21T02:30:00Z"))  # = 10:30 in Shanghai: newer
    await writer.store(entry("t3", "2026-11-21T10:15:00+08:00"))  # older than 10:30
    await process_pending(db)
    assert [r.status for r in await inbox_rows(db, org_a.id)] == ["done", "done", "stale"]
    assert await stored_version(db, org_a, "SF1") == "2026-11-21T02:30:00Z"
    assert [e.key for e in await outbox_events(db, org_a.id)] == ["SF1", "SF1"]


async def test_group_commit_tells_each_caller_whether_its_event_was_new(
    db: Database, org_a: Org, instance: ConnectorInstance
) -> None:
    writer = InboxWriter(db, max_batch=4)

    def entry(event_id: str) -> InboxEntry:
        return InboxEntry(
            org_a.id,
            instance.id,
            "ticket_status_changed",
            event_id,
            "ticket.status_changed",
            None,
            None,
            {"eventId": event_id},
        )

    ids = ["a", "b", "a", "c", "d", "e", "b", "f"]  # two batches of 4; repeats in and across
    results = await asyncio.gather(*(writer.store(entry(i)) for i in ids))
    new = [event_id for event_id, row_id in zip(ids, results, strict=True) if row_id]
    assert new == ["a", "b", "c", "d", "e", "f"]
    assert all(isinstance(r, uuid.UUID) for r in results if r is not None)
    assert await writer.store(entry("a")) is None
    async with db.job(org_a.id) as session:
        rows = (await session.scalars(select(CallbackInbox.event_id))).all()
    assert sorted(rows) == ["a", "b", "c", "d", "e", "f"]


async def test_the_background_processor_picks_callbacks_up_when_woken(
    client: httpx.AsyncClient,
    app: FastAPI,
    db: Database,
    org_a: Org,
    instance: ConnectorInstance,
) -> None:
    processor = InboxProcessor(db, poll_seconds=30)  # only a wake-up can make it run soon
    processor.start()
    app.state.inbox_processor = processor
    try:
        await asyncio.sleep(0.05)  # its first (empty) pass
        await send(client, ticket_event(version=7))
        async with asyncio.timeout(5):
            while processor.attempted < 1:  # noqa: ASYNC110 - a counter of another task
                await asyncio.sleep(0.01)
    finally:
        await processor.stop()
    assert [e.payload["version"] for e in await outbox_events(db, org_a.id)] == [7]
    assert [r.status for r in await inbox_rows(db, org_a.id)] == ["done"]


def test_version_order() -> None:
    assert is_newer("10", "9", SHANGHAI)
    assert not is_newer("1e1", "10", SHANGHAI)  # the same number
    assert is_newer("2.5", "2.25", SHANGHAI)
    assert is_newer("2026-11-21 10:00:01", "2026-11-21T02:00:00Z", SHANGHAI)
    assert version_order("2026-11-21", SHANGHAI)[0] == 1
    with pytest.raises(ValueError, match="cannot order"):
        is_newer("2026-11-21T10:00:00", "3", SHANGHAI)
    for bad in ("NaN", "v3", "Infinity", ""):
        with pytest.raises(ValueError, match="neither a number nor an ISO 8601"):
            version_order(bad, SHANGHAI)
