"""Rate limiting for the API: GCRA (generic cell rate algorithm) in memory or in Redis.

Semantics, the same for both backends: a key may make ``limit`` requests at once, and its
allowance refills continuously at ``limit / window_seconds``; a key that stays idle for
``window_seconds`` has its whole allowance back. The state per key is one number, the
"theoretical arrival time" (TAT); a denied request changes nothing.

Use one key per (subject, scope), e.g. ``f"login:{tenant}:{ip}"``: the same key used with a
different limit or window shares its state.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis

__all__ = [
    "MemoryRateLimiter",
    "RateDecision",
    "RateLimiter",
    "RedisRateLimiter",
    "make_rate_limiter",
]

KEY_PREFIX = "relaydesk:rl:"

_NS_PER_SECOND = 1_000_000_000
_US_PER_SECOND = 1_000_000


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    #: further requests that would be allowed right now
    remaining: int
    #: seconds until a request would be allowed again: 0 when allowed, >= 1 when denied
    retry_after: int


class RateLimiter(Protocol):
    async def hit(self, key: str, limit: int, window_seconds: int) -> RateDecision:
        """Count one request for ``key``; say whether it may proceed."""
        ...


def _check_args(limit: int, window_seconds: int) -> None:
    if limit < 1:
        raise ValueError(f"limit must be >= 1 (got {limit})")
    if window_seconds < 1:
        raise ValueError(f"window_seconds must be >= 1 (got {window_seconds})")


def _ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


class MemoryRateLimiter:
    """GCRA in this process's memory: for one process (tests, the embedded single-node mode).

    Memory is bounded: keys whose allowance is whole again are forgotten (a sweep at most
    every ``sweep_interval`` seconds), and beyond ``max_keys`` live keys the least recently
    allowed ones are dropped (they start afresh, so a flood of distinct keys can only make
    the limiter more lenient for old keys, never use unbounded memory).

    ``hit`` never awaits inside its critical section, so it is atomic under asyncio; a lock
    also makes it safe to share between threads (e.g. sync endpoints in a thread pool).
    """

    def __init__(
        self,
        *,
        max_keys: int = 100_000,
        sweep_interval: float = 1.0,
        clock: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be >= 1")
        self._max_keys = max_keys
        self._sweep_interval_ns = int(sweep_interval * _NS_PER_SECOND)
        self._clock = clock
        # key -> TAT in clock nanoseconds; insertion order = least recently allowed first
        self._tat: dict[str, int] = {}
        self._lock = threading.Lock()
        self._next_sweep = clock() + self._sweep_interval_ns

    def __len__(self) -> int:
        """Number of keys currently tracked."""
        return len(self._tat)

    async def hit(self, key: str, limit: int, window_seconds: int) -> RateDecision:
        return self.hit_sync(key, limit, window_seconds)

    def hit_sync(self, key: str, limit: int, window_seconds: int) -> RateDecision:
        """The same as :meth:`hit`, for synchronous callers."""
        _check_args(limit, window_seconds)
        interval = max(1, window_seconds * _NS_PER_SECOND // limit)
        burst = interval * limit
        with self._lock:
            now = self._clock()
            if now >= self._next_sweep:
                self._sweep(now)
            tat = max(self._tat.get(key, now), now)
            new_tat = tat + interval
            allow_at = new_tat - burst
            if allow_at > now:
                return RateDecision(
                    allowed=False,
                    remaining=0,
                    retry_after=max(1, _ceil_div(allow_at - now, _NS_PER_SECOND)),
                )
            self._tat.pop(key, None)  # re-insert at the end: most recently allowed
            self._tat[key] = new_tat
            if len(self._tat) > self._max_keys:
                self._shrink(now)
            return RateDecision(
                allowed=True, remaining=(now + burst - new_tat) // interval, retry_after=0
            )

    async def aclose(self) -> None:
        """Nothing to release; present for symmetry with :class:`RedisRateLimiter`."""

    def _sweep(self, now: int) -> None:
        expired = [key for key, tat in self._tat.items() if tat <= now]
        for key in expired:
            del self._tat[key]
        self._next_sweep = now + self._sweep_interval_ns

    def _shrink(self, now: int) -> None:
        self._sweep(now)
        # Leave 10% headroom so a full table does not sweep on every new key.
        target = self._max_keys - self._max_keys // 10
        excess = len(self._tat) - target
        if excess > 0:
            for key in list(itertools.islice(self._tat, excess)):
                del self._tat[key]


# KEYS[1] = the key; ARGV[1] = limit; ARGV[2] = window in microseconds.
# Returns {allowed (0/1), remaining, microseconds until a request would be allowed}.
# The server's clock (TIME) is the only clock, so any number of processes agree.
# Lua numbers are doubles: microseconds since the epoch (~2^51) stay exact.
_GCRA_LUA = """
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local interval = math.max(1, math.floor(window / limit))
local burst = interval * limit
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then
  tat = now
end
local new_tat = tat + interval
local allow_at = new_tat - burst
if allow_at > now then
  return {0, 0, allow_at - now}
end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat),
           'PX', math.ceil((new_tat - now) / 1000))
return {1, math.floor((now + burst - new_tat) / interval), 0}
"""


class RedisRateLimiter:
    """GCRA in Redis, atomic in one Lua script (one round trip per hit), shared by processes.

    Keys are ``relaydesk:rl:<key>`` and expire once their allowance is whole again. Needs
    Redis >= 5 (scripts that read TIME before writing). Redis errors propagate: whether to
    fail open or closed is the caller's decision.
    """

    def __init__(self, redis: Redis, *, close_client: bool = False) -> None:
        self._redis = redis
        self._close_client = close_client
        self._script = redis.register_script(_GCRA_LUA)

    async def hit(self, key: str, limit: int, window_seconds: int) -> RateDecision:
        _check_args(limit, window_seconds)
        result = await self._script(
            keys=[KEY_PREFIX + key], args=[limit, window_seconds * _US_PER_SECOND]
        )
        allowed, remaining, wait_us = (int(value) for value in result)
        if allowed:
            return RateDecision(allowed=True, remaining=remaining, retry_after=0)
        return RateDecision(
            allowed=False, remaining=0, retry_after=max(1, _ceil_div(wait_us, _US_PER_SECOND))
        )

    async def aclose(self) -> None:
        """Close the Redis client if this limiter created it (see :func:`make_rate_limiter`)."""
        if self._close_client:
            await self._redis.aclose()


def make_rate_limiter(redis_url: str | None) -> RateLimiter:
    """A Redis-backed limiter when ``redis_url`` is set, else an in-process one."""
    if not redis_url:
        return MemoryRateLimiter()
    client = Redis.from_url(
        redis_url, socket_connect_timeout=2, socket_timeout=2, health_check_interval=30
    )
    return RedisRateLimiter(client, close_client=True)
