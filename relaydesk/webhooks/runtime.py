"""The process-wide pieces webhook delivery needs outside a request: options, the keyring,
the rate limiter, the clock and the outbound HTTP clients.

The application (and a worker process) calls :func:`configure` once at start-up with its
keyring and rate limiter; anything not configured is made from the settings on first use.
Tests pass a ``clock`` to move time (breaker, auto-disable) and short timeouts.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from relaydesk.integrations.runtime.base import outbound_policy
from relaydesk.kit.crypto import Keyring
from relaydesk.kit.db import utcnow
from relaydesk.kit.ratelimit import RateLimiter, make_rate_limiter
from relaydesk.webhooks.http1 import LeanClient

__all__ = ["WebhookOptions", "WebhookRuntime", "configure", "reset", "runtime"]

#: seconds before attempt n+1 (index n-1): immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h
DEFAULT_SCHEDULE: tuple[float, ...] = (0, 5, 300, 1800, 7200, 18000, 36000, 36000)


@dataclass(frozen=True)
class WebhookOptions:
    #: delay before each attempt; its length is the number of attempts
    schedule: tuple[float, ...] = DEFAULT_SCHEDULE
    #: each delay is multiplied by a random factor in [1 - jitter, 1 + jitter]
    jitter: float = 0.1
    timeout_seconds: float = 15.0
    #: bytes of the receiver's answer kept on the attempt row
    response_body_limit: int = 1024
    #: Retry-After (429, 502, 504) is obeyed within these bounds
    retry_after_floor: float = 5.0
    retry_after_cap: float = 6 * 3600.0
    #: consecutive failures that open the circuit breaker
    breaker_threshold: int = 5
    #: how long the breaker stays open: doubles per further failure, up to the maximum
    breaker_cooldown: float = 30.0
    breaker_cooldown_max: float = 600.0
    #: an endpoint whose every attempt failed for this long is disabled
    disable_after: dt.timedelta = dt.timedelta(days=5)
    #: default and longest overlap of the old secret after a rotation
    rotation_overlap: dt.timedelta = dt.timedelta(hours=24)
    rotation_overlap_max: dt.timedelta = dt.timedelta(days=7)
    #: job attempts allowed for waiting (breaker open, rate limited) before the job gives up
    job_max_attempts: int = 1000

    @property
    def max_attempts(self) -> int:
        return len(self.schedule)


Notifier = Callable[..., Any]


@dataclass
class WebhookRuntime:
    options: WebhookOptions = field(default_factory=WebhookOptions)
    keyring: Keyring | None = None
    limiter: RateLimiter | None = None
    clock: Callable[[], dt.datetime] = utcnow
    _clients: OrderedDict[tuple[tuple[str, ...], float], LeanClient] = field(
        default_factory=OrderedDict
    )

    def get_keyring(self) -> Keyring:
        if self.keyring is None:
            from relaydesk.config import get_settings

            self.keyring = Keyring.from_settings(get_settings())
        return self.keyring

    def get_limiter(self) -> RateLimiter:
        if self.limiter is None:
            from relaydesk.config import get_settings

            self.limiter = make_rate_limiter(get_settings().redis.url)
        return self.limiter

    def client(self, allow_network: Sequence[str]) -> LeanClient:
        """A shared SSRF-safe keep-alive client for this allow-list (no redirects, the
        timeout): a connection is only reused by requests under the same allow-list."""
        key = (tuple(sorted(allow_network)), self.options.timeout_seconds)
        client = self._clients.get(key)
        if client is None or client.is_closed:
            client = LeanClient(
                outbound_policy(allow_network),
                timeout=self.options.timeout_seconds,
                headers={"User-Agent": "Relaydesk-Webhooks/1", "Accept": "*/*",
                         "Content-Type": "application/json"},
            )  # fmt: skip
            self._clients[key] = client
            while len(self._clients) > 64:
                _, old = self._clients.popitem(last=False)
                # closing while another task still uses it would break that request
                _ORPHANS.append(old)
        else:
            self._clients.move_to_end(key)
        return client

    async def aclose(self) -> None:
        clients = [*self._clients.values(), *_ORPHANS]
        self._clients.clear()
        _ORPHANS.clear()
        for client in clients:
            await client.aclose()


_ORPHANS: list[LeanClient] = []
_RUNTIME = WebhookRuntime()


def runtime() -> WebhookRuntime:
    return _RUNTIME


def configure(
    *,
    keyring: Keyring | None = None,
    limiter: RateLimiter | None = None,
    options: WebhookOptions | None = None,
    clock: Callable[[], dt.datetime] | None = None,
    **option_overrides: Any,
) -> WebhookRuntime:
    """Set what is given; ``option_overrides`` replace single options (``timeout_seconds=1``)."""
    rt = _RUNTIME
    if keyring is not None:
        rt.keyring = keyring
    if limiter is not None:
        rt.limiter = limiter
    if clock is not None:
        rt.clock = clock
    if options is not None or option_overrides:
        rt.options = dataclasses.replace(options or rt.options, **option_overrides)
        _ORPHANS.extend(rt._clients.values())  # the timeout may have changed
        rt._clients.clear()
    return rt


async def reset() -> None:
    """Back to the defaults (tests)."""
    global _RUNTIME
    await _RUNTIME.aclose()
    _RUNTIME = WebhookRuntime()
