"""The ``realtime`` tap: every committed event agents care about goes to the hub.

Conversations, messages (including ``message.status_changed``: a reply queued, sent,
delivered or failed with the reason), calls, customers, and ``notification.created`` (for the
addressed user only). The hub decides per socket who may see a frame and masks it.

It is a tap (:mod:`relaydesk.events.taps`), not a consumer: the relay pushes each batch right
after reading it, with no transaction of its own, so a push never queues for the database's
write lock. A client that missed frames resumes from the outbox by event id.
"""

from __future__ import annotations

from collections.abc import Sequence

from relaydesk.events.envelope import Envelope
from relaydesk.events.taps import Tap, register_tap
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


async def push(envelopes: Sequence[Envelope]) -> None:
    hub = get_hub()
    for envelope in envelopes:
        if wanted(envelope.type):
            await hub.broadcast(frame_of(envelope))


REALTIME = register_tap(
    Tap(
        "realtime",
        push,
        types=("conversation.*", "message.*", "call.*", "customer.*", "notification.*"),
        active=lambda: get_hub().listening(),
    )
)
