"""The ``realtime`` consumer: every committed event agents care about goes to the hub.

Conversations, messages (including ``message.status_changed``: a reply queued, sent,
delivered or failed with the reason), calls, customers, and ``notification.created`` (for the
addressed user only). The hub decides per socket who may see a frame and masks it.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.events.consumers import Consumer, register_consumer
from relaydesk.events.envelope import Envelope
from relaydesk.realtime.hub import get_hub, wanted


def frame_of(envelope: Envelope) -> dict[str, object]:
    return {
        "type": "event",
        "id": str(envelope.id),
        "tenant_id": str(envelope.tenant_id),
        "event_type": envelope.type,
        "occurred_at": envelope.occurred_at.isoformat(),
        "payload": envelope.payload,
    }


async def push(session: AsyncSession, envelope: Envelope) -> None:
    if wanted(envelope.type):
        await get_hub().broadcast(frame_of(envelope))


REALTIME = register_consumer(
    Consumer(
        "realtime",
        push,
        types=("conversation.*", "message.*", "call.*", "customer.*", "notification.*"),
        max_attempts=3,
    )
)
