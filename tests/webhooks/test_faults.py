"""A receiver that times out, redirects, answers 410, 429/502/504 with Retry-After, or keeps
failing: handled as specified (redirects not followed, 410 disables, Retry-After obeyed
within bounds, the circuit breaker makes deliveries wait, auto-disable with an event and a
notification); the per-endpoint rate limit; SSRF refused at connect time."""

from __future__ import annotations

import datetime as dt
import email.utils
import uuid

import httpx
from conftest import Org, login
from sqlalchemy import select, update
from webhook_support import (  # noqa: F401 - fixtures
    API,
    Clock,
    Receiver,
    clock_fixture,
    create_endpoint,
    deliveries,
    endpoint,
    pending_jobs,
    publish,
    receiver_fixture,
    receiver_server_fixture,
    run_due,
    wh_fixture,
)

from relaydesk.audit.models import AuditEntry
from relaydesk.events.models import OutboxEvent
from relaydesk.kit.db import Database, utcnow
from relaydesk.notifications.models import Notification
from relaydesk.webhooks.models import WebhookAttempt, WebhookEndpoint
from relaydesk.webhooks.runtime import WebhookRuntime, configure


async def _attempts(db: Database, org: Org) -> list[WebhookAttempt]:
    async with db.job(org.id) as session:
        rows = await session.scalars(select(WebhookAttempt).order_by(WebhookAttempt.id))
        return list(rows)


async def test_timeout_and_redirect_are_failures_and_redirects_are_not_followed(
    client: httpx.AsyncClient, org_a: Org, db: Database, wh: WebhookRuntime, receiver: Receiver,
    clock: Clock,
) -> None:  # fmt: skip
    owner = await login(client, org_a, "owner")
    await create_endpoint(client, owner, receiver.url("slow"))
    await create_endpoint(client, owner, receiver.url("redirect"))
    await publish(db, org_a.id, "custom.ping", {})
    await run_due(db)
    by_url = {a.url.rsplit("/", 1)[1]: a for a in await _attempts(db, org_a)}
    assert by_url["slow"].error == "timed out after 0.5 s" and by_url["slow"].status_code is None
    assert by_url["redirect"].status_code == 302
    assert "redirects are not followed" in (by_url["redirect"].error or "")
    assert receiver.of("ok") == [], "the redirect target was not called"
    for row in await deliveries(db, org_a.id):
        assert row.status == "pending" and row.attempts == 1  # both will be retried
    jobs = await pending_jobs(db)
    assert len(jobs) == 2
    assert all(4.4 <= (j.run_at - clock.now).total_seconds() <= 5.6 for j in jobs)


async def test_gone_disables_the_endpoint_with_event_notification_and_audit(
    client: httpx.AsyncClient, org_a: Org, db: Database, wh: WebhookRuntime, receiver: Receiver
) -> None:
    owner = await login(client, org_a, "owner")
    gone = await create_endpoint(client, owner, receiver.url("gone") + "?token=s3cr3t")
    watcher = await create_endpoint(client, owner, receiver.url("ok"),
                                    event_types=["endpoint.disabled"])  # fmt: skip
    await publish(db, org_a.id, "custom.ping", {"n": 1})
    await publish(db, org_a.id, "custom.ping", {"n": 2})
    await run_due(db)
    assert len(receiver.of("gone")) == 1, "the second delivery was not sent after 410"
    state = (await client.get(f"{API}/endpoints/{gone['id']}", headers=owner)).json()
    assert state["enabled"] is False
    assert state["disabled_reason"] == "the receiver answered 410 Gone"
    rows = [r for r in await deliveries(db, org_a.id) if str(r.endpoint_id) == gone["id"]]
    assert {r.status for r in rows} == {"failed"}
    assert sorted(r.attempts for r in rows) == [0, 1]
    assert await pending_jobs(db) == []

    async with db.job(org_a.id) as session:
        [event] = (await session.scalars(
            select(OutboxEvent).where(OutboxEvent.type == "endpoint.disabled")
        )).all()  # fmt: skip
        notes = (await session.scalars(select(Notification))).all()
        audit = (await session.scalars(
            select(AuditEntry).where(AuditEntry.action == "webhook_endpoint.disabled")
        )).all()  # fmt: skip
    assert event.payload["endpoint_id"] == gone["id"] and event.payload["cause"] == "gone"
    assert "token" not in event.payload["url"]
    admins = {org_a.users["owner"], org_a.users["admin"]}
    assert {n.user_id for n in notes} == admins
    assert all("410" in n.body and n.link == f"/webhooks/endpoints/{gone['id']}" for n in notes)
    assert len(audit) == 1 and audit[0].actor_type == "system"

    # the event reaches the endpoints subscribed to it, like any other event
    async with db.job(org_a.id) as session:
        from relaydesk.events.outbox import to_envelope
        from relaydesk.webhooks.consumers import handle

        await handle(session, to_envelope(event))
    await run_due(db)
    [hit] = receiver.of("ok")
    assert b'"type":"endpoint.disabled"' in hit.body
    assert watcher["id"] not in hit.body.decode()


