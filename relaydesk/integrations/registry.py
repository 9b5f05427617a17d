"""Per-instance runtime objects, kept for the life of the process (``app.state.connectors``).

Each connector instance gets its own executor, SSRF-safe HTTP client, auth handler (OAuth 2.0
tokens are cached there), priority token bucket, circuit breaker and read cache, keyed by the
instance id and rebuilt when the instance's ``version`` changes. Nothing is shared across
instances or tenants. Replaced runtimes are closed after a grace period (calls in flight
finish first); the registry holds at most ``max_instances`` runtimes (least recently used go).

Tests inject an ``executor_factory`` (a fake system), an ``http_factory``, clocks and a
``sleep`` that records waits instead of waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from redis.asyncio import Redis

from relaydesk.integrations.auth import AuthHandler
from relaydesk.integrations.cache import ReadCache, RedisReadCache
from relaydesk.integrations.limits import BreakerState, CircuitBreaker, PriorityTokenBucket
from relaydesk.integrations.models import ConnectorInstance
from relaydesk.integrations.resilience import ErrorRule
from relaydesk.integrations.runtime.base import (
    CallContext,
    Executor,
    make_auth_handler,
    make_http_client,
)
from relaydesk.integrations.secrets import secret_fields
from relaydesk.integrations.spec import ConnectorSpec

__all__ = [
    "ExecutorFactory",
    "HttpFactory",
    "InstanceRuntime",
    "RuntimeRegistry",
]

ExecutorFactory = Callable[[ConnectorSpec, Mapping[str, Any], Sequence[str]], Executor]
HttpFactory = Callable[[ConnectorSpec, Mapping[str, Any], Sequence[str]], httpx.AsyncClient]
AuthFactory = Callable[[ConnectorSpec, Mapping[str, Any], httpx.AsyncClient], AuthHandler]
Sleep = Callable[[float], Awaitable[Any]]


def default_executor_factory(
    spec: ConnectorSpec, config: Mapping[str, Any], allow_network: Sequence[str]
) -> Executor:
    from relaydesk.integrations.runtime import executor_for

    return executor_for(spec, config, allow_network=allow_network)


@dataclass(eq=False)
class InstanceRuntime:
    """Everything one instance needs to run calls; built once per (instance, version)."""

    instance_id: uuid.UUID
    tenant_id: uuid.UUID
    #: (version, updated_at) of the row it was built from
    stamp: tuple[int, Any]
    spec: ConnectorSpec
    executor: Executor
    context: CallContext
    bucket: PriorityTokenBucket
    breaker: CircuitBreaker
    cache: ReadCache | RedisReadCache
    #: the spec's error rules, converted once
    rules: tuple[ErrorRule, ...]
    #: secret config values: scrubbed from every message that leaves the pipeline
    secrets: tuple[str, ...]
    sleep: Sleep
    #: wall clock (seconds since the epoch) of the cache and of ``fetched_at``
    clock: Callable[[], float]
    cache_prefix: str
    closed: bool = field(default=False)

    @property
    def breaker_state(self) -> BreakerState:
        return self.breaker.state

    async def aclose(self) -> None:
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(Exception):
            await self.executor.aclose()
        with contextlib.suppress(Exception):
            await self.context.http.aclose()


class RuntimeRegistry:
    """The process's runtimes, by instance id (see the module docstring)."""

    def __init__(
        self,
        *,
        executor_factory: ExecutorFactory | None = None,
        http_factory: HttpFactory | None = None,
        auth_factory: AuthFactory | None = None,
        redis: Redis | None = None,
        sleep: Sleep = asyncio.sleep,
        cache_clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        max_instances: int = 1024,
        retire_after_seconds: float = 120.0,
    ) -> None:
        self.executor_factory = executor_factory or default_executor_factory
        self.http_factory = http_factory or make_http_client
        self.auth_factory = auth_factory or make_auth_handler
        #: set by the app lifespan when Redis is configured: caches are then shared by nodes
        self.redis = redis
        self.sleep = sleep
        self.cache_clock = cache_clock
        self.monotonic = monotonic
        self.max_instances = max_instances
        self.retire_after_seconds = retire_after_seconds
        self._runtimes: OrderedDict[uuid.UUID, InstanceRuntime] = OrderedDict()
        self._retiring: set[asyncio.Task[None]] = set()
        self._retired: set[InstanceRuntime] = set()
        self._lock = asyncio.Lock()

    def __len__(self) -> int:
        return len(self._runtimes)

    def peek(self, instance: ConnectorInstance) -> InstanceRuntime | None:
        """The live runtime of this instance version, if one was built (health pages)."""
        runtime = self._runtimes.get(instance.id)
        if runtime is None or runtime.stamp != (instance.version, instance.updated_at):
            return None
        if runtime.tenant_id != instance.tenant_id:
            return None
        return runtime

    async def get(
        self,
        instance: ConnectorInstance,
        spec: ConnectorSpec,
        load_config: Callable[[], Mapping[str, Any]],
    ) -> InstanceRuntime:
        """The runtime of ``instance`` at its current version, built on first use.

        ``load_config`` (decryption) only runs when a runtime is built. Building errors
        (:class:`~relaydesk.integrations.runtime.base.ExecutorError` for a base_url that
        does not render, ``ValueError`` for a bad allow-list...) propagate to the caller.
        """
        found = self.peek(instance)
        if found is not None:
            self._runtimes.move_to_end(instance.id)
            return found
        async with self._lock:
            found = self.peek(instance)
            if found is not None:
                return found
            runtime = self._build(instance, spec, load_config())
            old = self._runtimes.pop(instance.id, None)
            self._runtimes[instance.id] = runtime
            if old is not None:
                self._retire(old)
            while len(self._runtimes) > self.max_instances:
                _, evicted = self._runtimes.popitem(last=False)
                self._retire(evicted)
            return runtime

    def _build(
        self, instance: ConnectorInstance, spec: ConnectorSpec, config: Mapping[str, Any]
    ) -> InstanceRuntime:
        resilience = spec.resilience
        allow = list(instance.allow_network or [])
        http = self.http_factory(spec, config, allow)
        try:
            auth = self.auth_factory(spec, config, http)
            executor = self.executor_factory(spec, config, allow)
        except BaseException:
            self._close_later(http.aclose())
            raise
        timeout = (
            spec.http.timeout_seconds
            if spec.http is not None and spec.http.timeout_seconds is not None
            else resilience.timeout_seconds
        )
        context = CallContext(
            tenant_id=instance.tenant_id,
            instance_id=instance.id,
            spec=spec,
            config=config,
            http=http,
            auth=auth,
            timeout=timeout,
        )
        limit = resilience.rate_limit
        bucket = PriorityTokenBucket(limit.per_second, limit.burst, limit.background_share)
        breaker = CircuitBreaker(
            resilience.circuit_breaker.failure_threshold,
            resilience.circuit_breaker.reset_seconds,
            clock=self.monotonic,
        )
        stamp = int(instance.updated_at.timestamp() * 1e6) if instance.updated_at else 0
        prefix = f"relaydesk:cc:{instance.tenant_id}:{instance.id}:{instance.version}.{stamp}:"
        cache: ReadCache | RedisReadCache
        if self.redis is not None:
            cache = RedisReadCache(
                self.redis,
                prefix,
                ttl_seconds=resilience.cache.ttl_seconds,
                stale_seconds=resilience.cache.stale_seconds,
                clock=self.cache_clock,
            )
        else:
            cache = ReadCache(
                resilience.cache.ttl_seconds,
                resilience.cache.stale_seconds,
                clock=self.cache_clock,
            )
        hidden = secret_fields(spec)
        secrets = tuple(
            str(value)
            for name, value in config.items()
            if name in hidden and value not in (None, "")
        )
        return InstanceRuntime(
            instance_id=instance.id,
            tenant_id=instance.tenant_id,
            stamp=(instance.version, instance.updated_at),
            spec=spec,
            executor=executor,
            context=context,
            bucket=bucket,
            breaker=breaker,
            cache=cache,
            rules=tuple(ErrorRule.of(rule) for rule in spec.errors),
            secrets=secrets,
            sleep=self.sleep,
            clock=self.cache_clock,
            cache_prefix=prefix,
        )

    def _close_later(self, closing: Awaitable[Any]) -> None:
        async def _close() -> None:
            with contextlib.suppress(Exception):
                await closing

        task = asyncio.get_running_loop().create_task(_close())
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    def _retire(self, runtime: InstanceRuntime) -> None:
        """Close ``runtime`` once the calls that may still use it are over."""
        grace = self.retire_after_seconds
        self._retired.add(runtime)

        async def _later() -> None:
            await asyncio.sleep(grace)
            self._retired.discard(runtime)
            await runtime.aclose()

        task = asyncio.get_running_loop().create_task(_later())
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    async def evict(self, instance_id: uuid.UUID) -> None:
        """Forget an instance's runtime (deleted or disabled instance)."""
        runtime = self._runtimes.pop(instance_id, None)
        if runtime is not None:
            self._retire(runtime)

    async def aclose(self) -> None:
        """Close every runtime now (application shutdown)."""
        runtimes = [*self._runtimes.values(), *self._retired]
        self._runtimes.clear()
        self._retired.clear()
        for task in list(self._retiring):
            task.cancel()
        for runtime in runtimes:
            await runtime.aclose()
