"""Resilience: classification, backoff, the priority token bucket, the breaker, read caches."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
import time
import uuid
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from relaydesk.integrations.auth import TokenRequestFailed
from relaydesk.integrations.resilience import (
    BreakerState,
    CircuitBreaker,
    ErrorClass,
    ErrorKind,
    ErrorRule,
    PriorityTokenBucket,
    ReadCache,
    RedisReadCache,
    RetryPolicy,
    Verdict,
    backoff,
    classify,
    classify_exception,
    delay_for,
    parse_retry_after,
)
from relaydesk.kit.safehttp import BlockedDestination

REDIS_URL = "redis://127.0.0.1:6379/15"
NOW = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.UTC)

# --- classification ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "cls", "kind"),
    [
        (200, ErrorClass.success, None),
        (204, ErrorClass.success, None),
        (408, ErrorClass.retry, ErrorKind.transient),
        (425, ErrorClass.retry, ErrorKind.transient),
        (500, ErrorClass.retry, ErrorKind.transient),
        (502, ErrorClass.retry, ErrorKind.transient),
        (503, ErrorClass.retry, ErrorKind.transient),
        (504, ErrorClass.retry, ErrorKind.transient),
        (429, ErrorClass.rate_limited, ErrorKind.transient),
        (401, ErrorClass.refresh_token, ErrorKind.config),
        (400, ErrorClass.fail, ErrorKind.config),
        (403, ErrorClass.fail, ErrorKind.config),
        (404, ErrorClass.fail, ErrorKind.config),
        (422, ErrorClass.fail, ErrorKind.config),
        (501, ErrorClass.fail, ErrorKind.system),
        (302, ErrorClass.fail, ErrorKind.system),
        (None, ErrorClass.retry, ErrorKind.transient),
    ],
)
def test_default_taxonomy(status: int | None, cls: ErrorClass, kind: ErrorKind | None) -> None:
    verdict = classify(status, None, [])
    assert (verdict.cls, verdict.kind) == (cls, kind)
    assert verdict.ok is (cls is ErrorClass.success)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, 1.0),  # no header: the floor
        ("0", 1.0),  # dlt #4036: Retry-After: 0 must not cause a retry storm
        ("30", 30.0),
        ("Wed, 01 May 2024 12:02:00 GMT", 120.0),
        ("Wed, 01 May 2024 11:00:00 GMT", 1.0),  # in the past
        ("soon", 1.0),
        ("99999999", 3600.0),  # capped
    ],
)
def test_rate_limited_honours_retry_after_with_a_floor(header: str | None, expected: float) -> None:
    headers = {} if header is None else {"Retry-After": header}
    verdict = classify(429, None, [], headers=headers, now=NOW)
    assert verdict.cls is ErrorClass.rate_limited
    assert verdict.retry_after == pytest.approx(expected)
    # httpx headers (case-insensitive) work the same
    verdict = classify(429, None, [], headers=httpx.Headers(headers), now=NOW)
    assert verdict.retry_after == pytest.approx(expected)


def test_retry_after_floor_is_configurable_and_503_may_carry_it() -> None:
    assert parse_retry_after("0", floor=5) == 5
    verdict = classify(503, None, [], headers={"retry-after": "7"})
    assert (verdict.cls, verdict.retry_after) == (ErrorClass.retry, 7.0)
    assert classify(503, None, []).retry_after is None


def _rule(status: list[int] | None = None, body: str | None = None, **kw: Any) -> Any:
    """A rule shaped like the spec model: rule.when.status / rule.when.body / rule.then."""
    return SimpleNamespace(when=SimpleNamespace(status=status, body=body), **kw)


RULES = [
    _rule(status=[429], then="rate_limited"),
    _rule(
        body="code == 'ORDER_SHIPPED'",
        then="fail",
        message="订单已发货，不能修改地址",
        code="order_shipped",
    ),
    _rule(status=[200], body="success == `false`", then="retry", kind="transient"),
    _rule(status=[404], then="ignore"),
    _rule(status=[500], then="fail"),
]


def test_spec_rules_come_first_and_first_match_wins() -> None:
    shipped = classify(200, {"code": "ORDER_SHIPPED", "success": False}, RULES)
    assert shipped.cls is ErrorClass.fail
    assert shipped.kind is ErrorKind.config
    assert (shipped.code, shipped.message) == ("order_shipped", "订单已发货，不能修改地址")
    assert classify(200, {"success": False}, RULES).cls is ErrorClass.retry
    assert classify(200, {"success": True}, RULES).cls is ErrorClass.success
    ignored = classify(404, {"msg": "no such order"}, RULES)
    assert ignored.cls is ErrorClass.ignore and ignored.ok
    assert classify(500, None, RULES).kind is ErrorKind.system
    assert classify(429, None, RULES, retry_after_floor=2).retry_after == 2
    # a body rule never matches an answer that is not JSON
    assert classify(200, None, RULES).cls is ErrorClass.success


def test_rules_may_be_given_as_error_rules() -> None:
    rule = ErrorRule(then=ErrorClass.fail, body="errors[?field == 'mobile'] | [0]")
    verdict = classify(200, {"errors": [{"field": "mobile"}]}, [rule])
    assert verdict.cls is ErrorClass.fail
    assert classify(200, {"errors": [{"field": "name"}]}, [rule]).cls is ErrorClass.success


def test_exceptions_are_classified() -> None:
    request = httpx.Request("GET", "https://erp.example/")
    for exc in (
        httpx.ConnectError("refused", request=request),
        httpx.ReadTimeout("slow", request=request),
        TimeoutError(),
    ):
        verdict = classify_exception(exc)
        assert (verdict.cls, verdict.kind) == (ErrorClass.retry, ErrorKind.transient)
    blocked = classify_exception(BlockedDestination("10.0.0.1 is private"))
    assert (blocked.cls, blocked.kind) == (ErrorClass.fail, ErrorKind.config)
    assert classify_exception(ValueError("garbage")).kind is ErrorKind.system
    refused = classify_exception(TokenRequestFailed("token endpoint answered HTTP 401", status=401))
    assert (refused.cls, refused.kind) == (ErrorClass.fail, ErrorKind.config)
    down = classify_exception(TokenRequestFailed("token endpoint answered HTTP 503", status=503))
    assert (down.cls, down.kind) == (ErrorClass.retry, ErrorKind.transient)


# --- backoff -------------------------------------------------------------------------------


def test_backoff_is_exponential_and_capped() -> None:
    policy = RetryPolicy(initial_backoff_seconds=0.2, max_backoff_seconds=5, jitter=False)
    delays = [backoff(n, policy) for n in range(1, 8)]
    assert delays == pytest.approx([0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0])
    assert backoff(10_000, policy) == 5.0


def test_backoff_full_jitter_stays_within_the_ceiling() -> None:
    policy = RetryPolicy(initial_backoff_seconds=0.2, max_backoff_seconds=5, jitter=True)
    rng = random.Random(42)
    samples = [backoff(3, policy, rng=rng) for _ in range(2_000)]
    assert all(0 <= s <= 0.8 for s in samples)
    assert 0.3 < sum(samples) / len(samples) < 0.5  # uniform over [0, 0.8]
    assert min(samples) < 0.05 and max(samples) > 0.75


def test_delay_prefers_retry_after() -> None:
    policy = RetryPolicy(jitter=False)
    assert delay_for(Verdict(ErrorClass.rate_limited, retry_after=12), 1, policy) == 12
    assert delay_for(Verdict(ErrorClass.retry), 2, policy) == pytest.approx(0.4)


# --- priority token bucket -----------------------------------------------------------------


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


async def test_background_may_use_only_its_share_of_the_burst() -> None:
    fake = FakeTime()
    bucket = PriorityTokenBucket(rate=1, burst=10, background_share=0.3, clock=fake.clock)
    background = [await bucket.acquire("background", timeout=0) for _ in range(5)]
    assert background == [True, True, True, False, False]
    interactive = [await bucket.acquire("interactive", timeout=0) for _ in range(9)]
    assert interactive == [True] * 7 + [False, False]


async def test_waiting_interactive_callers_are_served_before_waiting_background() -> None:
    fake = FakeTime()
    bucket = PriorityTokenBucket(
        rate=2, burst=2, background_share=0.5, clock=fake.clock, sleep=fake.sleep
    )
    assert await bucket.acquire("interactive", timeout=0)
    assert await bucket.acquire("interactive", timeout=0)
    granted: list[str] = []

    async def caller(name: str, priority: Any) -> None:
        assert await bucket.acquire(priority)
        granted.append(name)

    # background callers queue up first, then agents arrive
    tasks = [asyncio.create_task(caller(f"bg{i}", "background")) for i in range(3)]
    tasks += [asyncio.create_task(caller(f"agent{i}", "interactive")) for i in range(2)]
    await asyncio.gather(*tasks)
    assert granted == ["agent0", "agent1", "bg0", "bg1", "bg2"]
    # 2 interactive grants need 1 s at 2 tokens/s; each background grant then needs the
    # reserve (1 token) plus its own: about 1 s for the first, 0.5 s for each next one
    assert fake.now - 1000.0 == pytest.approx(1.0 + 1.0 + 0.5 + 0.5, abs=0.01)


async def test_acquire_times_out_without_losing_tokens() -> None:
    bucket = PriorityTokenBucket(rate=5, burst=1, background_share=1.0)
    assert await bucket.acquire("interactive", timeout=0)
    started = time.monotonic()
    assert not await bucket.acquire("interactive", timeout=0.05)
    assert time.monotonic() - started < 0.15
    await asyncio.sleep(0.25)  # refilled one token at 5/s
    assert await bucket.acquire("background", timeout=0)


# --- circuit breaker -----------------------------------------------------------------------


def state(breaker: CircuitBreaker) -> BreakerState:
    return breaker.state  # read through a call: the state changes between reads


def test_circuit_breaker_cycle() -> None:
    fake = FakeTime()
    breaker = CircuitBreaker(threshold=3, reset_seconds=30, clock=fake.clock)
    breaker.failure()
    breaker.failure()
    breaker.success()  # only consecutive failures count
    breaker.failure()
    breaker.failure()
    assert state(breaker) is BreakerState.closed and breaker.allow()
    breaker.failure()
    assert state(breaker) is BreakerState.open
    assert not breaker.allow()
    assert breaker.retry_in == 30
    fake.now += 10
    assert breaker.retry_in == 20 and not breaker.allow()
    fake.now += 20
    assert state(breaker) is BreakerState.half_open
    assert breaker.allow()  # the one trial call
    assert not breaker.allow()
    breaker.failure()  # the trial failed: open again for a full period
    assert state(breaker) is BreakerState.open and breaker.retry_in == 30
    fake.now += 30
    assert breaker.allow()
    breaker.success()
    assert state(breaker) is BreakerState.closed and breaker.retry_in == 0
    assert breaker.allow() and breaker.allow()


# --- read caches ---------------------------------------------------------------------------


async def test_read_cache_fresh_then_stale_then_gone() -> None:
    fake = FakeTime()
    cache = ReadCache(ttl_seconds=60, stale_seconds=3600, clock=fake.clock)
    await cache.set("order:E1", {"status": "shipped"})
    hit = await cache.get("order:E1")
    assert hit is not None and not hit.stale
    assert hit.value == {"status": "shipped"}
    assert hit.fetched_at == dt.datetime.fromtimestamp(1000.0, dt.UTC)
    fake.now += 61
    stale = await cache.get("order:E1")
    assert stale is not None and stale.stale and stale.fetched_at == hit.fetched_at
    fake.now += 3600
    assert await cache.get("order:E1") is None
    assert await cache.get("order:unknown") is None


async def test_read_cache_is_a_bounded_lru() -> None:
    cache = ReadCache(ttl_seconds=60, max_entries=2)
    await cache.set("a", 1)
    await cache.set("b", 2)
    assert await cache.get("a") is not None  # a is now the most recently used
    await cache.set("c", 3)
    assert await cache.get("b") is None
    assert [(await cache.get(k)) is not None for k in ("a", "c")] == [True, True]
    await cache.delete("a")
    assert await cache.get("a") is None


@pytest.fixture
async def redis_client() -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=5)
    try:
        await client.ping()
    except Exception as exc:  # any connection problem means "no Redis here"
        await client.aclose()
        pytest.skip(f"Redis is not reachable at {REDIS_URL}: {exc}")
    yield client
    await client.aclose()


@pytest.mark.redis
async def test_redis_read_cache_shares_values_and_labels_staleness(redis_client: Redis) -> None:
    fake = FakeTime()
    prefix = f"relaydesk:test:cache:{uuid.uuid4().hex}:"
    node_a = RedisReadCache(
        redis_client, prefix, ttl_seconds=60, stale_seconds=3600, clock=fake.clock
    )
    node_b = RedisReadCache(
        redis_client, prefix, ttl_seconds=60, stale_seconds=3600, clock=fake.clock
    )
    try:
        value = {"receiver": "张三", "items": [{"sku": "S1", "qty": 2}], "total": "99.50"}
        await node_a.set("order:E1", value)
        hit = await node_b.get("order:E1")
        assert hit is not None and hit.value == value and not hit.stale
        assert hit.fetched_at == dt.datetime.fromtimestamp(1000.0, dt.UTC)
        raw = await redis_client.get(prefix + "order:E1")
        assert raw is not None
        stored = json.loads(raw)
        assert stored == {"v": value, "t": 1000.0}
        assert 3_600_000 < await redis_client.pttl(prefix + "order:E1") <= 3_660_000
        fake.now += 120
        stale = await node_b.get("order:E1")
        assert stale is not None and stale.stale
        fake.now += 3600
        assert await node_a.get("order:E1") is None
        await redis_client.set(prefix + "corrupt", b"\xff not json")
        assert await node_a.get("corrupt") is None
        await node_a.delete("order:E1")
        assert await redis_client.exists(prefix + "order:E1") == 0
    finally:
        keys = await redis_client.keys(prefix + "*")
        if keys:
            await redis_client.delete(*keys)
