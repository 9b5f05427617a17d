"""The Redis Streams backend, publishing side: partitioned streams and their bookkeeping.

Each event goes to stream ``<prefix>:p<n>`` with ``n = hash(tenant, key) % partitions``, so
all events of one key are in one stream, in order. Every consumer has its own consumer group
on every stream (:mod:`relaydesk.events.redis_consumers` reads them).

Redis may forget everything (this deployment keeps nothing on disk): the relay publishes
through a Lua script that first checks an *epoch* key it wrote itself. A restarted (or
flushed) Redis has no epoch, the script refuses, and :meth:`RedisPublisher.recover` marks
unpublished again, in the outbox, every event from the *watermark* on (every earlier event is
known to be processed by, or recorded as failed for, every consumer that wants it), then
writes a new epoch. The relay then publishes those events again in order, before any newer
one; consumers skip what they already processed. The watermark is advanced by
:meth:`RedisPublisher.sweep` (leader only), which also trims each stream below the oldest
entry that any consumer group still needs (``XTRIM MINID ~``). ``XADD ... MAXLEN ~`` caps a
stream whose consumer never runs (``max_stream_length``): past that, Redis memory wins and the
events must be replayed from the outbox (``relaydesk events replay``).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from redis.asyncio import Redis
from sqlalchemy import select, update

from relaydesk.events import metrics
from relaydesk.events.consumers import consumers
from relaydesk.events.envelope import Envelope
from relaydesk.events.inprocess import key_hash
from relaydesk.events.models import EventFailure, OutboxEvent, ProcessedEvent
from relaydesk.events.relay import RepublishNeeded
from relaydesk.events.repository import load_state, save_state, uuid7_floor
from relaydesk.kit.db import Database, utcnow

__all__ = ["RedisPublisher", "StreamKeys", "ensure_groups", "parse_stream_id"]

log = structlog.get_logger("relaydesk.events")

WATERMARK = "redis.watermark"

# KEYS[1] epoch, KEYS[2..] one stream per event; ARGV[1] epoch, ARGV[2] maxlen,
# ARGV[3] wake channel, ARGV[4] wake message, ARGV[5..] one envelope per event
_PUBLISH = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
for i = 2, #KEYS do
  redis.call('XADD', KEYS[i], 'MAXLEN', '~', ARGV[2], '*', 'e', ARGV[i + 3])
end
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1
"""


@dataclass(frozen=True)
class StreamKeys:
    prefix: str = "rd:events"
    partitions: int = 16

    def stream(self, partition: int) -> str:
        return f"{self.prefix}:p{partition}"

    def lease(self, partition: int) -> str:
        return f"{self.prefix}:lease:{partition}"

    @property
    def epoch(self) -> str:
        return f"{self.prefix}:epoch"

    @property
    def workers(self) -> str:
        return f"{self.prefix}:workers"

    @property
    def wake(self) -> str:
        """Pub/sub: the relay published to these partitions (comma-separated)."""
        return f"{self.prefix}:wake"

    @property
    def outbox(self) -> str:
        """Pub/sub: a process committed outbox events (wakes the relay elsewhere)."""
        return f"{self.prefix}:outbox"

    def partition_of(self, envelope: Envelope) -> int:
        return key_hash(envelope) % self.partitions


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def parse_stream_id(value: str) -> tuple[int, int]:
    ms, _, seq = value.partition("-")
    return int(ms), int(seq or 0)


async def ensure_groups(redis: Redis, streams: Sequence[str], names: Sequence[str]) -> None:
    """Create the consumer groups (from the stream's start) that do not exist yet."""
    if not streams or not names:
        return
    pipe = redis.pipeline(transaction=False)
    for stream in streams:
        for name in names:
            pipe.xgroup_create(stream, name, id="0", mkstream=True)
    for result in await pipe.execute(raise_on_error=False):
        if isinstance(result, Exception) and "BUSYGROUP" not in str(result):
            raise result


