"""Direct delivery: the first attempt of a delivery to a healthy endpoint, sent as soon as the
consumer's transaction commits, without waiting for the job runner.

The webhooks consumer writes every delivery and its attempt job as always, but for an
endpoint that is enabled, has no open circuit breaker and no rate limit, it makes the job due
``grace`` seconds later and hands the signed request to this process's :class:`DirectSender`
after the commit. The sender POSTs with bounded concurrency per endpoint over the shared
keep-alive client, and records the outcomes of many deliveries in one transaction: the
attempt rows, the deliveries' status, and the jobs marked done. The guarantees stay those
of the job:

* **never lost**: if the process dies before the outcome is recorded, the job runs after the
  grace period (any worker) and sends the attempt;
* **recorded once**: the outcome is written only for deliveries still pending at their first
  attempt (locked), so a job that ran meanwhile wins and the sender's record is dropped;
* **failures** (anything but 2xx) are recorded one by one exactly as the job records them
  (breaker, retry schedule, 410, auto-disable), and the endpoint then takes the job path for
  ``degrade_seconds``; retries are always jobs. A success that changes the endpoint's health
  (the first after a failure or after a quiet minute) updates it once per batch.

Items that waited longer than half the grace period (a backlog, checked again right before
the request), items for an endpoint that failed meanwhile and items still queued at shutdown
are *released*: their job is made due now, so the runner sends them. Each item waits for its
endpoint's turn (``per_endpoint`` at a time) before it takes one of the shared slots, so a
slow endpoint never holds up the deliveries to the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Sequence
from typing import Any

import structlog
from sqlalchemy import Table, Uuid, bindparam, insert, update
from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from relaydesk.jobs.models import Job
from relaydesk.jobs.queue import CHANNEL as JOBS_CHANNEL
from relaydesk.kit import commit_hooks
from relaydesk.kit.db import Database, utcnow
from relaydesk.kit.ids import uuid7
from relaydesk.webhooks import health
from relaydesk.webhooks.delivery import Outcome, Prepared, record_outcome, send
from relaydesk.webhooks.dispatch import attempt_key
from relaydesk.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from relaydesk.webhooks.repository import EndpointRepository
from relaydesk.webhooks.runtime import runtime

__all__ = ["DirectSender", "eligible", "hand_over_after_commit", "sender_for"]

log = structlog.get_logger(__name__)

_SENDERS: dict[int, DirectSender] = {}
_HANDOVER = "webhooks.direct_handover"


def sender_for(db: Database | None) -> DirectSender | None:
    """The running sender of this process for ``db`` (None: deliveries go through jobs)."""
    return None if db is None else _SENDERS.get(id(db))


def eligible(endpoint: WebhookEndpoint, now: dt.datetime) -> bool:
    """Endpoints the sender may send to at once (the others need the job's checks)."""
    return endpoint.enabled and endpoint.circuit_open_until is None and not endpoint.rate_limit


def hand_over_after_commit(
    session: AsyncSession, sender: DirectSender, items: Sequence[Prepared]
) -> None:
    """Give ``items`` to ``sender`` when ``session``'s transaction commits; dropped if it,
    or the savepoint they were written in, rolls back. (``after_commit`` also fires when a
    savepoint is released, e.g. the bus's savepoint per consumer: that is not the commit.)"""
    sync = session.sync_session
    if not sa_event.contains(sync, "after_commit", _after_commit):
        sa_event.listen(sync, "after_commit", _after_commit)
        sa_event.listen(sync, "after_soft_rollback", _after_rollback)
    savepoint = sync.get_nested_transaction()
    sync.info.setdefault(_HANDOVER, []).append((savepoint, sender, list(items)))


def _after_commit(session: Session) -> None:
    if session.in_nested_transaction():  # a savepoint was released, not the commit
        return
    for _, sender, items in session.info.pop(_HANDOVER, ()):
        sender.submit(items)


def _after_rollback(session: Session, transaction: SessionTransaction) -> None:
    if not transaction.nested:
        session.info.pop(_HANDOVER, None)
        return
    kept = []
    for entry in session.info.get(_HANDOVER, ()):
        ancestor = entry[0]
        while ancestor is not None and ancestor is not transaction:
            ancestor = ancestor.parent
        if ancestor is None:  # not written in the savepoint that rolled back
            kept.append(entry)
    session.info[_HANDOVER] = kept


class DirectSender:
    def __init__(
        self,
        db: Database,
        *,
        grace: float = 60.0,
        per_endpoint: int = 4,
        concurrency: int = 64,
        max_queue: int = 20_000,
        degrade_seconds: float = 30.0,
        linger: float = 0.05,
        batch_size: int = 500,
    ) -> None:
        self.db = db
        #: seconds before the safety-net job of a handed-over delivery is due
        self.grace = grace
        self.per_endpoint = per_endpoint
        self.max_queue = max_queue
        self.degrade_seconds = degrade_seconds
        #: outcomes are recorded in batches of up to ``batch_size``, waiting up to ``linger``
        self.linger = linger
        self.batch_size = batch_size
        self._queue: deque[tuple[float, Prepared]] = deque()
        #: handed over and not yet sent or released (queued, or waiting for their endpoint)
        self._pending = 0
        #: waited too long or the sender stopped meanwhile: for the pump to release
        self._late: list[Prepared] = []
        self._results: list[tuple[Prepared, Outcome]] = []
        self._slots = asyncio.Semaphore(concurrency)
        self._per_endpoint: dict[uuid.UUID, asyncio.Semaphore] = {}
        self._degraded: dict[uuid.UUID, float] = {}
        self._sending: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._sent = asyncio.Event()
        self._full = asyncio.Event()
        self._running = False
        self._tasks: list[asyncio.Task[None]] = []

    # --- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        if self.db.shares_connection:  # tests on one connection: one transaction at a time
            return
        self._running = True
        _SENDERS[id(self.db)] = self
        self._tasks = [
            asyncio.create_task(self._pump(), name="webhooks-direct-pump"),
            asyncio.create_task(self._recorder(), name="webhooks-direct-record"),
        ]

    async def stop(self) -> None:
        """Stop taking deliveries, finish the requests in flight and record them, and make
        the jobs of what is still queued due now."""
        self._running = False
        if _SENDERS.get(id(self.db)) is self:
            del _SENDERS[id(self.db)]
        self._wake.set()
        if self._sending:
            await asyncio.wait(set(self._sending), timeout=30)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(BaseException):
                await task
        self._tasks.clear()
        left = [prepared for _, prepared in self._queue] + self._late
        self._queue.clear()
        self._late = []
        with contextlib.suppress(Exception):  # else the jobs run after the grace period
            await self._flush()
            await self._release(left)

    # --- intake -------------------------------------------------------------------------

    def accepts(self, endpoint_id: uuid.UUID) -> bool:
        if not self._running or self._pending >= self.max_queue:
            return False
        return self._healthy(endpoint_id)

    def _healthy(self, endpoint_id: uuid.UUID) -> bool:
        until = self._degraded.get(endpoint_id)
        return until is None or until <= time.monotonic()

    def submit(self, items: Sequence[Prepared]) -> None:
        now = time.monotonic()
        self._queue.extend((now, item) for item in items)
        self._pending += len(items)
        self._wake.set()

    # --- sending ------------------------------------------------------------------------

    def _fresh(self, queued_at: float) -> bool:
        """Not waited past half the grace period (after that its job may send it too)."""
        return time.monotonic() - queued_at <= self.grace / 2

    async def _pump(self) -> None:
        while self._running:
            await self._wake.wait()
            self._wake.clear()
            released, self._late = self._late, []
            while self._queue and self._running:
                queued_at, prepared = self._queue.popleft()
                if not self._fresh(queued_at) or not self._healthy(prepared.endpoint_id):
                    self._pending -= 1
                    released.append(prepared)
                    continue
                task = asyncio.create_task(self._send_one(queued_at, prepared))
                self._sending.add(task)
                task.add_done_callback(self._sending.discard)
            if released:
                try:
                    await self._release(released)
                except Exception:  # their jobs run after the grace period
                    log.warning("webhooks.direct_release_failed", count=len(released))

    async def _send_one(self, queued_at: float, prepared: Prepared) -> None:
        """Wait for the endpoint's turn first, then for a shared slot: a slow endpoint holds
        ``per_endpoint`` slots at most, and never delays the other endpoints' deliveries.
        What waited too long, or whose endpoint failed meanwhile, goes back to its job."""
        try:
            gate = self._per_endpoint.get(prepared.endpoint_id)
            if gate is None:
                gate = self._per_endpoint[prepared.endpoint_id] = asyncio.Semaphore(
                    self.per_endpoint
                )
            async with gate, self._slots:
                if not (self._running and self._fresh(queued_at)
                        and self._healthy(prepared.endpoint_id)):  # fmt: skip
                    self._late.append(prepared)
                    self._wake.set()
                    return
                outcome = await send(prepared)
            if not outcome.ok:
                self._degraded[prepared.endpoint_id] = time.monotonic() + self.degrade_seconds
            self._results.append((prepared, outcome))
            self._sent.set()
            if len(self._results) >= self.batch_size:
                self._full.set()
        finally:
            self._pending -= 1

    # --- recording ----------------------------------------------------------------------

    async def _recorder(self) -> None:
        failures = 0
        while True:
            await self._sent.wait()
            # group commit: the receiver has its request already; recording a batch costs
            # about what recording one does, so let outcomes gather for a moment
            if len(self._results) < self.batch_size:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._full.wait(), self.linger)
            self._full.clear()
            self._sent.clear()
            try:
                await self._flush()
                failures = 0
            except Exception as exc:  # the database is away: try again, then leave it to jobs
                failures += 1
                log.warning("webhooks.direct_record_failed", error=type(exc).__name__,
                            count=failures)  # fmt: skip
                if failures < 5:
                    self._sent.set()
                    await asyncio.sleep(0.2 * failures)
                else:
                    self._results.clear()
                    failures = 0

    async def _flush(self) -> None:
        """Record every outcome that arrived (one transaction per tenant for the successes
        that change nothing on the endpoint, one per outcome for the others)."""
        if not self._results:
            return
        batch = list(self._results)
        by_tenant: dict[uuid.UUID, list[tuple[Prepared, Outcome]]] = defaultdict(list)
        for prepared, outcome in batch:
            by_tenant[prepared.tenant_id].append((prepared, outcome))
        for tenant_id, results in by_tenant.items():
            succeeded = [(p, o) for p, o in results if o.ok]
            if succeeded:
                touch = {p.endpoint_id for p, _ in succeeded if not p.healthy}
                await _record_successes(self.db, tenant_id, succeeded, touch)
            for prepared, outcome in results:
                if not outcome.ok:
                    job = attempt_key(prepared.delivery_id, 1)
                    await record_outcome(self.db, tenant_id, prepared, outcome, finish_job=job)
        done = {id(item) for item in batch}
        self._results = [item for item in self._results if id(item) not in done]

    async def _release(self, items: Sequence[Prepared]) -> None:
        """Make the jobs of ``items`` due now (the runner sends them)."""
        if not items:
            return
        keys = [attempt_key(p.delivery_id, p.attempt) for p in items]
        async with self.db.job(system=True) as session:
            await session.execute(
                update(Job)
                .where(Job.dedupe_key.in_(keys), Job.status == "pending")
                .values(run_at=utcnow())
                .execution_options(synchronize_session=False)
            )
            commit_hooks.poke_after_commit(session, JOBS_CHANNEL)


