"""The inbox: group-committed storage, ordering by entity version, publication, retries."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from conftest import Org
from fastapi import FastAPI
from hooks_support import (
    compact,
    inbox_rows,
    make_instance,
    mount_hooks,
    ticket_event,
    ticket_headers,
)
from sqlalchemy import select

from relaydesk.config import Settings
from relaydesk.integrations import events
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
NO_DELAY = (0.0, 0.0, 0.0, 0.0)
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture(autouse=True)
def _hooks(app: FastAPI) -> None:
    mount_hooks(app)


@pytest.fixture
async def instance(db: Database, settings: Settings, org_a: Org) -> ConnectorInstance:
    return await make_instance(db, settings, org_a.id, sandbox=True)


@pytest.fixture
def published() -> Iterator[list[events.Event]]:
    seen: list[events.Event] = []

    async def sink(event: events.Event) -> None:
        seen.append(event)

    unsubscribe = events.subscribe(sink)
    yield seen
    unsubscribe()


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


async def test_processed_events_are_published_mapped_with_their_source(
    client: httpx.AsyncClient, db: Database, org_a: Org, instance: ConnectorInstance,
    published: list[events.Event],
) -> None:  # fmt: skip
    event = ticket_event(version=2)
    await send(client, event)
    assert await process_pending(db) == 1
    (row,) = await inbox_rows(db, org_a.id)
    assert (row.status, row.attempts, row.error) == ("done", 1, None)
    assert row.processed_at is not None
    (out,) = published
    assert out.tenant_id == org_a.id
    assert out.type == "ticket.status_changed"
    assert out.payload == {"ticket_no": "GD202611210001", "status": "open",
                           "changed_at": "2026-11-21T10:22:00+08:00", "version": 2}
    assert out.source == events.EventSource(
        "callback", connector="tickets", instance="tickets", instance_id=instance.id,
        callback="ticket_status_changed", external_id=event["eventId"], sandbox=True,
    )  # fmt: skip
    assert await stored_version(db, org_a, "GD202611210001") == "2"
    assert await process_pending(db) == 0  # nothing left


async def test_an_older_version_arriving_late_is_stale_and_not_applied(
    client: httpx.AsyncClient, db: Database, org_a: Org, instance: ConnectorInstance,
    published: list[events.Event],
) -> None:  # fmt: skip
    await send(client, ticket_event(version=3, newStatus="RESOLVED"))
    await process_pending(db)
    await send(client, ticket_event(version=2, newStatus="PROCESSING"))
    await send(client, ticket_event(version=3, newStatus="RESOLVED"))  # equal: also stale
    assert await process_pending(db) == 2
    statuses = [(r.entity_version, r.status) for r in await inbox_rows(db, org_a.id)]
    assert statuses == [("3", "done"), ("2", "stale"), ("3", "stale")]
    assert [e.payload["status"] for e in published] == ["solved"]
    assert await stored_version(db, org_a, "GD202611210001") == "3"


async def test_out_of_order_within_one_batch_and_numeric_comparison(
    client: httpx.AsyncClient, db: Database, org_a: Org, instance: ConnectorInstance,
    published: list[events.Event],
) -> None:  # fmt: skip
    for version, ticket in ((9, "A"), (10, "A"), (4, "B"), (3, "B")):
        await send(client, ticket_event(version=version, ticketNo=f"GD{ticket}"))
    assert await process_pending(db) == 4
    statuses = [(r.entity_key, r.entity_version, r.status) for r in await inbox_rows(db, org_a.id)]
    assert statuses == [("GDA", "9", "done"), ("GDA", "10", "done"), ("GDB", "4", "done"),
                        ("GDB", "3", "stale")]  # fmt: skip
    assert await stored_version(db, org_a, "GDA") == "10"  # 10 > 9, although "10" < "9"
    assert await stored_version(db, org_a, "GDB") == "4"
    assert len(published) == 3


async def test_a_failing_sink_is_retried_then_the_row_fails_after_five_attempts(
    client: httpx.AsyncClient, db: Database, org_a: Org, instance: ConnectorInstance
) -> None:
    calls: list[str] = []

    def broken(event: events.Event) -> None:
        calls.append(event.type)
        raise RuntimeError("subscriber is down")

    unsubscribe = events.subscribe(broken)
    try:
        await send(client, ticket_event(version=5))
        assert await process_pending(db) == 1
        (row,) = await inbox_rows(db, org_a.id)
        assert (row.status, row.attempts) == ("pending", 1)
        assert row.error == "RuntimeError: subscriber is down"
        assert await stored_version(db, org_a, "GD202611210001") is None  # not applied
        assert await process_pending(db) == 0  # the retry waits RETRY_DELAYS[0]
        later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=6)
        assert await process_pending(db, now=later) == 1
        for _ in range(3):
            assert await process_pending(db, retry_delays=NO_DELAY, now=later) == 1
        (row,) = await inbox_rows(db, org_a.id)
        assert (row.status, row.attempts) == ("failed", 5)
        assert row.error == "RuntimeError: subscriber is down"
        assert await process_pending(db, retry_delays=NO_DELAY, now=later) == 0  # stays failed
        assert len(calls) == 5
    finally:
        unsubscribe()


async def test_a_mapping_error_is_recorded_with_its_field_path(
    client: httpx.AsyncClient, db: Database, org_a: Org, instance: ConnectorInstance,
    published: list[events.Event],
) -> None:  # fmt: skip
    await send(client, ticket_event(newStatus="ESCALATED"))
    for _ in range(5):
        await process_pending(db, retry_delays=NO_DELAY)
    (row,) = await inbox_rows(db, org_a.id)
    assert row.status == "failed"
    assert row.error is not None
    assert row.error.startswith("ValueError: mapping: status: unmapped value 'ESCALATED'")
    assert published == []


async def test_timestamps_as_versions(
    db: Database, org_a: Org, instance: ConnectorInstance, published: list[events.Event]
) -> None:
    writer = InboxWriter(db)

    def entry(event_id: str, updated_at: str) -> InboxEntry:
        return InboxEntry(org_a.id, instance.id, "tracking_xml", event_id, "order.shipped",
                          "SF1", updated_at, {"eventId": event_id})  # fmt: skip

    await writer.store(entry("t1", "2026-11-21 10:00:00"))  # Shanghai wall clock
    await writer.store(entry("t2", "2026-11-21T02:30:00Z"))  # = 10:30 in Shanghai: newer
    await writer.store(entry("t3", "2026-11-21T10:15:00+08:00"))  # older than 10:30
    await process_pending(db)
    assert [r.status for r in await inbox_rows(db, org_a.id)] == ["done", "done", "stale"]
    assert await stored_version(db, org_a, "SF1") == "2026-11-21T02:30:00Z"


async def test_group_commit_tells_each_caller_whether_its_event_was_new(
    db: Database, org_a: Org, instance: ConnectorInstance
) -> None:
    writer = InboxWriter(db, max_batch=4)

    def entry(event_id: str) -> InboxEntry:
        return InboxEntry(org_a.id, instance.id, "ticket_status_changed", event_id,
                          "ticket.status_changed", None, None, {"eventId": event_id})  # fmt: skip

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
    client: httpx.AsyncClient, app: FastAPI, db: Database, org_a: Org,
    instance: ConnectorInstance, published: list[events.Event],
) -> None:  # fmt: skip
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
    assert [e.payload["version"] for e in published] == [7]
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
