"""Delivering agents' replies to the visitor's open widget(s).

The reply goes to the realtime hub as a ``widget.message`` frame (through Redis pub/sub when
configured, so the API process holding the visitor's socket gets it, whichever process runs
the job); agents' sockets never see these frames. A visitor with a socket open has it now
(``delivered``); one who is away gets it when the widget reconnects and resumes (it stays
``sent`` until then, and becomes ``delivered`` on resume and ``read`` when the visitor reads).
"""

from __future__ import annotations

from relaydesk.channels.webchat.runtime import webchat_runtime
from relaydesk.channels.webchat.service import wire
from relaydesk.channels.webchat.socket import WIDGET_MESSAGE
from relaydesk.conversations.delivery import Delivered, Outgoing
from relaydesk.conversations.models import Message
from relaydesk.kit.db import Database
from relaydesk.realtime.hub import get_hub

__all__ = ["WebChatAdapter"]


class WebChatAdapter:
    kind = "web_chat"

    async def deliver(self, db: Database, outgoing: Outgoing) -> Delivered:
        runtime = webchat_runtime(db)
        async with db.reader(outgoing.tenant_id) as session:
            message = await session.get(Message, outgoing.message_id)
            if message is None:
                return Delivered(None, "sent")
            shown = wire(runtime, message)
        online = await runtime.presence.online(outgoing.inbox_id, outgoing.customer_id)
        shown["status"] = "delivered" if online else "sent"
        await get_hub().broadcast(
            {
                "type": "event",
                "id": None,
                "tenant_id": str(outgoing.tenant_id),
                "event_type": WIDGET_MESSAGE,
                "payload": {
                    "inbox_id": str(outgoing.inbox_id),
                    "customer_id": str(outgoing.customer_id),
                    "message": shown,
                },
            }
        )
        return Delivered(None, shown["status"])