# The recorder's statements, built once; they run on the session's connection (no ORM
# execute path), so they filter on the tenant themselves (typed: a foreign key column has no
# type until the table it points to is loaded).
_DELIVERIES: Table = WebhookDelivery.__table__  # type: ignore[assignment]
#: first attempts still pending become succeeded (the ids that did: a job that recorded one
#: first wins), one statement per status code
_SUCCEEDED = (
    update(_DELIVERIES)
    .where(_DELIVERIES.c.tenant_id == bindparam("b_tenant", type_=Uuid()),
           _DELIVERIES.c.id.in_(bindparam("ids", expanding=True)),
           _DELIVERIES.c.status == "pending", _DELIVERIES.c.attempts < 1)
    .values(status="succeeded", attempts=1, last_attempt_at=bindparam("b_now"),
            last_status_code=bindparam("b_code"), last_error=None, next_attempt_at=None,
            finished_at=bindparam("b_now"))
    .returning(_DELIVERIES.c.id)
)  # fmt: skip
_ATTEMPTS = insert(WebhookAttempt)
_JOBS_DONE = (
    update(Job)
    .where(Job.dedupe_key.in_(bindparam("keys", expanding=True)), Job.status == "pending")
    .values(status="done", finished_at=bindparam("b_now"))
)


