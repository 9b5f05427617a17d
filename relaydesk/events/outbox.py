"""Write an event in the caller's transaction: :func:`emit`.

The event is validated against the catalogue and inserted as an outbox row in the session's
transaction, so committed (or rolled back) with the change it describes. After a commit that
wrote events, the listeners of :data:`CHANNEL` run (see :mod:`relaydesk.kit.commit_hooks`),
so the in-process relay publishes at once instead of on its next poll.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.events.catalogue import validate_payload
from relaydesk.events.envelope import Envelope
from relaydesk.events.models import OutboxEvent
from relaydesk.kit.commit_hooks import poke_after_commit
from relaydesk.kit.db import utcnow
from relaydesk.kit.ids import uuid7

__all__ = ["CHANNEL", "RETRY_CHANNEL", "emit", "to_envelope"]

#: the commit-hook channel the relay listens on
CHANNEL = "events.outbox"
#: the commit-hook channel of the retry loop (a replay queued failure rows)
RETRY_CHANNEL = "events.retries"


async def emit(
    session: AsyncSession,
    event_type: str,
    payload: Mapping[str, Any] | Any,
    *,
    tenant_id: uuid.UUID,
    key: str | None = None,
    source: Mapping[str, Any] | None = None,
    cause: Envelope | None = None,
    correlation_id: str | None = None,
) -> Envelope:
    """Write event ``event_type`` in ``session``'s transaction; returns what consumers will
    see.

    ``payload`` is validated against the event's model (a :class:`ValidationFailed` names the
    field otherwise). The ordering ``key`` defaults to the payload field the catalogue names,
    then to the event id. ``cause`` is the event that led to this one (rules pass the trigger):
    the new event inherits its correlation id and is one hop deeper. The row is inserted at
    once with a Core statement on the session's connection (no ORM object and flush: about
    half the CPU of a transaction that only emits) and commits or rolls back with it.
    """
    values = _values(event_type, payload, tenant_id, key, source, cause, correlation_id)
    await (await session.connection()).execute(_INSERT, values)
    poke_after_commit(session, CHANNEL)
    return Envelope(
        id=values["id"], tenant_id=tenant_id, type=event_type, version=values["version"],
        key=values["key"], payload=values["payload"], occurred_at=values["occurred_at"],
        source=values["source"], causation_id=values["causation_id"],
        correlation_id=values["correlation_id"], depth=values["depth"],
    )  # fmt: skip


_INSERT = insert(OutboxEvent.__table__)  # type: ignore[arg-type]


def _values(
    event_type: str,
    payload: Mapping[str, Any] | Any,
    tenant_id: uuid.UUID,
    key: str | None,
    source: Mapping[str, Any] | None,
    cause: Envelope | None,
    correlation_id: str | None,
) -> dict[str, Any]:
    if hasattr(payload, "model_dump"):
        payload = payload.model_dump(mode="json")
    spec, clean = validate_payload(event_type, payload)
    event_id = uuid7()
    if key is None and spec.key is not None and clean.get(spec.key) is not None:
        key = str(clean[spec.key])
    return {
        "id": event_id,
        "tenant_id": tenant_id,
        "type": event_type,
        "version": spec.version,
        "key": (key or str(event_id))[:200],
        "payload": clean,
        "source": dict(source or {"kind": "relaydesk"}),
        "causation_id": str(cause.id) if cause else None,
        "correlation_id": correlation_id
        or (cause.correlation_id or str(cause.id) if cause else None),
        "depth": cause.depth + 1 if cause else 0,
        "occurred_at": utcnow(),
        "published_at": None,
    }


def to_envelope(row: OutboxEvent) -> Envelope:
    return Envelope(
        id=row.id,
        tenant_id=row.tenant_id,
        type=row.type,
        version=row.version,
        key=row.key,
        payload=row.payload,
        occurred_at=row.occurred_at,
        source=row.source or {},
        causation_id=row.causation_id,
        correlation_id=row.correlation_id,
        depth=row.depth or 0,
    )
