"""Direct delivery: the first attempt is sent as soon as the consumer's transaction commits,
recorded in batches, and the attempt job stays as the safety net (a crash before the record
loses nothing, a job that ran first is not recorded twice); failures take the job path.

These commit for real (``committing_engine``): the sender works in its own transactions.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from conftest import make_org
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from webhook_support import (  # noqa: F401 - fixtures
    ORDER,
    Receiver,
    receiver_fixture,
    receiver_server_fixture,
)

from relaydesk.config import EventsSettings, Settings
from relaydesk.events.dispatch import Dispatcher
from relaydesk.events.inprocess import InProcessBackend
from relaydesk.events.outbox import emit
from relaydesk.events.relay import Relay
from relaydesk.events.runtime import EventRuntime, load_consumers
from relaydesk.jobs.models import Job
from relaydesk.jobs.runner import JobRunner
from relaydesk.kit.crypto import Keyring
from relaydesk.kit.db import Database, utcnow
from relaydesk.kit.ids import uuid7
from relaydesk.kit.ratelimit import MemoryRateLimiter
from relaydesk.webhooks import direct
from relaydesk.webhooks import runtime as webhook_runtime
from relaydesk.webhooks.delivery import Outcome
from relaydesk.webhooks.dispatch import encrypt_secret
from relaydesk.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from relaydesk.webhooks.signing import generate_secret


@pytest.fixture
async def live(committing_engine: AsyncEngine, settings: Settings) -> AsyncIterator[Database]:
    load_consumers()
    webhook_runtime.configure(keyring=Keyring.from_settings(settings),
                              limiter=MemoryRateLimiter(), timeout_seconds=2)  # fmt: skip
    yield Database(committing_engine)
    await webhook_runtime.reset()


async def _endpoint(db: Database, settings: Settings, tenant_id: uuid.UUID, url: str) -> uuid.UUID:
    async with db.job(tenant_id) as session:
        endpoint = WebhookEndpoint(id=uuid7(), tenant_id=tenant_id, url=url, description="d",
                                   event_types=["order.*"], allow_network=["127.0.0.1"],
                                   version=1)  # fmt: skip
        endpoint.secret_encrypted = encrypt_secret(Keyring.from_settings(settings), endpoint,
                                                   generate_secret())  # fmt: skip
        session.add(endpoint)
    return endpoint.id


async def _order(db: Database, tenant_id: uuid.UUID, order_no: str) -> None:
    async with db.job(tenant_id) as session:
        await emit(session, "order.shipped", {**ORDER, "order_no": order_no}, tenant_id=tenant_id)


async def _rows(db: Database, tenant_id: uuid.UUID, model: type, **where: Any) -> list[Any]:
    async with db.job(tenant_id) as session:
        stmt = select(model).where(*(getattr(model, k) == v for k, v in where.items()))
        return list(await session.scalars(stmt))


async def _jobs(db: Database, delivery_id: uuid.UUID) -> list[Job]:
    async with db.job(system=True) as session:
        stmt = select(Job).where(Job.dedupe_key.like(f"webhooks:{delivery_id}:%"))
        return sorted(await session.scalars(stmt), key=lambda job: job.dedupe_key or "")


async def _until(check: Any, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_runtime_sends_at_once_records_in_batches_and_the_job_never_runs(
    live: Database, settings: Settings, receiver: Receiver
) -> None:
    org = await make_org(live, f"wd-{uuid.uuid4().hex[:8]}", roles=())
    endpoint_id = await _endpoint(live, settings, org.id, receiver.url("ok"))
    settings = settings.model_copy(update={"events": EventsSettings(poll_seconds=5.0)})
    runtime = EventRuntime(live, settings)
    await runtime.start()
    try:
        started = time.monotonic()
        for n in range(5):
            await _order(live, org.id, f"SO-D{n}")
        await _until(lambda: _done(live, org.id, 5))
        # woken by the commit, not by the 5 s poll, and without the job runner
        assert time.monotonic() - started < 4.0
    finally:
        await runtime.stop()
    assert len(receiver.of("ok")) == 5
    assert all("139****5678" in hit.body.decode() for hit in receiver.of("ok"))
    rows = await _rows(live, org.id, WebhookDelivery, endpoint_id=endpoint_id)
    assert {(d.status, d.attempts, d.last_status_code) for d in rows} == {("succeeded", 1, 200)}
    attempts = await _rows(live, org.id, WebhookAttempt, endpoint_id=endpoint_id)
    assert sorted(a.delivery_id for a in attempts) == sorted(d.id for d in rows)
    for row in rows:
        (job,) = await _jobs(live, row.id)
        assert (job.status, job.attempts) == ("done", 0)  # the safety net was never claimed
    endpoint = (await _rows(live, org.id, WebhookEndpoint, id=endpoint_id))[0]
    assert endpoint.last_success_at is not None and endpoint.consecutive_failures == 0


async def _done(db: Database, tenant_id: uuid.UUID, count: int) -> bool:
    async with db.job(tenant_id) as session:
        stmt = select(func.count()).where(WebhookDelivery.status == "succeeded")
        return int(await session.scalar(stmt) or 0) >= count


async def test_a_crash_before_sending_is_covered_by_the_job_and_not_recorded_twice(
    live: Database, settings: Settings, receiver: Receiver
) -> None:
    org = await make_org(live, f"wc-{uuid.uuid4().hex[:8]}", roles=())
    await _endpoint(live, settings, org.id, receiver.url("ok"))
    sender = direct.DirectSender(live, grace=0.5)
    await sender.start()
    for task in sender._tasks:  # the process "dies": nothing is sent or recorded
        task.cancel()
    try:
        await _order(live, org.id, "SO-CRASH")
        relay = Relay(live, InProcessBackend(Dispatcher(live)))
        while await relay.run_once():
            pass
        (row,) = await _rows(live, org.id, WebhookDelivery)
        (job,) = await _jobs(live, row.id)
        assert job.status == "pending" and job.run_at > utcnow()  # deferred by the grace
        runner = JobRunner(live)
        assert await runner.run_once() == 0
        await asyncio.sleep(0.6)
        assert await runner.run_once() == 1  # the safety net sends it
        assert len(receiver.of("ok")) == 1
        (row,) = await _rows(live, org.id, WebhookDelivery)
        assert (row.status, row.attempts) == ("succeeded", 1)
        # the sender comes back with its outcome later: the job's record stands alone
        (_, prepared), *_ = list(sender._queue)
        sender._results.append((prepared, Outcome(True, 200, 1.0, "ok")))
        await sender._flush()
        assert len(await _rows(live, org.id, WebhookAttempt, delivery_id=row.id)) == 1
    finally:
        sender._tasks.clear()
        await sender.stop()
    assert direct.sender_for(live) is None


async def test_a_failure_is_recorded_like_a_job_and_the_endpoint_takes_the_job_path(
    live: Database, settings: Settings, receiver: Receiver
) -> None:
    org = await make_org(live, f"wf-{uuid.uuid4().hex[:8]}", roles=())
    endpoint_id = await _endpoint(live, settings, org.id, receiver.url("fail"))
    sender = direct.DirectSender(live, linger=0.01)
    await sender.start()
    relay = Relay(live, InProcessBackend(Dispatcher(live)))
    try:
        await _order(live, org.id, "SO-F1")
        while await relay.run_once():
            pass

        async def attempted() -> bool:
            rows = await _rows(live, org.id, WebhookDelivery)
            return bool(rows) and rows[0].attempts == 1

        await _until(attempted)
        (row,) = await _rows(live, org.id, WebhookDelivery)
        assert (row.status, row.last_status_code) == ("pending", 500)  # a retry is scheduled
        first, second = await _jobs(live, row.id)
        assert first.status == "done" and second.status == "pending"
        assert second.run_at > utcnow()  # attempt 2 follows the schedule (about 5 s)
        endpoint = (await _rows(live, org.id, WebhookEndpoint, id=endpoint_id))[0]
        assert endpoint.consecutive_failures == 1 and endpoint.last_error == "HTTP 500"
        assert not sender.accepts(endpoint_id)
        # the next event to that endpoint is left to its job, due now
        await _order(live, org.id, "SO-F2")
        while await relay.run_once():
            pass
        newest = max(await _rows(live, org.id, WebhookDelivery), key=lambda d: d.id)
        (job,) = await _jobs(live, newest.id)
        assert job.status == "pending" and job.run_at <= utcnow()
    finally:
        await sender.stop()
    assert len(receiver.of("fail")) == 1


async def test_a_slow_endpoint_never_holds_up_another_and_its_backlog_goes_to_the_jobs(
    live: Database, settings: Settings, receiver: Receiver
) -> None:
    """One request in flight per endpoint, two shared slots: a burst to an endpoint that
    takes a second per answer keeps one slot; another tenant's delivery is sent at once with
    the other; what waited for the slow endpoint past half the grace period is not sent
    directly (its job would send it too) but released to its job, due now."""
    receiver.slow_seconds = 1.0
    slow_org = await make_org(live, f"ws-{uuid.uuid4().hex[:8]}", roles=())
    fast_org = await make_org(live, f"wq-{uuid.uuid4().hex[:8]}", roles=())
    await _endpoint(live, settings, slow_org.id, receiver.url("slow"))
    await _endpoint(live, settings, fast_org.id, receiver.url("ok"))
    sender = direct.DirectSender(live, grace=1.0, per_endpoint=1, concurrency=2, linger=0.01)
    await sender.start()
    relay = Relay(live, InProcessBackend(Dispatcher(live)))
    try:
        for n in range(4):
            await _order(live, slow_org.id, f"SO-SLOW{n}")
        await _order(live, fast_org.id, "SO-FAST")
        while await relay.run_once():
            pass
        handed_over = time.monotonic()
        await _until(lambda: _done(live, fast_org.id, 1), seconds=5.0)
        assert time.monotonic() - handed_over < 0.9  # not behind the slow endpoint's second
        (fast,) = await _rows(live, fast_org.id, WebhookDelivery)
        (job,) = await _jobs(live, fast.id)
        assert (job.status, job.attempts) == ("done", 0)  # sent directly, not by its job

        async def backlog_released() -> bool:
            rows = await _rows(live, slow_org.id, WebhookDelivery)
            jobs = [job for row in rows for job in await _jobs(live, row.id)]
            due = [j for j in jobs if j.status == "pending" and j.run_at <= utcnow()]
            return len(due) == 3

        await _until(backlog_released, seconds=5.0)
        await _until(lambda: _done(live, slow_org.id, 1), seconds=5.0)
    finally:
        await sender.stop()
    assert len(receiver.of("slow")) == 1  # the other three are their jobs' to send
    assert len(receiver.of("ok")) == 1
