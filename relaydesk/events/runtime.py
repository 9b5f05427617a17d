"""The event runtime of one process: relay, consumers, retries and the job runner.

``relaydesk worker`` runs it, and so does the API process when ``events.run_in_api`` is on
(the embedded default). Roles:

* the **leader** (one process at a time; see :class:`~relaydesk.events.relay.Leadership`)
  runs the relay, the retry loop of failed deliveries and, with Redis, the watermark and
  stream trimming;
* with **Redis Streams** every process also reads the partitions it holds a lease on;
* every process runs the **job runner** (jobs are claimed with row locks).

``notify_only`` is for an API process that leaves the work to workers (``run_in_api`` off):
it only tells the leader through Redis when it committed events, so they go out at once
rather than on the leader's next poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import structlog
from redis.asyncio import Redis

from relaydesk.config import Settings
from relaydesk.errors import ConfigError
from relaydesk.events import outbox
from relaydesk.events.catalogue import catalogue
from relaydesk.events.dispatch import Dispatcher
from relaydesk.events.inprocess import InProcessBackend
from relaydesk.events.redis_consumers import StreamConsumers
from relaydesk.events.redis_streams import RedisPublisher, StreamKeys
from relaydesk.events.relay import Leadership, Publisher, Relay
from relaydesk.jobs.runner import JobRunner
from relaydesk.kit import commit_hooks
from relaydesk.kit.db import Database

__all__ = [
    "CONSUMER_MODULES",
    "Companion",
    "EventRuntime",
    "backend_of",
    "load_consumers",
    "register_companion",
]

log = structlog.get_logger("relaydesk.events")

#: with no failure row waiting, the retry loop still looks this often (another process, a
#: Redis Streams worker, may have written some)
RESCAN_SECONDS = 2.0


#: modules whose import registers the built-in consumers and job handlers (each domain with
#: a consumer adds its module here, as with the catalogue's EVENT_MODULES)
CONSUMER_MODULES: tuple[str, ...] = (
    "relaydesk.conversations.delivery",
    "relaydesk.realtime.consumer",
    "relaydesk.routing.tasks",
    "relaydesk.automation.tasks",
    "relaydesk.sagas.runner",
    "relaydesk.channels.email",
    "relaydesk.webhooks.consumers",
    "relaydesk.channels.voice",
    "relaydesk.customer360.consumers",
)


class Companion(Protocol):
    """A per-process service that runs beside the consumers (the webhooks' direct sender):
    started after them, stopped after the consumers stopped handing it work."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


_COMPANIONS: dict[str, Callable[[Database], Companion]] = {}


def register_companion(name: str, factory: Callable[[Database], Companion]) -> None:
    """Run ``factory(db)`` in every process that runs consumers (idempotent by name)."""
    _COMPANIONS[name] = factory


def load_consumers() -> None:
    """Import every module that registers consumers (and the catalogue's events)."""
    catalogue()
    for module in CONSUMER_MODULES:
        importlib.import_module(module)


def backend_of(settings: Settings) -> str:
    """``inprocess`` or ``redis``, from ``events.backend`` and ``redis.url``."""
    backend = settings.events.backend
    if backend == "auto":
        return "redis" if settings.redis.url else "inprocess"
    if backend == "redis" and not settings.redis.url:
        raise ConfigError("events.backend is redis but redis.url is not set (RELAYDESK_REDIS__URL)")
    return backend


class EventRuntime:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        notify_only: bool = False,
        run_jobs: bool = True,
        worker_id: str | None = None,
        lease_seconds: float = 10.0,
        retry_base: float = 2.0,
        sweep_seconds: float = 5.0,
        stream_prefix: str = "rd:events",
        max_stream_length: int = 100_000,
        batch_size: int = 500,
    ) -> None:
        events = settings.events
        self.db = db
        self.backend = backend_of(settings)
        self.notify_only = notify_only
        self.run_jobs = run_jobs and not notify_only
        self.poll_seconds = events.poll_seconds
        self.batch_window = events.batch_window_ms / 1000
        self.sweep_seconds = sweep_seconds
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        single = db.dialect == "sqlite" or db.shares_connection
        self.lanes = 1 if single else events.job_concurrency
        self.dispatcher = Dispatcher(db, max_attempts=events.max_attempts, retry_base=retry_base)
        self.leadership = Leadership(db)
        self.redis: Redis | None = None
        self.keys = StreamKeys(stream_prefix, events.partitions)
        self.publisher: Publisher
        self.consumers: StreamConsumers | None = None
        self.redis_publisher: RedisPublisher | None = None
        if self.backend == "redis":
            assert settings.redis.url is not None
            self.redis = Redis.from_url(settings.redis.url, decode_responses=True)
            self.publisher = self.redis_publisher = RedisPublisher(
                db, self.redis, self.keys, max_stream_length=max_stream_length
            )
            self.consumers = StreamConsumers(
                self.redis, self.dispatcher, self.keys, worker_id=self.worker_id,
                lease_seconds=lease_seconds, poll_seconds=events.poll_seconds,
                concurrency=events.job_concurrency, on_outbox=self.wake,
            )  # fmt: skip
        else:
            self.publisher = InProcessBackend(self.dispatcher, lanes=self.lanes)
        self.relay = Relay(db, self.publisher, batch_size=batch_size)
        self.jobs = JobRunner(db, worker=self.worker_id, concurrency=events.job_concurrency,
                              poll_seconds=events.poll_seconds)  # fmt: skip
        self.is_leader = False
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._tap_wake = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []
        self._notifying = False
        self._notify_task: asyncio.Task[None] | None = None
        self._step_failures = 0
        self._retry_poked = False
        self._companions: list[Companion] = []

    # --- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        load_consumers()
        self._stop.clear()
        self._wake.clear()
        self._tap_wake.clear()
        commit_hooks.add_listener(outbox.CHANNEL, self._on_commit)
        commit_hooks.add_listener(outbox.RETRY_CHANNEL, self._on_retry)
        if self.notify_only:
            return
        if self.run_jobs:
            for factory in _COMPANIONS.values():
                companion = factory(self.db)
                await companion.start()
                self._companions.append(companion)
        self._tasks.append(asyncio.create_task(self._lead(), name="events-leader"))
        self._tasks.append(asyncio.create_task(self._look_ahead(), name="events-taps"))
        if self.consumers is not None:
            self._tasks.append(
                asyncio.create_task(self.consumers.run(self._stop), name="events-consumers")
            )
        if self.run_jobs:
            from relaydesk.channels.email import ensure_polling

            with contextlib.suppress(Exception):  # repair e-mail poll chains a crash broke
                await ensure_polling(self.db)
            self._tasks.append(
                asyncio.create_task(self.jobs.run_forever(self._stop), name="job-runner")
            )
        log.info("events.runtime_started", backend=self.backend, worker=self.worker_id)

    async def stop(self, grace: float = 15.0) -> None:
        """Finish the batches in hand, give leases and the leader lock back, close Redis."""
        self._stop.set()
        self._wake.set()  # the loops' pauses wait on these
        self._tap_wake.set()
        commit_hooks.remove_listener(outbox.CHANNEL, self._on_commit)
        commit_hooks.remove_listener(outbox.RETRY_CHANNEL, self._on_retry)
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=grace)
            for task in pending:
                task.cancel()
            for task in self._tasks:
                with contextlib.suppress(BaseException):
                    await task
            self._tasks.clear()
        for companion in reversed(self._companions):
            with contextlib.suppress(Exception):
                await companion.stop()
        self._companions.clear()
        await self.leadership.release()
        self.is_leader = False
        if self._notify_task is not None:
            with contextlib.suppress(BaseException):
                await self._notify_task
        if self.redis is not None:
            await self.redis.aclose()

    def wake(self) -> None:
        self._wake.set()

    # --- wake-ups -----------------------------------------------------------------------

    def _on_retry(self) -> None:
        self._retry_poked = True
        self._wake.set()

    def _on_commit(self) -> None:
        self._wake.set()
        self._tap_wake.set()
        if self.redis is None or self.is_leader or self._notifying:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._notifying = True
        self._notify_task = loop.create_task(self._notify())

    async def _notify(self) -> None:
        try:
            assert self.redis is not None
            await self.redis.publish(self.keys.outbox, "1")
        except Exception:
            log.debug("events.notify_failed")
        finally:
            self._notifying = False

    # --- the leader ---------------------------------------------------------------------

    async def _lead(self) -> None:
        next_retry = next_sweep = quiet_until = 0.0
        failures = written = terms = 0
        while not self._stop.is_set():
            busy = False
            try:
                self.is_leader = await self.leadership.acquire()
                # cleared by a follower too: else a commit's poke would spin its loop
                self._wake.clear()
                if self.is_leader and terms != self.leadership.terms:
                    terms = self.leadership.terms  # another leader may have run meanwhile
                    self.dispatcher.fresh.forget()
                if self.is_leader:
                    # a batch smaller than the batch size drained the outbox: a commit since
                    # then set the wake event, so no second read to find it empty
                    moved = await self._step(self.relay.run_once)
                    busy = moved > 0 and not self.relay.drained
                    now = time.monotonic()
                    poked = self._retry_poked or self.dispatcher.failures_written != written
                    if (now >= next_retry or not busy) and (poked or now >= quiet_until):
                        self._retry_poked, written = False, self.dispatcher.failures_written
                        next_retry = now + 0.5
                        retried = await self.dispatcher.retry_due(concurrency=self.lanes)
                        busy = busy or retried > 0
                        # no failure row due: scan again when one may be (another process
                        # may write some: at the latest after RESCAN_SECONDS)
                        quiet = 0.0 if retried else await self.dispatcher.quiet_for(RESCAN_SECONDS)
                        quiet_until = now + max(0.5, quiet)
                    if self.redis_publisher is not None and now >= next_sweep:
                        next_sweep = now + self.sweep_seconds
                        await self._step(self.redis_publisher.sweep)
                failures = 0
            except Exception as exc:  # the database is away
                failures += 1
                self._log_error(failures, exc)
                await self._pause(min(2.0, 0.05 * 2**failures))
                continue
            if busy:
                await asyncio.sleep(0)
                continue
            until_scan = max(0.0, quiet_until - time.monotonic())
            await self._pause(min(self.poll_seconds, until_scan or self.poll_seconds), wake=True)
            if self._wake.is_set() and self.batch_window and not self._stop.is_set():
                # a commit woke the relay: let the events committed just after it join the
                # same batch (a batch's fixed cost is most of an event's at a steady rate)
                await self._pause(self.batch_window)

    async def _look_ahead(self) -> None:
        """The leader pushes what was just committed (the taps: realtime) at once, while the
        relay's round may still wait for the write lock (:meth:`Relay.tap_new`)."""
        while not self._stop.is_set():
            self._tap_wake.clear()
            count = 0
            if self.is_leader:
                count = await self._step(self.relay.tap_new)
            if count < self.relay.batch_size:
                await self._pause(self.poll_seconds, wake=self._tap_wake)

    async def _step(self, step: Callable[[], Awaitable[Any]]) -> Any:
        """Run one step of the leader; a failure (Redis away) is logged and counts as idle."""
        try:
            result = await step()
            self._step_failures = 0
            return result
        except Exception as exc:
            self._step_failures += 1
            self._log_error(self._step_failures, exc)
            return 0

    def _log_error(self, count: int, exc: Exception) -> None:
        if count <= 3 or count % 50 == 0:
            log.warning("events.leader_error", error=f"{type(exc).__name__}: {exc}", count=count)

    async def _pause(self, seconds: float, *, wake: bool | asyncio.Event = False) -> None:
        """Up to ``seconds``; ``wake`` (the relay's event, or the one given) ends it sooner, and
        so does a stop (which sets the wake events too). No task per pause: this runs twice
        per committed batch."""
        event = self._stop if not wake else self._wake if wake is True else wake
        if self._stop.is_set():
            return  # stopped after the loop cleared its wake event
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await event.wait()
