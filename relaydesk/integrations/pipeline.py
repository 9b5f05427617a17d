"""The part of an action call that talks to the external system (no database, no principal).

cache (reads with ``cache: true``) → circuit breaker → per attempt: token bucket → executor →
classify; retries with backoff or Retry-After (reads, and writes declared idempotent),
refresh-then-retry once on ``refresh_token`` → select + mapping → canonical shape → cache.
When the system fails and the cache holds a value past its TTL (but inside the stale window),
that value is served, labelled stale, with the error that made it necessary.

Nothing here raises for anything the external system does: every answer, exception or
garbage body ends as an :class:`Execution` with a classified error.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import structlog

from relaydesk.integrations.auth import TokenRequestFailed
from relaydesk.integrations.cache import Cached
from relaydesk.integrations.canonical import validate_shape
from relaydesk.integrations.limits import Priority
from relaydesk.integrations.mapping import MappingError, apply_response
from relaydesk.integrations.outcome import OutcomeError, OutcomeProblem, jsonable, redact_secrets
from relaydesk.integrations.registry import InstanceRuntime
from relaydesk.integrations.resilience import (
    ErrorClass,
    ErrorKind,
    Verdict,
    classify,
    classify_exception,
    delay_for,
)
from relaydesk.integrations.runtime.base import ExecutorError, RawResult
from relaydesk.integrations.spec import ActionSpec
from relaydesk.kit.masking import detect_and_mask_text
from relaydesk.kit.safehttp import BlockedDestination, ResponseTooLarge

__all__ = ["Execution", "cache_key", "execute"]

log = structlog.get_logger("relaydesk.integrations")

#: the most problems an outcome lists (a list of 10,000 bad records stays readable)
MAX_PROBLEMS = 50


@dataclass(slots=True)
class Execution:
    ok: bool
    fetched_at: dt.datetime
    value: Any = None
    error: OutcomeError | None = None
    cached: bool = False
    stale: bool = False
    attempts: int = 0
    status: int | None = None
    request_line: str = ""


@dataclass(slots=True)
class _Attempts:
    verdict: Verdict
    raw: RawResult | None
    attempts: int
    code: str | None  # from the exception, when there was one
    local: bool = False  # our own limit, not the system's answer


def _now(runtime: InstanceRuntime) -> dt.datetime:
    return dt.datetime.fromtimestamp(runtime.clock(), dt.UTC)


def cache_key(action_name: str, params: Mapping[str, Any]) -> str:
    """The read cache key of a call: action name + a hash of its JSON-ready parameters."""
    text = json.dumps(jsonable(params), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return f"{action_name}:{hashlib.sha256(text.encode()).hexdigest()}"


def _exception_code(exc: BaseException) -> str:
    if isinstance(exc, BlockedDestination):
        return "blocked_destination"
    if isinstance(exc, ResponseTooLarge):
        return "response_too_large"
    if isinstance(exc, TokenRequestFailed):
        return "token_request_failed"
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        return "timeout"
    if isinstance(exc, httpx.TransportError | ConnectionError):
        return "connection_failed"
    return "executor_failed"


async def _attempt_all(
    runtime: InstanceRuntime, name: str, action: ActionSpec, params: Mapping[str, Any],
    priority: Priority,
) -> _Attempts:
    resilience = runtime.spec.resilience
    policy = resilience.retries
    retryable = action.effect == "read" or action.idempotent
    max_wait = max(policy.max_backoff_seconds, resilience.retry_after_floor_seconds)
    ctx = runtime.context
    attempts = retries = 0
    refreshed = False
    while True:
        if not await runtime.bucket.acquire(priority, timeout=ctx.timeout):
            verdict = Verdict(
                ErrorClass.rate_limited, ErrorKind.transient,
                message=f"no request slot within {ctx.timeout:g} s (the instance's rate limit)",
                code="local_rate_limit",
            )  # fmt: skip
            return _Attempts(verdict, None, attempts, None, local=True)
        attempts += 1
        raw: RawResult | None = None
        code: str | None = None
        try:
            async with asyncio.timeout(ctx.timeout * 2 + 1):
                raw = await runtime.executor.execute(name, params, ctx)
        except ExecutorError as exc:
            verdict, code = exc.verdict(), exc.code or "executor_failed"
        except Exception as exc:
            verdict, code = classify_exception(exc), _exception_code(exc)
        else:
            verdict = classify(
                raw.status if raw.status is not None else 200,  # sql/soap: only body rules
                raw.body_json,
                runtime.rules,
                headers=raw.headers,
                retry_after_floor=resilience.retry_after_floor_seconds,
            )
        if verdict.cls is ErrorClass.refresh_token and not refreshed:
            refreshed = True
            ctx.auth.invalidate()
            continue
        if (
            verdict.cls in (ErrorClass.retry, ErrorClass.rate_limited)
            and retryable
            and retries + 1 < policy.max_attempts
        ):
            retries += 1
            delay = delay_for(verdict, retries, policy)
            if delay <= max_wait:
                await runtime.sleep(delay)
                continue
        return _Attempts(verdict, raw, attempts, code)


_DEFAULT_CODES = {
    ErrorClass.retry: "unavailable",
    ErrorClass.rate_limited: "rate_limited",
    ErrorClass.refresh_token: "unauthorized",
}


def _error(result: _Attempts, runtime: InstanceRuntime) -> OutcomeError:
    verdict = result.verdict
    status = result.raw.status if result.raw is not None else None
    code = verdict.code or result.code or _DEFAULT_CODES.get(verdict.cls)
    if code is None:
        code = f"http_{status}" if status is not None else "failed"
    message = verdict.message or verdict.cls.value
    if status is not None and status >= 300 and str(status) not in message:
        message = f"{message} (HTTP {status})"
    if result.attempts > 1:
        message = f"{message}; {result.attempts} attempts"
    return OutcomeError(
        cls=verdict.cls.value,
        kind=verdict.kind.value if verdict.kind is not None else None,
        code=code,
        message=redact_secrets(message, runtime.secrets),
        status=status,
        retry_after=verdict.retry_after,
    )


def _problems(errors: list[MappingError]) -> list[OutcomeProblem]:
    return [
        OutcomeProblem(path=error.path, message=detect_and_mask_text(error.message))
        for error in errors[:MAX_PROBLEMS]
    ]


def map_result(action: ActionSpec, data: Any) -> tuple[Any, list[MappingError], str]:
    """(value, problems, code): select + mapping, then the canonical shape check."""
    result = apply_response(action, data)
    if result.errors:
        return None, result.errors, "mapping_failed"
    if action.output is not None and result.value is not None:
        shape_errors = validate_shape(action.output, result.value, many=action.many)
        if shape_errors:
            return None, shape_errors, "shape_mismatch"
    return result.value, [], ""


def _fallback(
    runtime: InstanceRuntime,
    error: OutcomeError,
    stale: Cached | None,
    attempts: int,
    status: int | None,
    line: str,
) -> Execution:
    """A failure, or the stale cached value when there is one and the system is unwell."""
    if stale is not None and error.kind != ErrorKind.config.value:
        return Execution(
            True, stale.fetched_at, stale.value, error, cached=True, stale=True,
            attempts=attempts, status=status, request_line=line,
        )  # fmt: skip
    return Execution(
        False, _now(runtime), None, error, attempts=attempts, status=status, request_line=line
    )


def _decode_error(action: ActionSpec, raw: RawResult) -> str | None:
    """Why the body did not decode, when it did not: the executor says so in
    ``extra["decode_error"]``, or an HTTP body with bytes decoded to nothing."""
    extra = raw.extra or {}
    if extra.get("decode_error"):
        return str(extra["decode_error"])
    if (
        raw.status is not None
        and raw.data is None
        and action.response.format != "text"
        and int(extra.get("bytes") or 0) > len("null")
    ):
        return f"not valid {action.response.format.upper()}"
    return None


async def _cache_get(runtime: InstanceRuntime, key: str) -> Cached | None:
    try:
        return await runtime.cache.get(key)
    except Exception as exc:  # a cache outage must not fail the call
        log.warning("connector.cache_unavailable", error=type(exc).__name__)
        return None


async def _cache_set(runtime: InstanceRuntime, key: str, value: Any) -> None:
    try:
        await runtime.cache.set(key, value)
    except Exception as exc:
        log.warning("connector.cache_unavailable", error=type(exc).__name__)


async def execute(
    runtime: InstanceRuntime,
    name: str,
    params: Mapping[str, Any],
    *,
    priority: Priority = "interactive",
) -> Execution:
    """Run action ``name`` with validated ``params`` (see the module docstring)."""
    action = runtime.spec.action(name)
    key = cache_key(name, params) if action.cache and action.effect == "read" else None
    stale: Cached | None = None
    if key is not None:
        hit = await _cache_get(runtime, key)
        if hit is not None and not hit.stale:
            return Execution(True, hit.fetched_at, hit.value, cached=True)
        stale = hit

    breaker = runtime.breaker
    if not breaker.allow():
        wait = breaker.retry_in
        error = OutcomeError(
            cls=ErrorClass.fail.value, kind=ErrorKind.transient.value, code="circuit_open",
            message=f"the circuit breaker is open after {breaker.failures} failed calls; "
            f"the system is not called for {wait:.0f} s more",
            retry_after=round(wait, 3),
        )  # fmt: skip
        return _fallback(runtime, error, stale, 0, None, "")

    result = await _attempt_all(runtime, name, action, params, priority)
    raw, verdict = result.raw, result.verdict
    status = raw.status if raw is not None else None
    line = raw.request_line if raw is not None else ""
    if not verdict.ok:
        if not result.local:
            if verdict.kind is ErrorKind.config:
                breaker.success()  # it answered: the system is up, the request is wrong
            else:
                breaker.failure()
        return _fallback(runtime, _error(result, runtime), stale, result.attempts, status, line)

    assert raw is not None
    decode_error = _decode_error(action, raw)
    if verdict.cls is ErrorClass.ignore:
        value: Any = [] if action.many else None
        problems: list[MappingError] = []
        code = ""
    elif decode_error:
        value, code = None, "invalid_response"
        problems = [MappingError("", f"the answer could not be decoded: {decode_error}")]
    else:
        try:
            value, problems, code = map_result(action, raw.data)
        except Exception as exc:  # a mapping bug must not become a 500
            value, code = None, "mapping_failed"
            problems = [MappingError("", f"mapping failed: {type(exc).__name__}")]
    if problems:
        breaker.failure()
        count = len(problems)
        error = OutcomeError(
            cls=ErrorClass.fail.value, kind=ErrorKind.system.value, code=code,
            message=redact_secrets(
                f"the answer does not map ({count} problem{'s' if count != 1 else ''}): "
                f"{problems[0]}", runtime.secrets,
            ),
            status=status, problems=_problems(problems),
        )  # fmt: skip
        return _fallback(runtime, error, stale, result.attempts, status, line)

    breaker.success()
    value = jsonable(value)
    fetched_at = _now(runtime)
    if key is not None:
        await _cache_set(runtime, key, value)
    return Execution(
        True, fetched_at, value, attempts=result.attempts, status=status, request_line=line
    )