class RedisPublisher:
    name = "redis"

    def __init__(
        self,
        db: Database,
        redis: Redis,
        keys: StreamKeys,
        *,
        max_stream_length: int = 100_000,
        watermark_margin: float = 10.0,
    ) -> None:
        self.db = db
        self.redis = redis
        self.keys = keys
        self.max_stream_length = max_stream_length
        #: the watermark never passes events younger than this (a transaction that commits
        #: late writes an id from when it emitted)
        self.margin = dt.timedelta(seconds=watermark_margin)
        self._script = redis.register_script(_PUBLISH)
        self._epoch: str | None = None
        self._ready: set[str] = set()

    async def publish(self, envelopes: Sequence[Envelope]) -> None:
        if self._epoch is None:
            current = await self.redis.get(self.keys.epoch)
            self._epoch = None if current is None else _text(current)
            if self._epoch is None:
                await self.recover()
                raise RepublishNeeded
        streams = [self.keys.stream(self.keys.partition_of(e)) for e in envelopes]
        missing = sorted(set(streams) - self._ready)
        await ensure_groups(self.redis, missing, [c.name for c in consumers()])
        self._ready.update(missing)
        touched = sorted({s.rsplit(":p", 1)[1] for s in streams}, key=int)
        bodies = [json.dumps(e.to_json(), ensure_ascii=False, separators=(",", ":"))
                  for e in envelopes]  # fmt: skip
        ok = await self._script(
            keys=[self.keys.epoch, *streams],
            args=[self._epoch, self.max_stream_length, self.keys.wake, ",".join(touched),
                  *bodies],
        )  # fmt: skip
        if not ok:
            await self.recover()
            raise RepublishNeeded

    async def recover(self) -> int:
        """Redis lost its streams: unpublish every event from the watermark on."""
        now = utcnow()
        async with self.db.job(system=True) as session:
            mark = await load_state(session, WATERMARK)
            watermark = uuid.UUID(mark) if mark else uuid7_floor(now - self.margin)
            result = await session.execute(
                update(OutboxEvent)
                .where(OutboxEvent.id >= watermark, OutboxEvent.published_at.is_not(None))
                .values(published_at=None)
                .execution_options(synchronize_session=False)
            )
            if mark is None:
                await save_state(session, WATERMARK, str(watermark))
        count = int(getattr(result, "rowcount", 0) or 0)
        epoch = uuid.uuid4().hex
        await self.redis.set(self.keys.epoch, epoch)
        self._epoch = epoch
        self._ready.clear()
        metrics.REPUBLISHED.inc(count)
        if mark is None:
            log.info("events.redis_streams_started", watermark=str(watermark))
        else:
            log.warning("events.redis_streams_reset", republishing=count, watermark=str(watermark))
        return count

    # --- leader bookkeeping -------------------------------------------------------------

    async def sweep(self) -> None:
        await self.advance_watermark()
        await self.trim()

    async def advance_watermark(self, page: int = 1000) -> uuid.UUID | None:
        """Move the watermark past every event that all its consumers have dealt with."""
        cap = uuid7_floor(utcnow() - self.margin)
        async with self.db.job(system=True) as session:
            mark = await load_state(session, WATERMARK)
        if mark is None:
            return None  # set by recover(), i.e. on the first publish
        start = watermark = uuid.UUID(mark)
        for _ in range(20):
            stop, watermark = await self._scan(watermark, cap, page)
            if stop:
                break
        if watermark != start:
            async with self.db.job(system=True) as session:
                await save_state(session, WATERMARK, str(watermark))
        return watermark

    async def _scan(self, start: uuid.UUID, cap: uuid.UUID, page: int) -> tuple[bool, uuid.UUID]:
        async with self.db.job(system=True) as session:
            rows = (
                await session.execute(
                    select(OutboxEvent.id, OutboxEvent.type, OutboxEvent.published_at)
                    .where(OutboxEvent.id >= start, OutboxEvent.id < cap)
                    .order_by(OutboxEvent.id)
                    .limit(page)
                )
            ).all()
            if not rows:
                return True, max(start, cap)
            ids = [row.id for row in rows]
            done: set[tuple[str, uuid.UUID]] = set()
            for model in (ProcessedEvent, EventFailure):
                found = await session.execute(
                    select(model.consumer, model.event_id).where(model.event_id.in_(ids))
                )
                done.update((name, event_id) for name, event_id in found)
        registered = consumers()
        for row in rows:
            if row.published_at is None:
                return True, row.id
            if any(c.wants(row.type) and (c.name, row.id) not in done for c in registered):
                return True, row.id
        if len(rows) < page:
            return True, max(start, cap)
        return False, uuid.UUID(int=rows[-1].id.int + 1)

    async def trim(self) -> int:
        """``XTRIM MINID ~`` each stream below the oldest entry a known group still needs."""
        names = {c.name for c in consumers()}
        streams = [self.keys.stream(p) for p in range(self.keys.partitions)]
        pipe = self.redis.pipeline(transaction=False)
        for stream in streams:
            pipe.xinfo_groups(stream)
        infos = await pipe.execute(raise_on_error=False)
        trimmed = 0
        for stream, info in zip(streams, infos, strict=True):
            if isinstance(info, Exception):
                continue  # no such stream yet
            floor = await self._floor(stream, [g for g in info if g["name"] in names], names)
            if floor is not None:
                trimmed += int(await self.redis.xtrim(stream, minid=floor, approximate=True))
        return trimmed

    async def _floor(
        self, stream: str, groups: list[dict[str, Any]], names: set[str]
    ) -> str | None:
        if {g["name"] for g in groups} != names:
            self._ready.discard(stream)  # a group is missing: created on the next publish
            return None
        floors: list[tuple[int, int]] = []
        for group in groups:
            if int(group.get("pending") or 0):
                summary = await self.redis.xpending(stream, group["name"])
                floors.append(parse_stream_id(str(summary["min"])))
            else:
                ms, seq = parse_stream_id(str(group["last-delivered-id"]))
                floors.append((ms, seq + 1))
        if not floors:
            return None
        ms, seq = min(floors)
        return f"{ms}-{seq}"
