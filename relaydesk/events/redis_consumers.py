"""The Redis Streams backend, consuming side: partition leases and group readers.

Any number of worker processes share the partitions. A worker holds a *lease* per partition
(``SET NX PX``, renewed every third of its life) and takes about its fair share (partitions /
live workers, from a heartbeat sorted set), giving extras back when more workers join. Only
the lease holder reads a partition, so the events of one key are handled by one process, in
stream order, one consumer group at a time per consumer.

When a worker dies its leases expire; the next holder first claims every entry still pending
in the partition's groups (``XAUTOCLAIM`` from ``0-0``: delivered to the dead worker, never
acknowledged) and handles them before new ones. An entry is acknowledged (``XACK``) only
after the dispatcher committed its processed record (or its failure record), so at worst an
entry is delivered twice and skipped the second time. A worker that finds its groups gone
(``NOGROUP``: Redis restarted) creates them again and waits for the relay to publish the
lost events again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from redis.asyncio import Redis

from relaydesk.events.consumers import Consumer, consumers
from relaydesk.events.dispatch import Dispatcher
from relaydesk.events.envelope import Envelope
from relaydesk.events.redis_streams import StreamKeys, ensure_groups

__all__ = ["StreamConsumers"]

log = structlog.get_logger("relaydesk.events")

_RENEW = """
local held = {}
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then
    redis.call('PEXPIRE', key, ARGV[2]); held[i] = 1
  else held[i] = 0 end
end
return held
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass
class _Partition:
    task: asyncio.Task[None] | None = None
    stop: asyncio.Event = field(default_factory=asyncio.Event)


