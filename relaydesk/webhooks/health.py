"""An endpoint's health: the circuit breaker, auto-disable, and what disabling does.

The breaker opens after ``breaker_threshold`` consecutive failed attempts (any delivery):
while ``circuit_open_until`` is in the future, attempt jobs wait without using an attempt.
When it has passed, exactly one job claims the probe (a compare-and-set on the column) and
sends; the others keep waiting. A success closes the breaker; a failure reopens it for twice
as long (up to ``breaker_cooldown_max``).

Disabling (410 Gone, or failing without a break for ``disable_after``) records who/why in
the audit log, emits ``endpoint.disabled`` in the same transaction and notifies the
organisation's administrators.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import structlog
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.audit import service as audit
from relaydesk.audit.service import SYSTEM
from relaydesk.events.outbox import emit
from relaydesk.jobs import RetryLater
from relaydesk.notifications import notify
from relaydesk.webhooks.events import ENDPOINT_DISABLED, EndpointDisabled
from relaydesk.webhooks.models import WebhookEndpoint
from relaydesk.webhooks.runtime import WebhookOptions

if TYPE_CHECKING:
    from relaydesk.webhooks.delivery import Outcome

log = structlog.get_logger(__name__)

__all__ = ["cooldown", "disable", "pass_breaker", "record", "reset", "safe_url"]


def cooldown(options: WebhookOptions, failures: int) -> float:
    """How long the breaker stays open after ``failures`` consecutive failures."""
    extra = max(0, failures - options.breaker_threshold)
    return float(min(options.breaker_cooldown * 2.0**extra, options.breaker_cooldown_max))


async def pass_breaker(
    session: AsyncSession, endpoint: WebhookEndpoint, now: dt.datetime, options: WebhookOptions
) -> None:
    """Return when this attempt may be sent; raise ``RetryLater`` while the breaker is open."""
    open_until = endpoint.circuit_open_until
    if open_until is None:
        return
    if open_until > now:
        wait = (open_until - now).total_seconds()
        raise RetryLater(wait + random.uniform(0.0, 1.0), "circuit breaker open")  # noqa: S311
    # half-open: one probe at a time; the claim lasts as long as an attempt can take
    lease = now + dt.timedelta(seconds=options.timeout_seconds + 5.0)
    claimed = await session.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint.id, WebhookEndpoint.circuit_open_until == open_until)
        .values(circuit_open_until=lease)
        .execution_options(synchronize_session=False)
    )
    if getattr(claimed, "rowcount", 0) != 1:
        raise RetryLater(1.0 + random.uniform(0.0, 1.0), "circuit breaker probing")  # noqa: S311


async def record(
    session: AsyncSession,
    endpoint: WebhookEndpoint,
    outcome: Outcome,
    now: dt.datetime,
    options: WebhookOptions,
) -> None:
    """Account one attempt's outcome on the (locked) endpoint row."""
    if outcome.ok:
        healthy = endpoint.consecutive_failures == 0 and endpoint.circuit_open_until is None
        stale = endpoint.last_success_at is None or now - endpoint.last_success_at > dt.timedelta(
            minutes=1
        )
        if healthy and endpoint.failing_since is None and not stale:
            return  # nothing to write: keeps a busy endpoint's row free of lock traffic
        endpoint.consecutive_failures = 0
        endpoint.circuit_open_until = None
        endpoint.failing_since = None
        endpoint.last_success_at = now
        return
    endpoint.consecutive_failures += 1
    endpoint.last_failure_at = now
    endpoint.last_error = (outcome.error or "failed")[:500]
    if endpoint.failing_since is None:
        endpoint.failing_since = now
    if not endpoint.enabled:
        return
    if outcome.gone:
        await disable(session, endpoint, now, cause="gone",
                      reason="the receiver answered 410 Gone")  # fmt: skip
    elif now - endpoint.failing_since >= options.disable_after:
        reason = f"every delivery attempt failed for {_span(options.disable_after)}"
        await disable(session, endpoint, now, cause="failing", reason=reason)
    elif endpoint.consecutive_failures >= options.breaker_threshold:
        seconds = cooldown(options, endpoint.consecutive_failures)
        endpoint.circuit_open_until = now + dt.timedelta(seconds=seconds)


def reset(endpoint: WebhookEndpoint) -> None:
    """Healthy again (an administrator re-enabled it)."""
    endpoint.consecutive_failures = 0
    endpoint.circuit_open_until = None
    endpoint.failing_since = None
    endpoint.disabled_reason = None
    endpoint.disabled_at = None


def safe_url(url: str) -> str:
    """The URL without query string, fragment or user info (for events and notifications)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _span(delta: dt.timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds % 86_400 == 0:
        days = seconds // 86_400
        return f"{days} day" + ("s" if days != 1 else "")
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    return f"{seconds} s"


async def disable(
    session: AsyncSession, endpoint: WebhookEndpoint, now: dt.datetime, *, cause: str, reason: str
) -> None:
    """Disable automatically: audit row, ``endpoint.disabled`` event, administrators told."""
    endpoint.enabled = False
    endpoint.disabled_reason = reason[:500]
    endpoint.disabled_at = now
    endpoint.circuit_open_until = None
    payload = EndpointDisabled(
        endpoint_id=str(endpoint.id), url=safe_url(endpoint.url),
        description=endpoint.description or "", cause=cause, reason=reason, disabled_at=now,
        failing_since=endpoint.failing_since, last_error=endpoint.last_error,
    )  # fmt: skip
    await audit.record(
        session, tenant_id=endpoint.tenant_id, action="webhook_endpoint.disabled", actor=SYSTEM,
        target_type="webhook_endpoint", target_id=endpoint.id,
        details={"cause": cause, "reason": reason, "url": payload.url},
    )  # fmt: skip
    await emit(
        session, ENDPOINT_DISABLED.name, payload, tenant_id=endpoint.tenant_id,
        source={"kind": "webhooks", "endpoint_id": str(endpoint.id)},
    )  # fmt: skip
    await _notify_admins(session, endpoint, payload)
    log.warning("webhooks.endpoint_disabled", endpoint_id=str(endpoint.id), cause=cause)


async def _notify_admins(
    session: AsyncSession, endpoint: WebhookEndpoint, payload: EndpointDisabled
) -> None:
    """Everyone who may manage webhooks gets a workbench notification."""
    await notify(
        session, endpoint.tenant_id, permission="webhooks.manage",
        title=f"Webhook endpoint disabled: {payload.url}"[:200],
        body=f"{payload.reason}. Fix the receiver, then re-enable the endpoint and recover "
        "the failed messages.",
        link=f"/webhooks/endpoints/{endpoint.id}",
        source={"kind": "webhooks", "endpoint_id": str(endpoint.id), "cause": payload.cause},
    )  # fmt: skip
