"""Durable jobs: enqueued with the transaction, run at least once, retried, leased, deduplicated."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from conftest import Org
from sqlalchemy import select

from relaydesk.jobs import JobContext, JobRunner, RetryLater, enqueue, job_handler
from relaydesk.jobs.models import Job
from relaydesk.kit.db import Database, utcnow

seen: list[tuple[str, dict[str, Any], uuid.UUID | None, int]] = []
failures: dict[str, int] = {}


@job_handler("test.record")
async def _record(ctx: JobContext, payload: dict[str, Any]) -> None:
    seen.append((ctx.kind, payload, ctx.tenant_id, ctx.attempt))


@job_handler("test.flaky")
async def _flaky(ctx: JobContext, payload: dict[str, Any]) -> None:
    left = failures.get(payload["name"], 0)
    if left:
        failures[payload["name"]] = left - 1
        raise ConnectionError(f"system down ({left} more)")
    seen.append((ctx.kind, payload, ctx.tenant_id, ctx.attempt))


@job_handler("test.later")
async def _later(ctx: JobContext, payload: dict[str, Any]) -> None:
    if ctx.attempt == 1:
        raise RetryLater(120, "rate limited by the order system")
    seen.append((ctx.kind, payload, ctx.tenant_id, ctx.attempt))


@pytest.fixture(autouse=True)
def _reset() -> None:
    seen.clear()
    failures.clear()


async def _job(db: Database, job_id: uuid.UUID) -> Job:
    async with db.job(system=True) as session:
        job = await session.get(Job, job_id)
        assert job is not None
        return job


async def _run_at(db: Database, job_id: uuid.UUID, when: dt.datetime) -> None:
    """Make a job due now, standing in for the clock moving on."""
    async with db.job(system=True) as session:
        job = await session.get(Job, job_id)
        assert job is not None
        job.run_at = when


async def test_a_job_exists_only_if_its_transaction_commits(db: Database, org_a: Org) -> None:
    async with db.job(org_a.id) as session:
        kept = await enqueue(session, "test.record", {"n": 1}, tenant_id=org_a.id)
    with pytest.raises(RuntimeError):
        async with db.job(org_a.id) as session:
            await enqueue(session, "test.record", {"n": 2}, tenant_id=org_a.id)
            raise RuntimeError("the change failed")
    assert await JobRunner(db).run_once() == 1
    assert seen == [("test.record", {"n": 1}, org_a.id, 1)]
    done = await _job(db, kept)  # type: ignore[arg-type]
    assert done.status == "done" and done.finished_at is not None and done.locked_by is None
    assert await JobRunner(db).run_once() == 0  # nothing runs twice


async def test_dedupe_key_makes_one_job_and_delay_defers_it(db: Database, org_a: Org) -> None:
    async with db.job(org_a.id) as session:
        first = await enqueue(session, "test.record", {"tick": "09:00"}, tenant_id=org_a.id,
                              dedupe_key="rule:r1:2026-11-21T09:00", delay=60)  # fmt: skip
        again = await enqueue(session, "test.record", {"tick": "09:00"}, tenant_id=org_a.id,
                              dedupe_key="rule:r1:2026-11-21T09:00")  # fmt: skip
    assert first is not None and again is None
    assert await JobRunner(db).run_once() == 0  # not due for a minute
    await _run_at(db, first, utcnow())
    assert await JobRunner(db).run_once() == 1
    assert [payload for _, payload, _, _ in seen] == [{"tick": "09:00"}]


async def test_failures_retry_with_backoff_then_fail_for_good(db: Database, org_a: Org) -> None:
    failures["a"] = 1
    failures["b"] = 5
    async with db.job(org_a.id) as session:
        a = await enqueue(session, "test.flaky", {"name": "a"}, tenant_id=org_a.id)
        b = await enqueue(session, "test.flaky", {"name": "b"}, tenant_id=org_a.id,
                          max_attempts=2)  # fmt: skip
    before = utcnow()
    assert await JobRunner(db).run_once() == 2
    for job_id in (a, b):
        job = await _job(db, job_id)  # type: ignore[arg-type]
        assert job.status == "pending" and job.attempts == 1
        assert "system down" in (job.last_error or "") and job.run_at > before
    for job_id in (a, b):
        await _run_at(db, job_id, utcnow())  # type: ignore[arg-type]
    assert await JobRunner(db).run_once() == 2
    assert (await _job(db, a)).status == "done"  # type: ignore[arg-type]
    failed = await _job(db, b)  # type: ignore[arg-type]
    assert failed.status == "failed" and failed.attempts == 2
    assert "ConnectionError" in (failed.last_error or "")
    assert seen == [("test.flaky", {"name": "a"}, org_a.id, 2)]


async def test_retry_later_honours_the_requested_delay(db: Database, org_a: Org) -> None:
    async with db.job(org_a.id) as session:
        job_id = await enqueue(session, "test.later", {}, tenant_id=org_a.id)
    assert await JobRunner(db).run_once() == 1
    job = await _job(db, job_id)  # type: ignore[arg-type]
    assert job.status == "pending" and job.last_error == "rate limited by the order system"
    wait = (job.run_at - utcnow()).total_seconds()
    assert 110 < wait <= 120


async def test_a_dead_workers_job_runs_again_when_its_lease_expires(
    db: Database, org_a: Org
) -> None:
    async with db.job(org_a.id) as session:
        job_id = await enqueue(session, "test.record", {"n": 7}, tenant_id=org_a.id)
    crashed = JobRunner(db, worker="crashed", lease_seconds=30)
    assert [job.id for job in await crashed.claim(10)] == [job_id]  # claimed, then it died
    other = JobRunner(db, worker="other")
    assert await other.run_once() == 0  # leased: nobody else takes it
    assert await other.claim(10, now=utcnow() + dt.timedelta(seconds=31)) != []
    await other.run_job(await _job(db, job_id))  # type: ignore[arg-type]
    assert seen == [("test.record", {"n": 7}, org_a.id, 2)]
    # the crashed worker coming back cannot overwrite the other worker's result
    await crashed._finish(await _job(db, job_id), status="failed")  # type: ignore[arg-type]
    assert (await _job(db, job_id)).status == "done"  # type: ignore[arg-type]


async def test_unknown_kinds_fail_with_a_clear_error(db: Database, org_a: Org) -> None:
    async with db.job(org_a.id) as session:
        job_id = await enqueue(session, "test.nobody", {}, tenant_id=org_a.id, max_attempts=1)
    await JobRunner(db).run_once()
    job = await _job(db, job_id)  # type: ignore[arg-type]
    assert job.status == "failed"
    assert "no handler for job kind 'test.nobody'" in (job.last_error or "")


async def test_pruning_keeps_failed_jobs(db: Database, org_a: Org) -> None:
    async with db.job(org_a.id) as session:
        done_id = await enqueue(session, "test.record", {}, tenant_id=org_a.id)
        failed_id = await enqueue(session, "test.nobody", {}, tenant_id=org_a.id, max_attempts=1)
    await JobRunner(db).run_once()
    assert await JobRunner(db, keep_done=dt.timedelta(0)).prune() >= 1
    async with db.job(system=True) as session:
        left = set(await session.scalars(select(Job.id).where(Job.id.in_([done_id, failed_id]))))
    assert left == {failed_id}


runs: dict[int, int] = {}


@job_handler("test.count")
async def _count_run(ctx: JobContext, payload: dict[str, Any]) -> None:
    runs[payload["n"]] = runs.get(payload["n"], 0) + 1


async def test_concurrent_runners_share_the_work_and_run_each_job_once(engine) -> None:  # type: ignore[no-untyped-def]
    """Four runners on their own connections (committing, like worker processes)."""
    import asyncio

    from sqlalchemy import delete

    runs.clear()
    db = Database(engine)
    try:
        async with db.job(system=True) as session:
            for n in range(120):
                await enqueue(session, "test.count", {"n": n}, tenant_id=None)
        runners = [JobRunner(db, worker=f"w{i}", concurrency=5) for i in range(4)]

        async def drain(runner: JobRunner) -> int:
            total = 0
            while ran := await runner.run_once():
                total += ran
            return total

        shares = await asyncio.gather(*(drain(runner) for runner in runners))
        assert sum(shares) == 120
        assert runs == {n: 1 for n in range(120)}
    finally:
        async with db.job(system=True) as session:
            await session.execute(delete(Job).where(Job.kind == "test.count"))