class StreamConsumers:
    def __init__(
        self,
        redis: Redis,
        dispatcher: Dispatcher,
        keys: StreamKeys,
        *,
        worker_id: str,
        lease_seconds: float = 10.0,
        batch_size: int = 100,
        poll_seconds: float = 1.0,
        concurrency: int = 8,
        on_outbox: Callable[[], None] | None = None,
    ) -> None:
        self.redis = redis
        self.dispatcher = dispatcher
        self.keys = keys
        self.worker_id = worker_id
        self.lease_ms = int(lease_seconds * 1000)
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.on_outbox = on_outbox
        self._gate = asyncio.Semaphore(max(1, concurrency))
        self._owned: dict[int, _Partition] = {}
        self._retiring: set[asyncio.Task[None]] = set()
        self._wake = {p: asyncio.Event() for p in range(keys.partitions)}
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)
        self._last_renew = time.monotonic()

    @property
    def owned(self) -> list[int]:
        return sorted(self._owned)

    # --- the lease loop -----------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        listener = asyncio.create_task(self._listen(stop), name="events-redis-listener")
        try:
            while not stop.is_set():
                try:
                    await self._balance()
                    self._last_renew = time.monotonic()
                except Exception as exc:
                    log.warning("events.lease_error", error=str(exc))
                    if (time.monotonic() - self._last_renew) * 1000 > self.lease_ms:
                        for partition in list(self._owned):
                            self._lose(partition)  # they have expired by now
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.lease_ms / 3000)
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
            await self._shutdown()

    async def _balance(self) -> None:
        now_ms = int(time.time() * 1000)
        pipe = self.redis.pipeline(transaction=False)
        pipe.zadd(self.keys.workers, {self.worker_id: now_ms})
        pipe.zremrangebyscore(self.keys.workers, 0, now_ms - self.lease_ms)
        pipe.zcard(self.keys.workers)
        live = max(1, int((await pipe.execute())[-1]))
        share = math.ceil(self.keys.partitions / live)
        held = list(self._owned)
        if held:
            kept = await self._renew(keys=[self.keys.lease(p) for p in held],
                                     args=[self.worker_id, self.lease_ms])  # fmt: skip
            for partition, ok in zip(held, kept, strict=True):
                if not int(ok):
                    self._lose(partition)
        for partition in sorted(self._owned, reverse=True)[: max(0, len(self._owned) - share)]:
            self._retire(partition)
        if len(self._owned) >= share:
            return
        start = zlib.crc32(self.worker_id.encode()) % self.keys.partitions
        for i in range(self.keys.partitions):
            partition = (start + i) % self.keys.partitions
            if partition in self._owned:
                continue
            if await self.redis.set(self.keys.lease(partition), self.worker_id, nx=True,
                                    px=self.lease_ms):  # fmt: skip
                self._start(partition)
                if len(self._owned) >= share:
                    break

    def _start(self, partition: int) -> None:
        state = _Partition()
        state.task = asyncio.create_task(
            self._run_partition(partition, state.stop), name=f"events-partition-{partition}"
        )
        self._owned[partition] = state
        log.info("events.partition_acquired", partition=partition, worker=self.worker_id)

    def _lose(self, partition: int) -> None:
        state = self._owned.pop(partition, None)
        if state is not None:
            state.stop.set()
            self._wake[partition].set()
            log.info("events.partition_lost", partition=partition, worker=self.worker_id)

    def _retire(self, partition: int) -> None:
        """Give a partition back: finish the batch in hand, then delete the lease."""
        state = self._owned.pop(partition)
        state.stop.set()
        self._wake[partition].set()

        async def retire() -> None:
            if state.task is not None:
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await state.task
            with contextlib.suppress(Exception):
                await self._release(keys=[self.keys.lease(partition)], args=[self.worker_id])

        task = asyncio.create_task(retire())
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    async def _shutdown(self) -> None:
        for partition in list(self._owned):
            self._retire(partition)
        if self._retiring:
            await asyncio.wait(set(self._retiring), timeout=self.lease_ms / 1000)
        with contextlib.suppress(Exception):
            await self.redis.zrem(self.keys.workers, self.worker_id)

    async def _listen(self, stop: asyncio.Event) -> None:
        """Wake-ups: partitions with new entries, and outbox commits in other processes."""
        while not stop.is_set():
            pubsub = self.redis.pubsub()
            try:
                await pubsub.subscribe(self.keys.wake, self.keys.outbox)
                while not stop.is_set():
                    message = await pubsub.get_message(ignore_subscribe_messages=True,
                                                       timeout=1.0)  # fmt: skip
                    if message is None:
                        continue
                    channel, data = _text(message["channel"]), _text(message["data"])
                    if channel == self.keys.outbox:
                        if self.on_outbox is not None:
                            self.on_outbox()
                        continue
                    for part in data.split(","):
                        if part.isdigit() and int(part) in self._wake:
                            self._wake[int(part)].set()
            except asyncio.CancelledError:
                raise
            except Exception:
                await asyncio.sleep(0.5)  # Redis is away: polling covers the gap
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    # --- one partition ------------------------------------------------------------------

    async def _run_partition(self, partition: int, stop: asyncio.Event) -> None:
        stream = self.keys.stream(partition)
        wake = self._wake[partition]
        recover, failures = True, 0
        while not stop.is_set():
            try:
                if recover:
                    await ensure_groups(self.redis, [stream], [c.name for c in consumers()])
                    await self._claim_pending(stream, stop)
                    recover = False
                wake.clear()
                if await self._read_new(stream, stop):
                    failures = 0
                    continue
                failures = 0
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), self.poll_seconds)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                recover, failures = True, failures + 1
                if failures <= 3 or failures % 50 == 0:
                    log.warning("events.partition_error", partition=partition, error=str(exc))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), min(5.0, 0.1 * 2**failures))

    async def _claim_pending(self, stream: str, stop: asyncio.Event) -> None:
        for consumer in consumers():
            start = "0-0"
            while not stop.is_set():
                reply = await self.redis.xautoclaim(stream, consumer.name, self.worker_id,
                                                    min_idle_time=0, start_id=start,
                                                    count=self.batch_size)  # fmt: skip
                next_start, entries = _text(reply[0]), reply[1]
                if len(reply) > 2 and reply[2]:
                    log.warning("events.pending_entries_trimmed", stream=stream,
                                consumer=consumer.name, count=len(reply[2]))  # fmt: skip
                if entries:
                    await self._handle(consumer, stream, entries)
                if next_start == "0-0":
                    break
                start = next_start

    async def _read_new(self, stream: str, stop: asyncio.Event) -> int:
        registered = consumers()
        pipe = self.redis.pipeline(transaction=False)
        for consumer in registered:
            pipe.xreadgroup(consumer.name, self.worker_id, {stream: ">"}, count=self.batch_size)
        replies = await pipe.execute()
        if stop.is_set():
            return 0  # the lease is gone: the next holder claims what was just read
        work = [
            self._handle(consumer, stream, reply[0][1])
            for consumer, reply in zip(registered, replies, strict=True)
            if reply and reply[0][1]
        ]
        for result in await asyncio.gather(*work, return_exceptions=True):
            if isinstance(result, BaseException):
                raise result
        return len(work)

    async def _handle(
        self, consumer: Consumer, stream: str, entries: Sequence[tuple[Any, Any]]
    ) -> None:
        ids: list[str] = []
        wanted: list[Envelope] = []
        for entry_id, data in entries:
            ids.append(_text(entry_id))
            if not data:
                continue  # deleted while pending
            envelope = Envelope.from_json(json.loads(_text(data["e"])))
            if consumer.wants(envelope.type):
                wanted.append(envelope)
        if wanted:
            async with self._gate:
                await self.dispatcher.deliver(consumer, wanted)
        await self.redis.xack(stream, consumer.name, *ids)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
