"""The hub offers a frame to every agent of its tenant but only to the visitors' sockets it
names (by customer or conversation), including conversations a socket starts following
later; a closed socket is offered nothing."""

from __future__ import annotations

import uuid
from typing import Any

from relaydesk.auth.principal import Principal
from relaydesk.channels.webchat.socket import VisitorConnection, attach
from relaydesk.realtime.hub import Hub

TENANT = uuid.uuid4()
INBOX = uuid.uuid4()


def visitor(customer: uuid.UUID, *conversations: str) -> VisitorConnection:
    principal = Principal(kind="visitor", id=uuid.uuid4(), tenant_id=TENANT, tenant_slug="",
                          label="web chat visitor", permissions=frozenset())  # fmt: skip
    connection = VisitorConnection(principal, inbox_id=INBOX)
    connection.follow(customer, *conversations)
    return connection


def frame(event_type: str, **payload: Any) -> dict[str, Any]:
    return {"type": "event", "id": None, "tenant_id": str(TENANT), "event_type": event_type,
            "payload": payload}  # fmt: skip


def drained(connection: VisitorConnection) -> list[dict[str, Any]]:
    found = []
    while not connection.queue.empty():
        item = connection.queue.get_nowait()
        assert item is not None
        found.append(item)
    return found


def test_a_visitor_frame_reaches_only_the_sockets_it_names() -> None:
    hub = Hub()
    agent = hub.connect(Principal(kind="user", id=uuid.uuid4(), tenant_id=TENANT,
                                  tenant_slug="t", label="agent",
                                  permissions=frozenset({"conversations.read"})))  # fmt: skip
    ana, bo = uuid.uuid4(), uuid.uuid4()
    ana_tab, ana_other_tab, bo_tab = visitor(ana, "c-ana"), visitor(ana), visitor(bo, "c-bo")
    for connection in (ana_tab, ana_other_tab, bo_tab):
        attach(hub, connection)
    assert hub.connection_count() == 4

    reply = {"conversation_id": "c-ana2", "id": "m1", "text": "您好"}
    hub.deliver_local(frame("widget.message", inbox_id=str(INBOX), customer_id=str(ana),
                            message=reply))  # fmt: skip
    assert hub.delivered == 3  # offered to the agent and Ana's two tabs, not to Bo's
    assert agent.queue.empty()  # widget frames are not for agents
    assert drained(ana_tab) == drained(ana_other_tab) == [{"type": "message", "message": reply}]
    assert drained(bo_tab) == []

    # both of Ana's tabs follow the new conversation now: its typing reaches them only
    hub.delivered = 0
    hub.deliver_local(frame("typing.agent", conversation_id="c-ana2", user_id="u", on=True))
    assert hub.delivered == 3
    assert drained(ana_tab) == drained(ana_other_tab) == [{"type": "typing", "on": True}]
    assert drained(bo_tab) == []
    assert agent.queue.qsize() == 1

    hub.disconnect(ana_tab)
    hub.disconnect(bo_tab)
    hub.delivered = 0
    hub.deliver_local(frame("conversation.status_changed", conversation_id="c-bo",
                            status="resolved"))  # fmt: skip
    assert hub.delivered == 1  # the agent only: Bo's socket is gone
    assert drained(bo_tab) == []
    assert hub.connection_count() == 2
    assert hub.require_resume() == 2  # the agent and Ana's remaining tab
