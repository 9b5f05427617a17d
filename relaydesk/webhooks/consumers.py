"""The bus consumer: every event becomes a message and one delivery per matching endpoint.

Database work only (the bus runs it in the event's tenant-scoped transaction and records the
event as processed in the same commit); the HTTP attempts are jobs.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.audit import service as audit
from relaydesk.audit.service import SYSTEM
from relaydesk.events.consumers import Consumer, register_consumer
from relaydesk.events.envelope import Envelope
from relaydesk.webhooks import delivery as _delivery  # noqa: F401 - registers the attempt job
from relaydesk.webhooks.dispatch import create_message, dispatch
from relaydesk.webhooks.models import WebhookEndpoint
from relaydesk.webhooks.payloads import matches
from relaydesk.webhooks.repository import EndpointRepository

__all__ = ["CONSUMER", "handle"]


_CACHE = "webhooks.enabled_endpoints"


async def _enabled(session: AsyncSession) -> Sequence[WebhookEndpoint]:
    """The tenant's enabled endpoints, read once per transaction (the bus hands a consumer
    a batch of one tenant's events in one transaction)."""
    transaction = session.sync_session.get_transaction()
    cached = session.info.get(_CACHE)
    if cached is not None and cached[0] is transaction and transaction is not None:
        endpoints: Sequence[WebhookEndpoint] = cached[1]
        return endpoints
    endpoints = await EndpointRepository(session).enabled()
    session.info[_CACHE] = (transaction, endpoints)
    return endpoints


async def handle(session: AsyncSession, envelope: Envelope) -> None:
    enabled = await _enabled(session)
    endpoints = [e for e in enabled if matches(e.event_types, envelope.type)]
    if not endpoints:
        return
    clear = [e for e in endpoints if e.include_pii]
    message = await create_message(
        session, tenant_id=envelope.tenant_id, event_type=envelope.type,
        payload=envelope.payload, occurred_at=envelope.occurred_at, event_id=envelope.id,
        origin="event", keep_clear=bool(clear),
    )  # fmt: skip
    for endpoint in endpoints:
        await dispatch(session, message, endpoint, "event")
    if clear and message.payload_clear_encrypted is not None:
        await audit.record(
            session, tenant_id=envelope.tenant_id, action="webhook.pii_sent", actor=SYSTEM,
            target_type="webhook_message", target_id=message.id,
            details={"event_type": envelope.type, "event_id": str(envelope.id),
                     "endpoints": [str(e.id) for e in clear]},
        )  # fmt: skip


CONSUMER = register_consumer(Consumer("webhooks", handle, types=("*",)))
