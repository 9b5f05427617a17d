"""Claim due jobs and run their handlers; any number of runners may share the table.

Claiming is one short transaction: on PostgreSQL ``FOR UPDATE SKIP LOCKED`` lets runners in
several processes take disjoint jobs; on SQLite the write lock serialises claims. A claimed
job holds a lease (``locked_until``); if its worker dies the lease expires and the job is due
again. Handlers run outside the claim transaction, several at a time.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import random
import socket
import traceback
import uuid
from typing import Any

import structlog
from sqlalchemy import and_, delete, or_, select, update

from relaydesk.jobs.models import Job
from relaydesk.jobs.queue import CHANNEL, JobContext, RetryLater, handler_for
from relaydesk.kit import commit_hooks
from relaydesk.kit.db import Database, utcnow

log = structlog.get_logger(__name__)

__all__ = ["JobRunner", "backoff"]


def backoff(attempt: int, base: float = 2.0, cap: float = 3600.0) -> float:
    """Exponential backoff with full jitter: up to ``base * 2**(attempt-1)``, at most ``cap``."""
    jitter: float = random.uniform(0.5, 1.0)  # noqa: S311 (timing, not secrets)
    return jitter * min(cap, base * 2.0 ** (attempt - 1))


class JobRunner:
    def __init__(
        self,
        db: Database,
        *,
        worker: str | None = None,
        concurrency: int = 8,
        lease_seconds: float = 300.0,
        poll_seconds: float = 1.0,
        keep_done: dt.timedelta = dt.timedelta(days=1),
    ) -> None:
        self.db = db
        self.worker = worker or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.concurrency = concurrency
        self.lease = dt.timedelta(seconds=lease_seconds)
        self.poll_seconds = poll_seconds
        self.keep_done = keep_done
        self._wake = asyncio.Event()
        self._last_prune = utcnow()

    # --- claiming -------------------------------------------------------------------------

    async def claim(self, limit: int, now: dt.datetime | None = None) -> list[Job]:
        """Lease up to ``limit`` due jobs: one ``UPDATE ... RETURNING`` statement."""
        now = now or utcnow()
        due = or_(
            and_(Job.status == "pending", Job.run_at <= now),
            and_(Job.status == "running", Job.locked_until < now),
        )
        pick = select(Job.id).where(due).order_by(Job.run_at, Job.id).limit(limit)
        if self.db.dialect == "postgresql":
            pick = pick.with_for_update(skip_locked=True)
        stmt = (
            update(Job)
            .where(Job.id.in_(pick.scalar_subquery()))
            .values(status="running", locked_by=self.worker,
                    locked_until=now + self.lease, attempts=Job.attempts + 1)
            .returning(Job)
            .execution_options(synchronize_session=False)
        )  # fmt: skip
        async with self.db.job(system=True) as session:
            rows = list(await session.scalars(stmt))
        return sorted(rows, key=lambda job: (job.run_at, job.id))

    # --- running --------------------------------------------------------------------------

    async def _finish(self, job: Job, **values: Any) -> None:
        await self._finish_many([(job, values)])

    async def _finish_many(self, finished: list[tuple[Job, dict[str, Any]]]) -> None:
        """Write the new state of finished jobs in one transaction (the plain successes in
        one statement)."""
        done = [job.id for job, values in finished if values == {"status": "done"}]
        others = [(job, values) for job, values in finished if values != {"status": "done"}]
        mine = Job.locked_by == self.worker
        async with self.db.job(system=True) as session:
            if done:
                await session.execute(
                    update(Job)
                    .where(Job.id.in_(done), mine)
                    .values(status="done", finished_at=utcnow(), locked_by=None,
                            locked_until=None)
                    .execution_options(synchronize_session=False)
                )  # fmt: skip
            for job, values in others:
                await session.execute(
                    update(Job)
                    .where(Job.id == job.id, mine)
                    .values(locked_by=None, locked_until=None, **values)
                    .execution_options(synchronize_session=False)
                )

    async def _execute(self, job: Job) -> dict[str, Any]:
        """Run one claimed job's handler; the values that finish it (``status`` first)."""
        handler = handler_for(job.kind)
        ctx = JobContext(self.db, job.id, job.kind, job.tenant_id, job.attempts,
                         job.max_attempts, self.worker)  # fmt: skip
        try:
            if handler is None:
                raise LookupError(f"no handler for job kind {job.kind!r}")
            await handler(ctx, dict(job.payload or {}))
        except Exception as exc:
            delay = exc.delay if isinstance(exc, RetryLater) else backoff(job.attempts)
            error = str(exc) if isinstance(exc, RetryLater) else _describe(exc)
            if job.attempts >= job.max_attempts:
                log.warning("job.failed", kind=job.kind, job_id=str(job.id), error=error)
                return {"status": "failed", "last_error": error, "finished_at": utcnow()}
            retry_at = utcnow() + dt.timedelta(seconds=delay)
            return {"status": "pending", "last_error": error, "run_at": retry_at}
        return {"status": "done"}

    async def run_job(self, job: Job) -> str:
        """Run one claimed job; returns its new status."""
        values = await self._execute(job)
        await self._finish(job, **values)
        return str(values["status"])

    async def run_once(self, limit: int | None = None) -> int:
        """Claim and run the due jobs (up to ``limit``); returns how many ran. Their new
        states are written together when the last of them is finished."""
        jobs = await self.claim(limit or self.concurrency)
        if not jobs:
            return 0
        if self.db.shares_connection:  # one connection (tests): one transaction at a time
            results = [await self._execute(job) for job in jobs]
        else:
            results = list(await asyncio.gather(*(self._execute(job) for job in jobs)))
        await self._finish_many(list(zip(jobs, results, strict=True)))
        return len(jobs)

    async def prune(self) -> int:
        """Delete finished jobs older than ``keep_done`` (failed ones are kept for people)."""
        cutoff = utcnow() - self.keep_done
        async with self.db.job(system=True) as session:
            result = await session.execute(
                delete(Job).where(Job.status == "done", Job.finished_at < cutoff)
            )
        return int(getattr(result, "rowcount", 0) or 0)

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Run due jobs until ``stop`` is set; wakes at once when a local commit enqueues."""
        commit_hooks.add_listener(CHANNEL, self._wake.set)
        try:
            while not stop.is_set():
                self._wake.clear()
                try:
                    ran = await self.run_once()
                    if utcnow() - self._last_prune > dt.timedelta(minutes=10):
                        self._last_prune = utcnow()
                        await self.prune()
                except Exception:  # the database may be away; keep the loop alive
                    log.exception("jobs.loop_error")
                    ran = 0
                if ran:
                    continue
                waiter = asyncio.ensure_future(self._wake.wait())
                stopper = asyncio.ensure_future(stop.wait())
                await asyncio.wait({waiter, stopper}, timeout=self.poll_seconds,
                                   return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
                for task in (waiter, stopper):
                    task.cancel()
        finally:
            commit_hooks.remove_listener(CHANNEL, self._wake.set)


def _describe(exc: BaseException) -> str:
    text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    return text[:2000]