async def _record_successes(
    db: Database,
    tenant_id: uuid.UUID,
    results: Sequence[tuple[Prepared, Outcome]],
    touch: set[uuid.UUID],
) -> None:
    """First attempts that succeeded: the deliveries still pending become succeeded (the
    update locks them), one attempt row each, their jobs done; the endpoints in ``touch``
    record the success on their health once (as the job would on each)."""
    now = utcnow()
    by_code: dict[int | None, list[uuid.UUID]] = defaultdict(list)
    for prepared, outcome in results:
        by_code[outcome.status_code].append(prepared.delivery_id)
    async with db.job(tenant_id) as session:
        connection = await session.connection()
        live: set[uuid.UUID] = set()
        for code, ids in by_code.items():
            params = {"b_tenant": tenant_id, "ids": ids, "b_code": code, "b_now": now}
            live.update((await connection.execute(_SUCCEEDED, params)).scalars())
        todo = [(p, o) for p, o in results if p.delivery_id in live]
        if not todo:
            return
        for endpoint_id in sorted(touch):
            endpoint = await EndpointRepository(session).locked(endpoint_id)
            if endpoint is not None:
                await health.record(session, endpoint, todo[-1][1], now, runtime().options)
        await connection.execute(_ATTEMPTS, [_attempt_row(p, o, now) for p, o in todo])
        keys = [attempt_key(p.delivery_id, 1) for p, _ in todo]
        await connection.execute(_JOBS_DONE, {"keys": keys, "b_now": now})


def _attempt_row(prepared: Prepared, outcome: Outcome, now: dt.datetime) -> dict[str, Any]:
    return {
        "id": uuid7(), "created_at": now, "tenant_id": prepared.tenant_id,
        "delivery_id": prepared.delivery_id, "endpoint_id": prepared.endpoint_id,
        "attempt": prepared.attempt, "url": prepared.url, "outcome": "succeeded",
        "status_code": outcome.status_code, "latency_ms": outcome.latency_ms,
        "response_body": outcome.response_body, "error": None, "next_attempt_at": None,
    }  # fmt: skip
