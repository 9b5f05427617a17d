"""What rule executions need besides the database: connector runtimes, the keyring, the rate
limiter and the limits. Jobs only receive a :class:`~relaydesk.kit.db.Database`, so the
process that runs them binds its services to that database once::

    bind_runtime(db, AutomationRuntime(registry=app.state.connectors,
                                       keyring=app.state.keyring,
                                       rate_limiter=app.state.rate_limiter))

A database with nothing bound gets a runtime made from the settings on first use (its own
connector registry, the settings' keyring, an in-memory or Redis limiter).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

from relaydesk.integrations.registry import RuntimeRegistry
from relaydesk.kit.crypto import Keyring
from relaydesk.kit.db import Database
from relaydesk.kit.ratelimit import MemoryRateLimiter, RateLimiter

__all__ = ["AutomationRuntime", "Limits", "bind_runtime", "bound_runtime", "runtime_for"]


@dataclass(frozen=True)
class Limits:
    #: automation hops an event may be away from a person's or a system's change
    max_depth: int = 5
    #: rule executions a tenant may start per minute (a tenant's settings may lower or raise
    #: it: ``settings["automation"]["executions_per_minute"]``)
    executions_per_minute: int = 600
    #: the longest a delay action may wait
    max_delay_seconds: int = 30 * 86_400
    #: when a failed step is retried (policy retry): seconds before attempt n+1 is base * 2**n
    retry_base_seconds: float = 5.0


@dataclass
class AutomationRuntime:
    registry: RuntimeRegistry
    keyring: Keyring
    rate_limiter: RateLimiter = field(default_factory=MemoryRateLimiter)
    limits: Limits = field(default_factory=Limits)


_BOUND: weakref.WeakKeyDictionary[Database, AutomationRuntime] = weakref.WeakKeyDictionary()


def bind_runtime(db: Database, runtime: AutomationRuntime) -> AutomationRuntime:
    _BOUND[db] = runtime
    return runtime


def runtime_for(db: Database) -> AutomationRuntime:
    runtime = _BOUND.get(db)
    if runtime is None:
        from relaydesk.config import get_settings
        from relaydesk.kit.ratelimit import make_rate_limiter

        settings = get_settings()
        runtime = AutomationRuntime(
            registry=RuntimeRegistry(),
            keyring=Keyring.from_settings(settings),
            rate_limiter=make_rate_limiter(settings.redis.url),
        )
        _BOUND[db] = runtime
    return runtime


def bound_runtime(db: Database) -> AutomationRuntime | None:
    """The runtime bound to ``db``, if any (requests bind the app's own on first use)."""
    return _BOUND.get(db)
