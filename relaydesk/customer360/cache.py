"""The panels' read cache: a panel's answer for one customer, kept for its TTL and then, for
its stale window, as the fallback shown (labelled stale) when the system fails.

Entries hold the unmasked value with the time it was fetched from the system; masking is
applied per caller on the way out. In Redis (shared by every API node) when Redis is
configured, else in process memory (LRU). Keys carry the tenant, the panel and its version,
the instance version and a hash of the rendered parameters, so any change to a panel or its
instance starts afresh.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from redis.asyncio import Redis

__all__ = ["CachedPanel", "PanelCache"]

log = structlog.get_logger("relaydesk.customer360")

PREFIX = "relaydesk:c360:"


@dataclass(frozen=True, slots=True)
class CachedPanel:
    value: Any
    fetched_at: dt.datetime

    def age(self, now: float) -> float:
        return now - self.fetched_at.timestamp()


class PanelCache:
    """``get``/``put``/``delete`` by key; a cache outage is a miss, never an error."""

    def __init__(
        self,
        redis: Redis | None = None,
        *,
        max_entries: int = 8192,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis = redis
        self.max_entries = max_entries
        self.clock = clock
        #: key -> (value, fetched_at epoch, expires epoch)
        self._entries: OrderedDict[str, tuple[Any, float, float]] = OrderedDict()

    async def get(self, key: str) -> CachedPanel | None:
        now = self.clock()
        if self.redis is None:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[2] < now:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return CachedPanel(entry[0], dt.datetime.fromtimestamp(entry[1], dt.UTC))
        try:
            raw = await self.redis.get(PREFIX + key)
        except Exception as exc:  # an outage of the cache is a miss
            log.warning("customer360.cache_unavailable", error=type(exc).__name__)
            return None
        if raw is None:
            return None
        try:
            data = json.loads(raw)
            return CachedPanel(data["v"], dt.datetime.fromtimestamp(float(data["t"]), dt.UTC))
        except (ValueError, KeyError, TypeError):
            return None

    async def put(self, key: str, value: Any, fetched_at: dt.datetime, keep: float) -> None:
        """Keep ``value`` for ``keep`` seconds after it was fetched (TTL + stale window)."""
        fetched = fetched_at.timestamp()
        expires = fetched + keep
        if expires <= self.clock():
            return
        if self.redis is None:
            self._entries[key] = (value, fetched, expires)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
            return
        payload = json.dumps({"v": value, "t": fetched}, ensure_ascii=False)
        expire_ms = max(1, math.ceil((expires - self.clock()) * 1000))
        try:
            await self.redis.set(PREFIX + key, payload, px=expire_ms)
        except Exception as exc:
            log.warning("customer360.cache_unavailable", error=type(exc).__name__)

    async def delete(self, key: str) -> None:
        self._entries.pop(key, None)
        if self.redis is not None:
            try:
                await self.redis.delete(PREFIX + key)
            except Exception as exc:
                log.warning("customer360.cache_unavailable", error=type(exc).__name__)

    def clear_local(self) -> None:
        """Forget the in-process entries (tests and the benchmark's cold runs)."""
        self._entries.clear()
