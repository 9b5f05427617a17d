"""The bus consumer: every event becomes a message and one delivery per matching endpoint.

Database work only (the bus runs it in the event's tenant-scoped transaction and records the
event as processed in the same commit); the HTTP attempts are jobs. The bus hands a whole
batch of one tenant's events to :func:`handle_batch`, which writes the messages, deliveries
and attempt jobs of the batch with one statement per table.

When this process runs a direct sender (:mod:`relaydesk.webhooks.direct`, started with the
event runtime), a delivery to a healthy endpoint is handed to it once the transaction has
committed and sent at once; its attempt job is still written, due a grace period later, as
the safety net that sends it if this process dies first.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Uuid, bindparam, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.audit import service as audit
from relaydesk.audit.service import SYSTEM
from relaydesk.events.consumers import Consumer, register_consumer
from relaydesk.events.envelope import Envelope
from relaydesk.events.runtime import register_companion
from relaydesk.jobs import enqueue_many, job_row
from relaydesk.kit.crypto import bind
from relaydesk.kit.db import database_of, utcnow
from relaydesk.kit.ids import uuid7
from relaydesk.webhooks import delivery as _delivery
from relaydesk.webhooks import direct
from relaydesk.webhooks.dispatch import ATTEMPT_JOB, PAYLOAD_PURPOSE, attempt_key, signing_keys
from relaydesk.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookMessage
from relaydesk.webhooks.payloads import body_bytes, mask_payload, matches, pii_paths
from relaydesk.webhooks.runtime import runtime
from relaydesk.webhooks.signing import headers as signature_headers

__all__ = ["CONSUMER", "handle", "handle_batch"]


_CACHE = "webhooks.enabled_endpoints"
_MESSAGES = insert(WebhookMessage)
_DELIVERIES = insert(WebhookDelivery)


#: the tenant's enabled endpoints as plain rows (attribute access like the model's), on the
#: session's connection with an explicit tenant filter: loading entities through the ORM and
#: its guard cost more than the rest of a small batch
_ENABLED = (
    select(WebhookEndpoint.__table__)
    .where(WebhookEndpoint.tenant_id == bindparam("b_tenant", type_=Uuid()),
           WebhookEndpoint.enabled.is_(True))
    .order_by(WebhookEndpoint.id)
)  # fmt: skip


async def _enabled(session: AsyncSession, tenant_id: uuid.UUID) -> Sequence[Any]:
    """The tenant's enabled endpoints, read once per transaction (the bus hands a consumer
    a batch of one tenant's events in one transaction)."""
    transaction = session.sync_session.get_transaction()
    cached = session.info.get(_CACHE)
    if cached is not None and cached[0] is transaction and transaction is not None:
        endpoints: Sequence[Any] = cached[1]
        return endpoints
    connection = await session.connection()
    endpoints = (await connection.execute(_ENABLED, {"b_tenant": tenant_id})).all()
    session.info[_CACHE] = (transaction, endpoints)
    return endpoints


async def handle(session: AsyncSession, envelope: Envelope) -> None:
    await handle_batch(session, [envelope])


