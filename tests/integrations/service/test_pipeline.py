"""The call pipeline against a scripted fake system: cache and stale values, retries,
Retry-After, refresh-then-retry, the circuit breaker, write safety, priorities, garbage."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from integrations.service.hub_support import (
    CLEAR_PHONE,
    ORDER_NO,
    ORDERS_SPEC,
    TOKEN,
    Clock,
    FakeSystem,
    RecordingAuth,
    Sleeper,
    answer,
    fake_instance,
    fake_registry,
    order_body,
)

from relaydesk.integrations.pipeline import Execution, execute
from relaydesk.integrations.registry import InstanceRuntime, RuntimeRegistry
from relaydesk.integrations.resilience import ErrorKind
from relaydesk.integrations.runtime.base import ExecutorError
from relaydesk.integrations.spec import validate_params

CONFIG = {"base_url": "http://erp.example.com", "token": TOKEN}


async def runtime_of(registry: RuntimeRegistry, spec_text: str | None = None) -> InstanceRuntime:
    instance, spec = fake_instance(spec_text) if spec_text else fake_instance()
    return await registry.get(instance, spec, lambda: CONFIG)


async def call(
    runtime: InstanceRuntime, action: str = "get_order", **params: Any
) -> Execution:
    params = params or {"order_no": ORDER_NO}
    validated = validate_params(runtime.spec, action, params)
    return await execute(runtime, action, validated)


@pytest.fixture
def system() -> FakeSystem:
    return FakeSystem()


@pytest.fixture
def sleeper() -> Sleeper:
    return Sleeper()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def runtime(system: FakeSystem, sleeper: Sleeper, clock: Clock) -> InstanceRuntime:
    return await runtime_of(fake_registry(system, sleeper, clock=clock))


async def test_a_read_is_mapped_into_the_canonical_shape(
    runtime: InstanceRuntime, system: FakeSystem
) -> None:
    result = await call(runtime)
    assert result.ok and not result.cached and result.attempts == 1
    assert result.value == {
        "order_no": ORDER_NO, "status": "paid", "paid_at": "2024-05-01T10:00:00+08:00",
        "total": "99.50", "receiver_name": "张伟", "receiver_phone": CLEAR_PHONE,
    }  # fmt: skip
    assert system.calls == [("get_order", {"order_no": ORDER_NO, "page": 1})]


async def test_cached_read_then_stale_when_the_system_fails(
    runtime: InstanceRuntime, system: FakeSystem, clock: Clock
) -> None:
    first = await call(runtime)
    fetched = first.fetched_at
    clock.now += 10
    hit = await call(runtime)
    assert hit.ok and hit.cached and not hit.stale and hit.attempts == 0
    assert hit.fetched_at == fetched and hit.value == first.value
    assert len(system.calls) == 1, "a fresh cache hit does not call the system"

    clock.now += 120  # past the 60 s TTL, inside the stale window
    system.push(*[answer({"error": "down"}, 503)] * 3)
    stale = await call(runtime)
    assert stale.ok and stale.cached and stale.stale
    assert stale.value == first.value and stale.fetched_at == fetched
    assert stale.error is not None and stale.error.cls == "retry" and stale.error.status == 503
    assert stale.attempts == 3

    clock.now += 3600  # past the stale window: nothing to serve
    system.push(*[answer({"error": "down"}, 503)] * 3)
    gone = await call(runtime)
    assert not gone.ok and gone.value is None and not gone.cached


async def test_different_params_are_cached_apart(
    runtime: InstanceRuntime, system: FakeSystem
) -> None:
    await call(runtime, order_no=ORDER_NO)
    await call(runtime, order_no=ORDER_NO, page=2)
    await call(runtime, order_no=ORDER_NO, page=2)
    assert len(system.calls) == 2


async def test_retries_on_503_then_succeeds(
    runtime: InstanceRuntime, system: FakeSystem, sleeper: Sleeper
) -> None:
    system.push(answer({"e": 1}, 503), answer({"e": 1}, 503))
    result = await call(runtime)
    assert result.ok and result.attempts == 3 and len(system.calls) == 3
    assert sleeper.waits == [0.01, 0.02]  # exponential backoff, jitter off in this spec


async def test_transport_errors_retry_like_503(
    runtime: InstanceRuntime, system: FakeSystem
) -> None:
    system.push(httpx.ConnectError("refused"), httpx.ReadTimeout("slow"))
    result = await call(runtime)
    assert result.ok and result.attempts == 3


async def test_429_retry_after_is_honoured_with_its_floor(
    runtime: InstanceRuntime, system: FakeSystem, sleeper: Sleeper
) -> None:
    system.push(
        answer({"e": "slow down"}, 429, {"Retry-After": "0"}),
        answer({"e": "slow down"}, 429, {"Retry-After": "3"}),
    )
    result = await call(runtime)
    assert result.ok and result.attempts == 3
    assert sleeper.waits == [1.0, 3.0], "Retry-After: 0 waits the 1 s floor, 3 waits 3 s"


async def test_retry_after_longer_than_we_may_wait_ends_the_call(
    runtime: InstanceRuntime, system: FakeSystem, sleeper: Sleeper
) -> None:
    system.push(answer({"e": "quota"}, 429, {"Retry-After": "600"}))
    result = await call(runtime, order_no="ABCDEF123")
    assert not result.ok and result.attempts == 1 and sleeper.waits == []
    assert result.error is not None
    assert result.error.code == "rate_limited" and result.error.retry_after == 600


async def test_refresh_then_retry_once_on_401(system: FakeSystem) -> None:
    auth = RecordingAuth()
    runtime = await runtime_of(fake_registry(system, auth=auth))
    system.push(answer({"e": "expired"}, 401))
    result = await call(runtime)
    assert result.ok and result.attempts == 2 and auth.invalidations == 1

    system.push(answer({"e": "expired"}, 401), answer({"e": "still"}, 401))
    failed = await call(runtime, order_no="ABCDEF123")
    assert not failed.ok and failed.attempts == 2 and auth.invalidations == 2
    assert failed.error is not None
    assert (failed.error.cls, failed.error.kind, failed.error.code) == (
        "refresh_token", "config", "unauthorized",
    )  # fmt: skip


async def test_breaker_opens_after_threshold_and_stops_calling(
    runtime: InstanceRuntime, system: FakeSystem, clock: Clock
) -> None:
    system.default = answer({"e": "down"}, 500)
    for n in range(3):
        result = await call(runtime, order_no=f"ABCDEF{n}")
        assert not result.ok and result.error is not None and result.error.code != "circuit_open"
    calls = len(system.calls)
    assert calls == 9  # 3 calls x 3 attempts

    blocked = await call(runtime, order_no="ABCDEF9")
    assert not blocked.ok and blocked.attempts == 0 and len(system.calls) == calls
    assert blocked.error is not None and blocked.error.code == "circuit_open"
    assert blocked.error.retry_after == 30
    assert runtime.breaker_state == "open"

    clock.now += 31  # half-open: one trial; its success closes the breaker
    system.default = answer(order_body())
    trial = await call(runtime, order_no="ABCDEF9")
    assert trial.ok and runtime.breaker_state == "closed"


async def test_config_errors_do_not_open_the_breaker(
    runtime: InstanceRuntime, system: FakeSystem
) -> None:
    system.default = answer({"e": "bad request"}, 400)
    for n in range(5):
        result = await call(runtime, order_no=f"ABCDEF{n}")
        assert result.error is not None and result.error.kind == "config"
        assert result.attempts == 1, "a 400 is not retried"
    assert runtime.breaker_state == "closed"


async def test_writes_are_not_retried_unless_idempotent(
    runtime: InstanceRuntime, system: FakeSystem
) -> None:
    system.push(answer({"e": "down"}, 503), answer({"ok": True}))
    write = await call(runtime, "change_address", order_no=ORDER_NO, address="上海市")
    assert not write.ok and write.attempts == 1 and len(system.calls) == 1

    system.queue.clear()
    system.push(answer({"e": "down"}, 503), answer({"ok": True}))
    idempotent = await call(runtime, "cancel_order", order_no=ORDER_NO)
    assert idempotent.ok and idempotent.attempts == 2


async def test_business_error_rule_gives_its_code_and_message(
    runtime: InstanceRuntime, system: FakeSystem
) -> None:
    system.push(answer({"code": "ORDER_SHIPPED"}, 200))
    result = await call(runtime, "change_address", order_no=ORDER_NO, address="上海市")
    assert not result.ok and result.error is not None
    assert result.error.code == "order_shipped" and "已发货" in result.error.message


async def test_ignored_status_is_an_empty_success(
    runtime: InstanceRuntime, system: FakeSystem
) -> None:
    system.push(answer({"error": "no such order"}, 404))
    result = await call(runtime, order_no="NOSUCH01")
    assert result.ok and result.value is None


async def test_garbage_is_a_classified_error_with_masked_problems(
    runtime: InstanceRuntime, system: FakeSystem
) -> None:
    system.push(answer(order_body(orderNo=None, payTime=f"tel {CLEAR_PHONE}")))
    result = await call(runtime)
    assert not result.ok and result.error is not None
    assert (result.error.cls, result.error.kind, result.error.code) == (
        "fail", "system", "mapping_failed",
    )  # fmt: skip
    paths = {p.path for p in result.error.problems or []}
    assert paths == {"order_no", "paid_at"}
    assert CLEAR_PHONE not in result.error.model_dump_json()

    undecodable = answer(None, 200)
    undecodable.extra = {"bytes": 120}
    system.push(undecodable)
    result = await call(runtime, order_no="ABCDEF123")
    assert result.error is not None and result.error.code == "invalid_response"


async def test_executor_errors_and_bugs_are_classified(
    runtime: InstanceRuntime, system: FakeSystem
) -> None:
    system.push(ExecutorError(ErrorKind.config, "sql: no such table", "sql_error"))
    result = await call(runtime)
    assert result.error is not None
    assert (result.error.kind, result.error.code, result.attempts) == ("config", "sql_error", 1)
    system.push(KeyError("boom"))
    result = await call(runtime, order_no="ABCDEF123")
    assert result.error is not None and result.error.kind == "system"


async def test_secrets_are_scrubbed_from_error_messages(
    runtime: InstanceRuntime, system: FakeSystem
) -> None:
    system.push(ExecutorError(ErrorKind.config, f"rejected token {TOKEN}", "auth"))
    result = await call(runtime)
    assert result.error is not None and TOKEN not in result.error.message


async def test_interactive_callers_go_before_background_work(system: FakeSystem) -> None:
    limited = ORDERS_SPEC.replace(
        "  timeout_seconds: 2\n",
        "  timeout_seconds: 2\n  rate_limit: {per_second: 20, burst: 1, background_share: 1}\n",
    )
    registry = fake_registry(system)
    runtime = await runtime_of(registry, limited)
    served: list[str] = []

    def record(action: str, params: Any) -> Any:
        served.append(params["order_no"])
        return answer({"ok": True})

    system.default = record
    assert await runtime.bucket.acquire("interactive")  # the one token is gone
    background = [
        asyncio.create_task(
            execute(runtime, "cancel_order", {"order_no": f"BG{i}"}, priority="background")
        )
        for i in range(3)
    ]
    await asyncio.sleep(0.001)  # the background calls are waiting for tokens
    agent = asyncio.create_task(execute(runtime, "cancel_order", {"order_no": "AGENT"}))
    results = await asyncio.gather(agent, *background)
    assert all(r.ok for r in results)
    assert served[0] == "AGENT", served
    assert sorted(served[1:]) == ["BG0", "BG1", "BG2"]
    await registry.aclose()


async def test_a_new_version_gets_a_new_runtime_and_config(system: FakeSystem) -> None:
    registry = fake_registry(system)
    instance, spec = fake_instance()
    first = await registry.get(instance, spec, lambda: CONFIG)
    assert await registry.get(instance, spec, lambda: {}) is first, "built once per version"
    instance.version = 2
    second = await registry.get(instance, spec, lambda: {**CONFIG, "token": "new"})
    assert second is not first and second.context.config["token"] == "new"
    assert len(registry) == 1
    await registry.aclose()
    assert first.closed and second.closed