async def test_retry_after_is_obeyed_within_floor_and_cap(
    client: httpx.AsyncClient, org_a: Org, db: Database, wh: WebhookRuntime, receiver: Receiver,
    clock: Clock,
) -> None:  # fmt: skip
    configure(retry_after_floor=5.0, retry_after_cap=3600.0, breaker_threshold=100)
    owner = await login(client, org_a, "owner")
    await create_endpoint(client, owner, receiver.url("busy"))
    in_ten_minutes = email.utils.format_datetime(clock.now + dt.timedelta(minutes=10), usegmt=True)
    cases = [(429, "120", 120), (502, "1", 5), (504, "999999", 3600), (429, in_ten_minutes, 600),
             (429, "", 5), (503, "120", 5)]  # fmt: skip
    for status, header, expected in cases:
        receiver.busy_status, receiver.retry_after = status, header
        await publish(db, org_a.id, "custom.ping", {})
        await run_due(db)
        [job] = await pending_jobs(db)
        delay = (job.run_at - clock.now).total_seconds()
        low, high = (expected * 0.9, expected * 1.1) if status == 503 or not header else (
            expected - 1.5, expected * 1.1 + 0.01)  # fmt: skip
        assert low <= delay <= high, (status, header, delay)
        async with db.job(system=True) as session:  # clear it for the next case
            await session.delete(job)


async def test_circuit_breaker_makes_deliveries_wait_then_probes(
    client: httpx.AsyncClient, org_a: Org, db: Database, wh: WebhookRuntime, receiver: Receiver,
    clock: Clock,
) -> None:  # fmt: skip
    configure(breaker_threshold=3, breaker_cooldown=30.0)
    owner = await login(client, org_a, "owner")
    created = await create_endpoint(client, owner, receiver.url("flaky"))
    receiver.script = [500, 500, 500]
    for n in range(4):
        await publish(db, org_a.id, "custom.ping", {"n": n})
    await run_due(db, limit=4)
    assert len(receiver.of("flaky")) == 3, "the 4th delivery waits: the breaker is open"
    health = (await client.get(f"{API}/endpoints/{created['id']}", headers=owner)).json()["health"]
    assert health["consecutive_failures"] == 3
    open_until = dt.datetime.fromisoformat(health["circuit_open_until"])
    assert open_until == clock.now + dt.timedelta(seconds=30)
    rows = await deliveries(db, org_a.id)
    assert sorted(r.attempts for r in rows) == [0, 1, 1, 1], "waiting uses no attempt"

    # still open: due jobs keep waiting, the receiver is not hammered
    await run_due(db, now=utcnow() + dt.timedelta(minutes=2), limit=10)
    assert len(receiver.of("flaky")) == 3

    clock.advance(seconds=31)  # half-open: one probe, it succeeds, the breaker closes
    await run_due(db, now=utcnow() + dt.timedelta(minutes=2), limit=10)
    assert len(receiver.of("flaky")) == 7
    assert {r.status for r in await deliveries(db, org_a.id)} == {"succeeded"}
    row = await endpoint(db, org_a.id, created["id"])
    assert row.consecutive_failures == 0 and row.circuit_open_until is None
    assert row.failing_since is None


async def test_breaker_reopens_longer_when_the_probe_fails(
    client: httpx.AsyncClient, org_a: Org, db: Database, wh: WebhookRuntime, receiver: Receiver,
    clock: Clock,
) -> None:  # fmt: skip
    configure(breaker_threshold=2, breaker_cooldown=30.0)
    owner = await login(client, org_a, "owner")
    created = await create_endpoint(client, owner, receiver.url("fail"))
    for n in range(3):
        await publish(db, org_a.id, "custom.ping", {"n": n})
    await run_due(db, limit=3)
    assert len(receiver.of("fail")) == 2
    clock.advance(seconds=31)
    await run_due(db, now=utcnow() + dt.timedelta(minutes=1), limit=10)
    assert len(receiver.of("fail")) == 3, "exactly one probe"
    row = await endpoint(db, org_a.id, created["id"])
    assert row.consecutive_failures == 3
    assert row.circuit_open_until == clock.now + dt.timedelta(seconds=60)