class _Rows:
    """The rows one batch writes, and the deliveries handed to the direct sender."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.deliveries: list[dict[str, Any]] = []
        self.jobs: list[dict[str, Any]] = []
        self.direct: list[_delivery.Prepared] = []


async def handle_batch(session: AsyncSession, envelopes: Sequence[Envelope]) -> None:
    if not envelopes:
        return
    enabled = await _enabled(session, envelopes[0].tenant_id)
    if not enabled:
        return
    sender = direct.sender_for(database_of(session))
    rows = _Rows()
    now = utcnow()
    for envelope in envelopes:
        endpoints = [e for e in enabled if matches(e.event_types, envelope.type)]
        if endpoints:
            await _one_event(session, rows, envelope, endpoints, sender, now)
    if rows.messages:
        # Core inserts on the session's connection: the ORM's bulk insert path costs more
        # per row, and an insert has nothing for the tenant guard to filter
        connection = await session.connection()
        await connection.execute(_MESSAGES, rows.messages)
        await connection.execute(_DELIVERIES, rows.deliveries)
        await enqueue_many(session, rows.jobs)
    if rows.direct and sender is not None:
        direct.hand_over_after_commit(session, sender, rows.direct)


async def _one_event(
    session: AsyncSession,
    rows: _Rows,
    envelope: Envelope,
    endpoints: list[Any],
    sender: direct.DirectSender | None,
    now: dt.datetime,
) -> None:
    clear = dict(envelope.payload)
    masked = mask_payload(clear, pii_paths(envelope.type))
    message_id = uuid7()
    wants_clear = [e for e in endpoints if e.include_pii]
    clear_encrypted = None
    if wants_clear and masked != clear:
        aad = bind(PAYLOAD_PURPOSE, envelope.tenant_id, message_id)
        clear_encrypted = runtime().get_keyring().encrypt_json(clear, aad)
    rows.messages.append({
        "id": message_id, "created_at": now, "tenant_id": envelope.tenant_id,
        "event_id": envelope.id, "event_type": envelope.type,
        "occurred_at": envelope.occurred_at, "payload": masked,
        "payload_clear_encrypted": clear_encrypted, "origin": "event",
    })  # fmt: skip
    bodies: dict[bool, bytes] = {}
    max_attempts = runtime().options.job_max_attempts
    for endpoint in endpoints:
        delivery_id = uuid7()
        clear_pii = endpoint.include_pii and clear_encrypted is not None
        rows.deliveries.append({
            "id": delivery_id, "created_at": now, "tenant_id": envelope.tenant_id,
            "message_id": message_id, "endpoint_id": endpoint.id, "trigger": "event",
            "status": "pending", "attempts": 0, "clear_pii": clear_pii, "next_attempt_at": now,
            "last_attempt_at": None, "last_status_code": None, "last_error": None,
            "finished_at": None, "superseded_by": None,
        })  # fmt: skip
        run_at = now
        if sender is not None and direct.eligible(endpoint, now) and sender.accepts(endpoint.id):
            run_at = now + dt.timedelta(seconds=sender.grace)
            if clear_pii not in bodies:
                data = clear if clear_pii else masked
                bodies[clear_pii] = body_bytes(envelope.type, envelope.occurred_at, data)
            body = bodies[clear_pii]
            signed = signature_headers(signing_keys(endpoint, now), str(message_id),
                                       int(time.time()), body)  # fmt: skip
            rows.direct.append(_delivery.Prepared(
                tenant_id=envelope.tenant_id, delivery_id=delivery_id, endpoint_id=endpoint.id,
                attempt=1, url=endpoint.url, allow_network=list(endpoint.allow_network or []),
                rate_limit=None, body=body, headers=signed, test=False,
                healthy=_delivery.is_healthy(endpoint, now),
            ))  # fmt: skip
        rows.jobs.append(job_row(
            ATTEMPT_JOB, {"delivery_id": str(delivery_id), "attempt": 1},
            tenant_id=envelope.tenant_id, run_at=run_at, dedupe_key=attempt_key(delivery_id, 1),
            max_attempts=max_attempts,
        ))  # fmt: skip
    if clear_encrypted is not None:
        await audit.record(
            session, tenant_id=envelope.tenant_id, action="webhook.pii_sent", actor=SYSTEM,
            target_type="webhook_message", target_id=message_id,
            details={"event_type": envelope.type, "event_id": str(envelope.id),
                     "endpoints": [str(e.id) for e in wants_clear]},
        )  # fmt: skip


CONSUMER = register_consumer(Consumer("webhooks", handle, types=("*",), handle_batch=handle_batch))
register_companion("webhooks.direct", direct.DirectSender)
