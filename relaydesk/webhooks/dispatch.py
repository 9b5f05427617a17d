"""Create messages and deliveries in the caller's transaction, and enqueue their attempts.

Used by the bus consumer, the API (test, replay, recover) and the ``webhook.send`` rule
action. Everything here only writes rows: the HTTP work happens in the attempt job
(:mod:`relaydesk.webhooks.delivery`), outside any transaction.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.jobs import enqueue
from relaydesk.kit.crypto import Keyring, bind
from relaydesk.kit.db import utcnow
from relaydesk.kit.ids import uuid7
from relaydesk.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookMessage
from relaydesk.webhooks.payloads import mask_payload, pii_paths
from relaydesk.webhooks.runtime import runtime
from relaydesk.webhooks.signing import parse_secret

__all__ = [
    "ATTEMPT_JOB",
    "PAYLOAD_PURPOSE",
    "attempt_key",
    "create_message",
    "current_secret",
    "dispatch",
    "encrypt_secret",
    "enqueue_attempt",
    "message_data",
    "signing_keys",
]

ATTEMPT_JOB = "webhooks.attempt"
_SECRET = "webhook-secret"  # noqa: S105 - a purpose label
_PREVIOUS = "webhook-secret-previous"
_PAYLOAD = PAYLOAD_PURPOSE = "webhook-payload"


def encrypt_secret(
    keyring: Keyring, endpoint: WebhookEndpoint, secret: str, *, previous: bool = False
) -> bytes:
    purpose = _PREVIOUS if previous else _SECRET
    return keyring.encrypt(secret.encode(), bind(purpose, endpoint.tenant_id, endpoint.id))


def current_secret(keyring: Keyring, endpoint: WebhookEndpoint) -> str:
    aad = bind(_SECRET, endpoint.tenant_id, endpoint.id)
    return keyring.decrypt(endpoint.secret_encrypted, aad).decode()


_KEYS: OrderedDict[tuple[uuid.UUID, int], tuple[bytes, bytes | None, dt.datetime | None]] = (
    OrderedDict()
)
_KEYS_MAX = 1024


def signing_keys(endpoint: WebhookEndpoint, now: dt.datetime) -> list[bytes]:
    """The HMAC keys that sign now, decrypted once per (endpoint, version): every change of
    the secret (rotation) bumps the version."""
    cache_key = (endpoint.id, endpoint.version)
    cached = _KEYS.get(cache_key)
    if cached is None:
        keyring = runtime().get_keyring()
        current = parse_secret(current_secret(keyring, endpoint))
        previous = None
        if endpoint.previous_secret_encrypted is not None:
            aad = bind(_PREVIOUS, endpoint.tenant_id, endpoint.id)
            previous = parse_secret(
                keyring.decrypt(endpoint.previous_secret_encrypted, aad).decode()
            )
        cached = (current, previous, endpoint.previous_expires_at)
        _KEYS[cache_key] = cached
        while len(_KEYS) > _KEYS_MAX:
            _KEYS.popitem(last=False)
    else:
        _KEYS.move_to_end(cache_key)
    current, previous, expires = cached
    if previous is not None and expires is not None and expires > now:
        return [current, previous]
    return [current]


def _values(row: Any) -> dict[str, Any]:
    return {column.key: getattr(row, column.key) for column in row.__table__.columns}


async def create_message(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    event_type: str,
    payload: Mapping[str, Any],
    occurred_at: dt.datetime | None = None,
    event_id: uuid.UUID | None = None,
    origin: str = "event",
    keep_clear: bool = False,
) -> WebhookMessage:
    """A message with its payload masked; the clear payload is kept (encrypted) only when
    ``keep_clear`` (an include_pii endpoint will receive it)."""
    clear = dict(payload)
    now = utcnow()
    message = WebhookMessage(
        id=uuid7(), created_at=now, tenant_id=tenant_id, event_id=event_id,
        event_type=event_type, occurred_at=occurred_at or now,
        payload=mask_payload(clear, pii_paths(event_type)), payload_clear_encrypted=None,
        origin=origin,
    )  # fmt: skip
    if keep_clear and message.payload != clear:
        keyring = runtime().get_keyring()
        aad = bind(_PAYLOAD, tenant_id, message.id)
        message.payload_clear_encrypted = keyring.encrypt_json(clear, aad)
    # a Core insert: the consumer writes one per event, the ORM unit of work costs more
    await session.execute(insert(WebhookMessage).values(_values(message)))
    return message


def message_data(message: WebhookMessage, *, clear: bool) -> dict[str, Any]:
    """The ``data`` to send: the clear payload for a clear delivery when it was kept."""
    if clear and message.payload_clear_encrypted is not None:
        aad = bind(_PAYLOAD, message.tenant_id, message.id)
        value = runtime().get_keyring().decrypt_json(message.payload_clear_encrypted, aad)
        return dict(value)
    return dict(message.payload or {})


def attempt_key(delivery_id: uuid.UUID, attempt: int) -> str:
    """The dedupe key of the job of one attempt."""
    return f"webhooks:{delivery_id}:{attempt}"


async def enqueue_attempt(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    delivery_id: uuid.UUID,
    attempt: int,
    run_at: dt.datetime,
) -> None:
    """The job of one attempt: one job per (delivery, attempt), however often it is asked."""
    await enqueue(
        session, ATTEMPT_JOB, {"delivery_id": str(delivery_id), "attempt": attempt},
        tenant_id=tenant_id, run_at=run_at, dedupe_key=attempt_key(delivery_id, attempt),
        max_attempts=runtime().options.job_max_attempts,
    )  # fmt: skip


async def dispatch(
    session: AsyncSession,
    message: WebhookMessage,
    endpoint: WebhookEndpoint,
    trigger: str,
) -> WebhookDelivery:
    """A new delivery of ``message`` to ``endpoint`` with its first attempt due now (the
    returned row is not attached to the session: it was written with a Core insert)."""
    now = utcnow()
    delivery = WebhookDelivery(
        id=uuid7(), created_at=now, tenant_id=message.tenant_id, message_id=message.id,
        endpoint_id=endpoint.id, trigger=trigger, status="pending", attempts=0,
        clear_pii=endpoint.include_pii and message.payload_clear_encrypted is not None,
        next_attempt_at=now, last_attempt_at=None, last_status_code=None, last_error=None,
        finished_at=None, superseded_by=None,
    )  # fmt: skip
    await session.execute(insert(WebhookDelivery).values(_values(delivery)))
    await enqueue_attempt(session, delivery.tenant_id, delivery.id, 1, now)
    return delivery
