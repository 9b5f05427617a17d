"""The read cache of connector actions: TTL, then a stale window used when a system is down."""

from __future__ import annotations

import datetime as dt
import json
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis


@dataclass(frozen=True, slots=True)
class Cached:
    value: Any
    fetched_at: dt.datetime
    stale: bool


def _label(value: Any, fetched_at: float, now: float, ttl: float, stale: float) -> Cached | None:
    age = now - fetched_at
    if age > ttl + stale:
        return None
    when = dt.datetime.fromtimestamp(fetched_at, dt.UTC)
    return Cached(value, when, stale=age > ttl)


class ReadCache:
    """In-process LRU: fresh for ``ttl_seconds``, then served labelled stale for
    ``stale_seconds`` more (for when the source is down), then gone. Values are shared with
    every reader, not copied: treat them as read-only (mask into new objects)."""

    def __init__(
        self,
        ttl_seconds: float,
        stale_seconds: float = 0.0,
        *,
        max_entries: int = 1024,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.ttl, self.stale, self.max_entries, self._clock = (
            ttl_seconds, stale_seconds, max_entries, clock,
        )  # fmt: skip
        self._entries: OrderedDict[str, tuple[Any, float]] = OrderedDict()

    async def get(self, key: str) -> Cached | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        found = _label(entry[0], entry[1], self._clock(), self.ttl, self.stale)
        if found is None:
            del self._entries[key]
        else:
            self._entries.move_to_end(key)
        return found

    async def set(self, key: str, value: Any) -> None:
        self._entries[key] = (value, self._clock())
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    async def delete(self, key: str) -> None:
        self._entries.pop(key, None)


class RedisReadCache:
    """The same cache in Redis (shared by every node): JSON ``{"v": value, "t": fetched_at}``
    under ``prefix + key``, expiring after ttl + stale. Values must be JSON-serialisable."""

    def __init__(
        self,
        redis: Redis,
        prefix: str,
        *,
        ttl_seconds: float,
        stale_seconds: float = 0.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis, self.prefix = redis, prefix
        self.ttl, self.stale, self._clock = ttl_seconds, stale_seconds, clock

    async def get(self, key: str) -> Cached | None:
        raw = await self.redis.get(self.prefix + key)
        if raw is None:
            return None
        try:
            data = json.loads(raw)
            return _label(data["v"], float(data["t"]), self._clock(), self.ttl, self.stale)
        except (ValueError, KeyError, TypeError):
            return None  # a foreign or corrupt value is a miss

    async def set(self, key: str, value: Any) -> None:
        payload = json.dumps({"v": value, "t": self._clock()}, ensure_ascii=False)
        expire_ms = max(1, math.ceil((self.ttl + self.stale) * 1000))
        await self.redis.set(self.prefix + key, payload, px=expire_ms)

    async def delete(self, key: str) -> None:
        await self.redis.delete(self.prefix + key)
