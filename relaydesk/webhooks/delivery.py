"""The attempt job: sign and POST one delivery, record the attempt, schedule the next.

Three steps, never holding a transaction across the HTTP call:

1. **prepare** (short transaction): skip a stale job; fail the delivery if its endpoint is
   disabled; wait (``RetryLater``, no attempt used) while the endpoint's circuit breaker is
   open, or claim the one probe of a half-open breaker; build the body and the signatures.
2. **send** through the SSRF-safe client (timeout, redirects never followed, the answer read
   up to 1 KB), after the endpoint's rate limit (waiting again when over it).
3. **record** (short transaction): an attempt row; success, or a failure that schedules the
   next attempt (the retry schedule with jitter, or the receiver's Retry-After on 429/502/504
   within a floor and a cap), updates the breaker, and disables the endpoint on 410 Gone or
   after failing without a break for ``disable_after`` (default 5 days).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email.utils
import random
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.jobs import JobContext, RetryLater, job_handler
from relaydesk.jobs.models import Job
from relaydesk.kit.db import Database, declare_read_only, scope_session, utcnow
from relaydesk.kit.ids import uuid7
from relaydesk.kit.masking import detect_and_mask_text
from relaydesk.kit.safehttp import BlockedDestination
from relaydesk.webhooks import health
from relaydesk.webhooks.dispatch import ATTEMPT_JOB, enqueue_attempt, message_data, signing_keys
from relaydesk.webhooks.http1 import HttpError
from relaydesk.webhooks.models import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookMessage,
)
from relaydesk.webhooks.payloads import body_bytes
from relaydesk.webhooks.repository import EndpointRepository
from relaydesk.webhooks.runtime import WebhookOptions, runtime
from relaydesk.webhooks.signing import headers as signature_headers

__all__ = [
    "Outcome",
    "Prepared",
    "finish_jobs",
    "is_healthy",
    "next_delay",
    "parse_retry_after",
    "record_outcome",
    "run_attempt",
    "send",
]

RETRY_AFTER_STATUSES = frozenset({429, 502, 504})


@dataclass(frozen=True)
class Prepared:
    tenant_id: uuid.UUID
    delivery_id: uuid.UUID
    endpoint_id: uuid.UUID
    attempt: int
    url: str
    allow_network: list[str]
    rate_limit: int | None
    body: bytes
    headers: dict[str, str]
    #: a test delivery: one attempt, no effect on the endpoint's health
    test: bool
    #: the endpoint row needs no update after a success
    healthy: bool


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status_code: int | None = None
    latency_ms: float = 0.0
    response_body: str | None = None
    error: str | None = None
    retry_after: float | None = None

    @property
    def gone(self) -> bool:
        return self.status_code == 410


def parse_retry_after(value: str | None, now: dt.datetime) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - now).total_seconds())


def next_delay(options: WebhookOptions, attempt: int, retry_after: float | None) -> float:
    """Seconds before attempt ``attempt + 1`` after attempt ``attempt`` failed."""
    if retry_after is not None:
        bounded = min(max(retry_after, options.retry_after_floor), options.retry_after_cap)
        return bounded * random.uniform(1.0, 1.0 + options.jitter)  # noqa: S311 - timing
    base = options.schedule[min(attempt, len(options.schedule) - 1)]
    return base * random.uniform(1.0 - options.jitter, 1.0 + options.jitter)  # noqa: S311


@contextlib.asynccontextmanager
async def _reading(db: Database, tenant_id: uuid.UUID | None) -> AsyncIterator[AsyncSession]:
    """A read-only session: no transaction (no write lock on SQLite), scoped to the tenant."""
    async with db.sessionmaker() as session:
        scope_session(session, tenant_id)
        if not db.shares_connection:
            await declare_read_only(session, db.dialect)
        yield session


def is_healthy(endpoint: WebhookEndpoint, now: dt.datetime) -> bool:
    """Nothing to write on the endpoint row after a success (see ``health.record``)."""
    last = endpoint.last_success_at
    return (
        endpoint.consecutive_failures == 0
        and endpoint.circuit_open_until is None
        and endpoint.failing_since is None
        and last is not None
        and now - last <= dt.timedelta(minutes=1)
    )


async def _prepare(ctx: JobContext, delivery_id: uuid.UUID, attempt: int) -> Prepared | None:
    rt = runtime()
    now = rt.clock()
    stmt = (
        select(WebhookDelivery, WebhookEndpoint, WebhookMessage)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .join(WebhookMessage, WebhookMessage.id == WebhookDelivery.message_id)
        .where(WebhookDelivery.id == delivery_id)
    )
    async with _reading(ctx.db, ctx.tenant_id) as session:
        row = (await session.execute(stmt)).one_or_none()
    if row is None:
        return None  # deleted with its endpoint
    delivery, endpoint, message = row
    if delivery.status != "pending" or delivery.attempts >= attempt:
        return None  # done already (a job run again after a lost lease)
    test = delivery.trigger == "test"
    if not endpoint.enabled and not test:
        error = f"endpoint disabled: {endpoint.disabled_reason or 'by a user'}"[:500]
        async with ctx.db.job(ctx.tenant_id) as session:
            await session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == delivery.id, WebhookDelivery.status == "pending")
                .values(status="failed", finished_at=now, next_attempt_at=None, last_error=error)
                .execution_options(synchronize_session=False)
            )
        return None
    if not test and endpoint.circuit_open_until is not None:
        async with ctx.db.job(ctx.tenant_id) as session:
            await health.pass_breaker(session, endpoint, now, rt.options)
    data = message_data(message, clear=delivery.clear_pii)
    body = body_bytes(message.event_type, message.occurred_at, data)
    signed = signature_headers(signing_keys(endpoint, now), str(message.id), int(time.time()), body)
    return Prepared(
        tenant_id=delivery.tenant_id, delivery_id=delivery.id, endpoint_id=endpoint.id,
        attempt=attempt, url=endpoint.url, allow_network=list(endpoint.allow_network or []),
        rate_limit=endpoint.rate_limit, body=body, headers=signed, test=test,
        healthy=is_healthy(endpoint, now),
    )  # fmt: skip


async def send(prepared: Prepared) -> Outcome:
    rt = runtime()
    options = rt.options
    client = rt.client(prepared.allow_network)
    started = time.perf_counter()
    try:
        response = await client.post(prepared.url, prepared.body, prepared.headers,
                                     options.response_body_limit)  # fmt: skip
    except BlockedDestination as exc:
        return Outcome(False, latency_ms=_ms(started), error=f"blocked: {exc}"[:500])
    except TimeoutError:
        error = f"timed out after {options.timeout_seconds:g} s"
        return Outcome(False, latency_ms=_ms(started), error=error)
    except (HttpError, OSError) as exc:
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return Outcome(False, latency_ms=_ms(started), error=error[:500])
    latency = _ms(started)
    raw = response.body
    text = detect_and_mask_text(raw.decode("utf-8", errors="replace")) if raw else None
    status = response.status_code
    if 200 <= status < 300:
        return Outcome(True, status, latency, text)
    if 300 <= status < 400:
        location = response.headers.get("location", "")
        error = f"HTTP {status}: redirects are not followed (Location: {location[:200]})"
    elif status == 410:
        error = "HTTP 410 Gone: the receiver asked to stop; the endpoint is disabled"
    else:
        error = f"HTTP {status}"
    retry_after = None
    if status in RETRY_AFTER_STATUSES:
        retry_after = parse_retry_after(response.headers.get("retry-after"), rt.clock())
    return Outcome(False, status, latency, text, error, retry_after)


async def finish_jobs(session: AsyncSession, keys: list[str]) -> None:
    """Mark the still-pending jobs with these dedupe keys done: the direct sender's safety
    nets, once the attempt they guard is recorded (a job already running finds its delivery
    recorded and does nothing)."""
    now = utcnow()
    await session.execute(
        update(Job)
        .where(Job.dedupe_key.in_(keys), Job.status == "pending")
        .values(status="done", finished_at=now)
        .execution_options(synchronize_session=False)
    )


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000.0, 2)


class _Stale(Exception):
    """Another run of this job recorded the attempt first: roll back and stop."""


async def _record(ctx: JobContext, prepared: Prepared, outcome: Outcome) -> None:
    await record_outcome(ctx.db, ctx.tenant_id, prepared, outcome)


async def record_outcome(
    db: Database,
    tenant_id: uuid.UUID | None,
    prepared: Prepared,
    outcome: Outcome,
    *,
    finish_job: str | None = None,
) -> bool:
    """Record one attempt in its own transaction; False when another run recorded it first.
    ``finish_job``: the dedupe key of a job (the direct sender's safety net) to mark done in
    the same transaction."""
    try:
        await _write_outcome(db, tenant_id, prepared, outcome, finish_job)
    except _Stale:
        return False
    return True


async def _write_outcome(
    db: Database,
    tenant_id: uuid.UUID | None,
    prepared: Prepared,
    outcome: Outcome,
    finish_job: str | None = None,
) -> None:
    rt = runtime()
    options = rt.options
    now = rt.clock()
    next_at: dt.datetime | None = None
    last = prepared.test or prepared.attempt >= options.max_attempts
    if not outcome.ok and not last and not outcome.gone:
        delay = next_delay(options, prepared.attempt, outcome.retry_after)
        next_at = now + dt.timedelta(seconds=delay)
    async with db.job(tenant_id) as session:
        if finish_job is not None:
            await finish_jobs(session, [finish_job])
        if not prepared.test and not (outcome.ok and prepared.healthy):
            endpoint = await EndpointRepository(session).locked(prepared.endpoint_id)
            if endpoint is not None:
                await health.record(session, endpoint, outcome, now, options)
                if not endpoint.enabled:
                    next_at = None
        status = "succeeded" if outcome.ok else ("pending" if next_at else "failed")
        changed = await session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == prepared.delivery_id,
                   WebhookDelivery.status == "pending",
                   WebhookDelivery.attempts < prepared.attempt)
            .values(status=status, attempts=prepared.attempt, last_attempt_at=now,
                    last_status_code=outcome.status_code, last_error=outcome.error,
                    next_attempt_at=next_at, finished_at=None if status == "pending" else now)
            .execution_options(synchronize_session=False)
        )  # fmt: skip
        if getattr(changed, "rowcount", 0) != 1:
            raise _Stale  # rolls back what this run wrote to the endpoint
        await session.execute(insert(WebhookAttempt).values(
            id=uuid7(), created_at=utcnow(), tenant_id=prepared.tenant_id,
            delivery_id=prepared.delivery_id, endpoint_id=prepared.endpoint_id,
            attempt=prepared.attempt, url=prepared.url,
            outcome="succeeded" if outcome.ok else "failed", status_code=outcome.status_code,
            latency_ms=outcome.latency_ms, response_body=outcome.response_body,
            error=outcome.error, next_attempt_at=next_at,
        ))  # fmt: skip
        if next_at is not None:
            await enqueue_attempt(
                session, prepared.tenant_id, prepared.delivery_id, prepared.attempt + 1, next_at
            )


@job_handler(ATTEMPT_JOB)
async def run_attempt(ctx: JobContext, payload: dict[str, Any]) -> None:
    """One attempt of one delivery (``{"delivery_id": ..., "attempt": n}``)."""
    delivery_id = uuid.UUID(str(payload["delivery_id"]))
    attempt = int(payload["attempt"])
    prepared = await _prepare(ctx, delivery_id, attempt)
    if prepared is None:
        return
    if prepared.rate_limit and not prepared.test:
        decision = (
            await runtime()
            .get_limiter()
            .hit(f"webhooks:{prepared.endpoint_id}", prepared.rate_limit, 1)
        )
        if not decision.allowed:
            raise RetryLater(decision.retry_after, "endpoint rate limit")
    outcome = await send(prepared)
    await _record(ctx, prepared, outcome)