async def test_auto_disable_after_failing_for_days(
    client: httpx.AsyncClient, org_a: Org, db: Database, wh: WebhookRuntime, receiver: Receiver,
    clock: Clock,
) -> None:  # fmt: skip
    configure(breaker_threshold=1000, disable_after=dt.timedelta(days=5))
    owner = await login(client, org_a, "owner")
    created = await create_endpoint(client, owner, receiver.url("fail"))
    await publish(db, org_a.id, "custom.ping", {"n": 1})
    await run_due(db)
    started = clock.now
    clock.advance(days=4, hours=23)
    await publish(db, org_a.id, "custom.ping", {"n": 2})
    await run_due(db)
    assert (await endpoint(db, org_a.id, created["id"])).enabled, "not yet 5 days"
    clock.advance(hours=1)
    await publish(db, org_a.id, "custom.ping", {"n": 3})
    await run_due(db)
    row = await endpoint(db, org_a.id, created["id"])
    assert not row.enabled and row.failing_since == started
    assert row.disabled_reason == "every delivery attempt failed for 5 days"
    async with db.job(org_a.id) as session:
        [event] = (await session.scalars(
            select(OutboxEvent).where(OutboxEvent.type == "endpoint.disabled")
        )).all()  # fmt: skip
        assert (await session.scalars(select(Notification))).first() is not None
    assert event.payload["cause"] == "failing" and event.payload["last_error"] == "HTTP 500"
    # the earlier deliveries' retries find the endpoint disabled and stop
    await run_due(db, now=clock.now + dt.timedelta(days=1))
    assert {r.status for r in await deliveries(db, org_a.id)} == {"failed"}
    assert await pending_jobs(db) == []
    # re-enabling resets the health
    r = await client.patch(
        f"{API}/endpoints/{created['id']}", headers=owner, json={"enabled": True}
    )
    assert r.json()["health"]["failing_since"] is None and r.json()["disabled_reason"] is None


async def test_rate_limit_per_endpoint(
    client: httpx.AsyncClient, org_a: Org, db: Database, wh: WebhookRuntime, receiver: Receiver
) -> None:
    owner = await login(client, org_a, "owner")
    await create_endpoint(client, owner, receiver.url("ok"), rate_limit=1)
    for n in range(2):
        await publish(db, org_a.id, "custom.ping", {"n": n})
    assert await run_due(db, limit=2) == ["done", "pending"]
    assert len(receiver.of("ok")) == 1
    [job] = await pending_jobs(db)
    assert 0.5 <= (job.run_at - utcnow()).total_seconds() <= 1.5
    assert sorted(r.attempts for r in await deliveries(db, org_a.id)) == [0, 1]


async def test_ssrf_is_refused_at_connect_time(
    client: httpx.AsyncClient, org_a: Org, db: Database, wh: WebhookRuntime, receiver: Receiver
) -> None:
    owner = await login(client, org_a, "owner")
    loopback = await create_endpoint(client, owner, receiver.url("ok"))
    metadata = await create_endpoint(client, owner, receiver.url("ok"))
    changes = {
        loopback["id"]: {"allow_network": []},
        metadata["id"]: {"url": "http://169.254.169.254/latest/meta-data/",
                         "allow_network": ["169.254.0.0/16"]},
    }  # fmt: skip
    async with db.job(org_a.id) as session:  # as if the allow-list or DNS changed since saving
        for endpoint_id, values in changes.items():
            stmt = update(WebhookEndpoint).where(WebhookEndpoint.id == uuid.UUID(endpoint_id))
            await session.execute(stmt.values(**values))
    await publish(db, org_a.id, "custom.ping", {})
    await run_due(db)
    assert receiver.hits == []
    errors = sorted(a.error or "" for a in await _attempts(db, org_a))
    assert errors[0].startswith("blocked: 127.0.0.1 resolves to 127.0.0.1, a private")
    assert errors[1].startswith("blocked: 169.254.169.254") and "always blocked" in errors[1]
