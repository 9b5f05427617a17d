"""Resilience per connector instance: response classification, backoff, a priority token
bucket, a circuit breaker and a read cache (in process or in Redis).

Nothing here knows about connectors or HTTP clients: the runtime feeds statuses, bodies and
exceptions in and acts on what comes out.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import enum
import functools
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import jmespath

from relaydesk.integrations.auth import TokenRequestFailed
from relaydesk.kit.safehttp import BlockedDestination, ResponseTooLarge


class ErrorClass(enum.StrEnum):
    success = "success"
    ignore = "ignore"  # success with an empty result
    retry = "retry"
    rate_limited = "rate_limited"
    refresh_token = "refresh_token"  # noqa: S105 (a class name, not a password)
    fail = "fail"


class ErrorKind(enum.StrEnum):
    config = "config"  # fix the spec/instance (4xx, bad credentials, blocked host)
    transient = "transient"  # will likely pass on retry (5xx, timeouts, rate limits)
    system = "system"  # the external system is broken (garbage, unexpected answers)


@dataclass(frozen=True, slots=True)
class Verdict:
    cls: ErrorClass
    kind: ErrorKind | None = None
    status: int | None = None
    message: str | None = None
    code: str | None = None
    #: seconds to wait before the next attempt (Retry-After, floored), if the answer said
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return self.cls in (ErrorClass.success, ErrorClass.ignore)


@dataclass(frozen=True, slots=True)
class ErrorRule:
    """One ``errors:`` entry of a spec: when (status in ``status`` and/or JMESPath ``body`` is
    truthy) then ``then``; first match wins."""

    then: ErrorClass
    status: tuple[int, ...] | None = None
    body: str | None = None
    message: str | None = None
    code: str | None = None
    kind: ErrorKind | None = None

    @classmethod
    def of(cls, rule: Any) -> ErrorRule:
        """From a spec model (``rule.when.status``, ``rule.when.body``, ``rule.then`` ...)."""
        if isinstance(rule, ErrorRule):
            return rule
        when = getattr(rule, "when", None)
        status = getattr(when, "status", None)
        kind = getattr(rule, "kind", None)
        return cls(
            then=ErrorClass(str(rule.then)),
            status=tuple(int(s) for s in status) if status else None,
            body=getattr(when, "body", None),
            message=getattr(rule, "message", None),
            code=getattr(rule, "code", None),
            kind=ErrorKind(str(kind)) if kind else None,
        )

    def matches(self, status: int | None, body_json: Any) -> bool:
        if self.status is not None and status not in self.status:
            return False
        if self.body is not None:
            if body_json is None:
                return False
            return _truthy(_compiled(self.body).search(body_json))
        return self.status is not None


@functools.lru_cache(maxsize=512)
def _compiled(expression: str) -> Any:
    return jmespath.compile(expression)


def _truthy(value: Any) -> bool:
    # JMESPath truthiness: false, null, "", [] and {} are false; 0 is true
    return value is not None and value is not False and value not in ("", [], {})


def parse_retry_after(
    value: str | None, *, floor: float = 1.0, cap: float = 3600.0, now: dt.datetime | None = None
) -> float:
    """Seconds to wait: delta-seconds or an HTTP-date, never below ``floor`` (a server saying
    ``Retry-After: 0`` must not start a retry storm, dlt #4036) nor above ``cap``."""
    seconds = floor
    if value:
        text = value.strip()
        if text.isdigit():
            seconds = float(text)
        else:
            try:
                when = email.utils.parsedate_to_datetime(text)
            except (TypeError, ValueError):
                when = None
            if when is not None:
                if when.tzinfo is None:
                    when = when.replace(tzinfo=dt.UTC)
                seconds = (when - (now or dt.datetime.now(dt.UTC))).total_seconds()
    return min(max(seconds, floor), cap)


_RETRY_STATUSES = frozenset({408, 425, 500, 502, 503, 504})


def _default(status: int | None) -> tuple[ErrorClass, ErrorKind | None, str | None]:
    if status is None:
        return ErrorClass.retry, ErrorKind.transient, "no answer"
    if 200 <= status < 300:
        return ErrorClass.success, None, None
    if status == 429:
        return ErrorClass.rate_limited, ErrorKind.transient, "rate limited"
    if status in _RETRY_STATUSES:
        return ErrorClass.retry, ErrorKind.transient, f"HTTP {status}"
    if status == 401:
        return ErrorClass.refresh_token, ErrorKind.config, "unauthorized"
    if 400 <= status < 500:
        return ErrorClass.fail, ErrorKind.config, f"HTTP {status}"
    return ErrorClass.fail, ErrorKind.system, f"unexpected HTTP {status}"


def _rule_kind(then: ErrorClass, status: int | None) -> ErrorKind | None:
    if then in (ErrorClass.retry, ErrorClass.rate_limited):
        return ErrorKind.transient
    if then is ErrorClass.refresh_token:
        return ErrorKind.config
    if then is ErrorClass.fail:
        return ErrorKind.system if (status or 0) >= 500 else ErrorKind.config
    return None


def classify(
    status: int | None,
    body_json: Any,
    rules: Sequence[Any] = (),
    *,
    headers: Mapping[str, str] | None = None,
    retry_after_floor: float = 1.0,
    retry_after_cap: float = 3600.0,
    now: dt.datetime | None = None,
) -> Verdict:
    """Classify one answer: the spec's rules first (first match wins), then the defaults:
    2xx success; 408/425/500/502/503/504 retry; 429 rate_limited; 401 refresh_token; other 4xx
    fail (config); anything else fail (system). ``status=None`` means no answer (retry).
    ``retry_after`` is set for rate_limited (floored) and for retry when Retry-After was sent."""
    rule = next((r for r in map(ErrorRule.of, rules) if r.matches(status, body_json)), None)
    code: str | None = None
    if rule is not None:
        cls, kind = rule.then, rule.kind or _rule_kind(rule.then, status)
        message, code = rule.message, rule.code
    else:
        cls, kind, message = _default(status)
    header = (headers or {}).get("retry-after") or (headers or {}).get("Retry-After")
    delay = None
    if cls is ErrorClass.rate_limited or (cls is ErrorClass.retry and header):
        delay = parse_retry_after(header, floor=retry_after_floor, cap=retry_after_cap, now=now)
    return Verdict(cls, kind, status, message, code, delay)


def classify_exception(exc: BaseException) -> Verdict:
    """Connection errors and timeouts retry (transient); a blocked destination or a refused
    token request is a config error; anything else (oversized answers...) is a system error."""
    if isinstance(exc, BlockedDestination):
        return Verdict(ErrorClass.fail, ErrorKind.config, message=str(exc))
    if isinstance(exc, TokenRequestFailed) and (exc.status or 500) < 500:
        return Verdict(ErrorClass.fail, ErrorKind.config, exc.status, str(exc))
    if isinstance(exc, ResponseTooLarge):
        return Verdict(ErrorClass.fail, ErrorKind.system, message=str(exc))
    if isinstance(exc, httpx.TransportError | TimeoutError | ConnectionError | TokenRequestFailed):
        return Verdict(
            ErrorClass.retry, ErrorKind.transient, message=str(exc) or type(exc).__name__
        )
    return Verdict(ErrorClass.fail, ErrorKind.system, message=type(exc).__name__)


class RetryPolicyLike(Protocol):
    @property
    def initial_backoff_seconds(self) -> float: ...
    @property
    def max_backoff_seconds(self) -> float: ...
    @property
    def jitter(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 3
    initial_backoff_seconds: float = 0.2
    max_backoff_seconds: float = 5.0
    jitter: bool = True


def backoff(attempt: int, policy: RetryPolicyLike, *, rng: random.Random | None = None) -> float:
    """Delay before retry number ``attempt`` (1 = first retry): exponential, capped at
    ``max_backoff_seconds``, with full jitter (uniform in [0, that]) when ``jitter``."""
    exponent = min(max(attempt, 1) - 1, 62)
    ceiling = min(policy.max_backoff_seconds, policy.initial_backoff_seconds * 2.0**exponent)
    if not policy.jitter:
        return ceiling
    return (rng or random).uniform(0.0, ceiling)


def delay_for(verdict: Verdict, attempt: int, policy: RetryPolicyLike) -> float:
    """What to wait before retrying after ``verdict``: Retry-After when given, else backoff."""
    if verdict.retry_after is not None:
        return verdict.retry_after
    return backoff(attempt, policy)


# re-exported: the limits and the cache live in their own modules
from relaydesk.integrations.cache import Cached, ReadCache, RedisReadCache  # noqa: E402
from relaydesk.integrations.limits import (  # noqa: E402
    BreakerState,
    CircuitBreaker,
    PriorityTokenBucket,
)

__all__ = [
    "BreakerState",
    "Cached",
    "CircuitBreaker",
    "ErrorClass",
    "ErrorKind",
    "ErrorRule",
    "PriorityTokenBucket",
    "ReadCache",
    "RedisReadCache",
    "RetryPolicy",
    "Verdict",
    "backoff",
    "classify",
    "classify_exception",
    "delay_for",
    "parse_retry_after",
]
