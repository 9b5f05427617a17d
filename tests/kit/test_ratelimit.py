"""Rate limiting: the in-memory and the Redis backend behave the same (GCRA)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from relaydesk.kit.ratelimit import (
    KEY_PREFIX,
    MemoryRateLimiter,
    RateDecision,
    RateLimiter,
    RedisRateLimiter,
    make_rate_limiter,
)

REDIS_URL = "redis://127.0.0.1:6379/15"


async def _redis_client() -> Redis:
    client = Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=5)
    try:
        await client.ping()
    except Exception as exc:  # any connection problem means "no Redis here"
        await client.aclose()
        pytest.skip(f"Redis is not reachable at {REDIS_URL}: {exc}")
    return client


@pytest.fixture
async def redis_client() -> AsyncIterator[Redis]:
    client = await _redis_client()
    yield client
    await client.aclose()


@pytest.fixture
def key() -> str:
    """A fresh key per test, so runs (and other processes' tests) never share state."""
    return f"test:{uuid.uuid4().hex}"


@pytest.fixture(params=["memory", "redis"])
async def limiter(request: pytest.FixtureRequest) -> AsyncIterator[RateLimiter]:
    if request.param == "memory":
        yield MemoryRateLimiter()
        return
    client = await _redis_client()
    try:
        yield RedisRateLimiter(client)
    finally:
        await client.aclose()


async def _hits(
    limiter: RateLimiter, key: str, n: int, limit: int, window: int
) -> list[RateDecision]:
    return [await limiter.hit(key, limit, window) for _ in range(n)]


async def test_limit_is_respected_exactly(limiter: RateLimiter, key: str) -> None:
    decisions = await _hits(limiter, key, 8, limit=5, window=60)
    assert [d.allowed for d in decisions] == [True] * 5 + [False] * 3
    assert [d.remaining for d in decisions[:5]] == [4, 3, 2, 1, 0]
    assert all(d.retry_after == 0 for d in decisions[:5])
    assert all(d.remaining == 0 for d in decisions[5:])


async def test_retry_after_is_time_until_the_next_request(limiter: RateLimiter, key: str) -> None:
    await _hits(limiter, key, 5, limit=5, window=60)
    denied = await limiter.hit(key, 5, 60)
    assert not denied.allowed
    # one request's worth of allowance refills every 60 / 5 = 12 seconds
    assert 11 <= denied.retry_after <= 12

    await _hits(limiter, key + ":short", 3, limit=3, window=1)
    short = await limiter.hit(key + ":short", 3, 1)
    assert not short.allowed
    assert short.retry_after == 1  # never 0 when denied, even for sub-second waits


async def test_keys_are_independent(limiter: RateLimiter, key: str) -> None:
    assert [d.allowed for d in await _hits(limiter, key + ":a", 3, limit=2, window=60)] == [
        True,
        True,
        False,
    ]
    b = await limiter.hit(key + ":b", 2, 60)
    assert b.allowed
    assert b.remaining == 1


async def test_window_expiry_restores_access(limiter: RateLimiter, key: str) -> None:
    first = await _hits(limiter, key, 3, limit=2, window=1)
    assert [d.allowed for d in first] == [True, True, False]
    await asyncio.sleep(1.1)
    again = await _hits(limiter, key, 3, limit=2, window=1)
    assert [d.allowed for d in again] == [True, True, False]


async def test_concurrent_hits_never_exceed_the_limit(limiter: RateLimiter, key: str) -> None:
    decisions = await asyncio.gather(*(limiter.hit(key, 10, 60) for _ in range(50)))
    assert sum(d.allowed for d in decisions) == 10


async def test_invalid_arguments_are_rejected(limiter: RateLimiter, key: str) -> None:
    with pytest.raises(ValueError, match="limit"):
        await limiter.hit(key, 0, 60)
    with pytest.raises(ValueError, match="window_seconds"):
        await limiter.hit(key, 5, 0)


# --- memory backend specifics ------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000_000_000

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * 1_000_000_000)


async def test_memory_allowance_refills_gradually() -> None:
    clock = FakeClock()
    limiter = MemoryRateLimiter(clock=clock)
    assert all([(await limiter.hit("k", 4, 8)).allowed for _ in range(4)])
    denied = await limiter.hit("k", 4, 8)
    assert (denied.allowed, denied.retry_after) == (False, 2)
    clock.advance(1.5)
    assert (await limiter.hit("k", 4, 8)).retry_after == 1
    clock.advance(0.5)
    refilled = await limiter.hit("k", 4, 8)
    assert (refilled.allowed, refilled.remaining) == (True, 0)
    assert not (await limiter.hit("k", 4, 8)).allowed


async def test_memory_forgets_expired_keys() -> None:
    clock = FakeClock()
    limiter = MemoryRateLimiter(clock=clock, sweep_interval=1.0)
    for i in range(500):
        await limiter.hit(f"k{i}", 5, 2)
    assert len(limiter) == 500
    clock.advance(2.0)
    await limiter.hit("fresh", 5, 2)
    assert len(limiter) == 1


async def test_memory_is_bounded_even_with_live_keys() -> None:
    clock = FakeClock()
    limiter = MemoryRateLimiter(clock=clock, max_keys=100)
    for i in range(1_000):
        await limiter.hit(f"k{i}", 5, 3600)
        assert len(limiter) <= 100
    # the most recently used keys survive the eviction
    assert not any([(await limiter.hit("k999", 1, 3600)).allowed for _ in range(5)])


# --- Redis backend specifics -------------------------------------------------------------


@pytest.mark.redis
async def test_redis_instances_share_the_count(redis_client: Redis, key: str) -> None:
    other_client = await _redis_client()
    try:
        first, second = RedisRateLimiter(redis_client), RedisRateLimiter(other_client)
        decisions = []
        for i in range(10):
            limiter = first if i % 2 == 0 else second
            decisions.append(await limiter.hit(key, 4, 60))
        assert [d.allowed for d in decisions] == [True] * 4 + [False] * 6
        assert [d.remaining for d in decisions[:4]] == [3, 2, 1, 0]
    finally:
        await other_client.aclose()


@pytest.mark.redis
async def test_redis_keys_are_prefixed_and_expire(redis_client: Redis, key: str) -> None:
    await RedisRateLimiter(redis_client).hit(key, 4, 60)
    ttl_ms = await redis_client.pttl(KEY_PREFIX + key)
    # one hit of four in 60 s: the allowance is whole again after 15 s
    assert 14_000 <= ttl_ms <= 15_000
    assert await redis_client.exists(key) == 0


async def test_factory_picks_the_backend() -> None:
    assert isinstance(make_rate_limiter(None), MemoryRateLimiter)
    assert isinstance(make_rate_limiter(""), MemoryRateLimiter)
    limiter = make_rate_limiter(REDIS_URL)  # connects lazily: no Redis needed here
    assert isinstance(limiter, RedisRateLimiter)
    await limiter.aclose()
