"""The legacy ticket system over real sockets, with a real receiver for its signed callbacks."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from demo_support import serving
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from relaydesk.demo_systems.dataset import people
from relaydesk.demo_systems.seed_service import seed_tickets
from relaydesk.demo_systems.tickets import TicketsConfig, create_tickets_app

TOKEN = {"X-Api-Token": "yq-tickets-demo-token-9a4f"}
SECRET = b"yq-tickets-callback-secret-3e7b"


@dataclass
class Receiver:
    """Records every callback; answers with the queued statuses, then 200."""

    statuses: list[int] = field(default_factory=list)
    calls: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    async def endpoint(self, request: Request) -> Response:
        self.calls.append((dict(request.headers), await request.body()))
        return Response(status_code=self.statuses.pop(0) if self.statuses else 200)

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.calls]


@dataclass
class Setup:
    client: httpx.AsyncClient
    receiver: Receiver
    state: Any

    async def drain(self) -> None:
        await self.state.sender.drain(10)


@pytest.fixture
async def tickets() -> AsyncIterator[Setup]:
    receiver = Receiver()
    hook = Starlette(routes=[Route("/hooks/tickets", receiver.endpoint, methods=["POST"])])
    async with serving(hook) as hook_url:
        app = create_tickets_app(TicketsConfig(callback_url=f"{hook_url}/hooks/tickets",
                                               retry_delays=(0.01, 0.01, 0.01)))
        async with serving(app) as url, httpx.AsyncClient(base_url=url, headers=TOKEN) as c:
            yield Setup(c, receiver, app.state.tickets)


def verify(headers: dict[str, str], body: bytes) -> bool:
    """The documented scheme: hex HMAC-SHA256 of ``{timestamp}.{body}``."""
    message = headers["x-ticket-timestamp"].encode() + b"." + body
    expected = hmac.new(SECRET, message, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, headers["x-ticket-signature"])


async def new_ticket(setup: Setup, **extra: str) -> str:
    person = people()[9]
    r = await setup.client.post("/tickets", data={
        "customerMobile": person.mobile, "customerName": person.name, "title": "快递丢件",
        "content": "物流显示已签收但本人没有收到", "category": "物流查询", **extra})
    assert r.status_code == 201, r.text
    return str(r.json()["data"]["ticketNo"])


async def test_create_by_form_or_json(tickets: Setup) -> None:
    number = await new_ticket(tickets)
    assert number.startswith("GD") and len(number) == 14
    r = await tickets.client.post("/tickets", json={"customerMobile": people()[2].mobile,
                                                    "title": "发票开错", "priority": 3})
    assert r.json()["data"]["status"] == "NEW"
    detail = (await tickets.client.get(f"/tickets/{number}")).json()["data"]
    assert (detail["status"], detail["version"], detail["category"]) == ("NEW", 1, "物流查询")
    assert tickets.receiver.calls == []  # creation is not a status change


async def test_creation_errors(tickets: Setup) -> None:
    r = await tickets.client.post("/tickets", data={"customerMobile": "10086", "title": "x"})
    assert (r.status_code, r.json()["errorCode"]) == (400, "E102")
    r = await tickets.client.post("/tickets", data={"customerMobile": people()[0].mobile})
    assert (r.status_code, r.json()["errorCode"]) == (400, "E101")
    assert "title" in r.json()["errorMsg"]
    r = await tickets.client.post("/tickets", json={"title": "x"}, headers={"X-Api-Token": "no"})
    assert (r.status_code, r.json()["errorCode"]) == (401, "E401")


async def test_status_change_sends_a_signed_versioned_callback(tickets: Setup) -> None:
    number = await new_ticket(tickets)
    r = await tickets.client.patch(f"/tickets/{number}",
                                   json={"status": "PROCESSING", "operator": "客服-小周"})
    assert r.json()["data"]["version"] == 2
    await tickets.drain()
    [(headers, body)] = tickets.receiver.calls
    assert verify(headers, body)
    assert abs(int(headers["x-ticket-timestamp"]) - time.time()) < 10
    event = json.loads(body)
    assert (event["ticketNo"], event["version"], event["oldStatus"], event["newStatus"]) == (
        number, 2, "NEW", "PROCESSING")
    assert event["eventId"].startswith("evt_")
    assert event["eventType"] == headers["x-ticket-event"] == "TICKET_STATUS_CHANGED"


async def test_refused_transitions_send_nothing(tickets: Setup) -> None:
    number = await new_ticket(tickets)
    r = await tickets.client.patch(f"/tickets/{number}", data={"status": "RESOLVED"})
    assert (r.status_code, r.json()["errorCode"]) == (409, "E301")
    r = await tickets.client.patch(f"/tickets/{number}", json={"status": "PROCESSING",
                                                               "expectedVersion": 7})
    assert (r.status_code, r.json()["errorCode"]) == (409, "E303")
    r = await tickets.client.patch("/tickets/GD000000000000", json={"status": "PROCESSING"})
    assert (r.status_code, r.json()["errorCode"]) == (404, "E201")
    await tickets.drain()
    assert tickets.receiver.calls == []


async def test_close_with_reason_is_final(tickets: Setup) -> None:
    number = await new_ticket(tickets)
    r = await tickets.client.post(f"/tickets/{number}/close", json={})
    assert (r.status_code, r.json()["errorCode"]) == (400, "E101")
    r = await tickets.client.post(f"/tickets/{number}/close", json={"reason": "重复工单，撤销"})
    assert r.json()["data"]["status"] == "CLOSED"
    r = await tickets.client.post(f"/tickets/{number}/close", json={"reason": "again"})
    assert (r.status_code, r.json()["errorCode"]) == (409, "E302")
    await tickets.drain()
    [event] = tickets.receiver.events()
    assert (event["newStatus"], event["remark"]) == ("CLOSED", "重复工单，撤销")


async def test_non_2xx_is_retried_three_times_with_the_same_event(tickets: Setup) -> None:
    number = await new_ticket(tickets)
    tickets.receiver.statuses = [500, 503, 502, 500]  # every attempt fails
    await tickets.client.patch(f"/tickets/{number}", json={"status": "PROCESSING"})
    await tickets.drain()
    assert len(tickets.receiver.calls) == 4  # first try + 3 retries
    assert len({e["eventId"] for e in tickets.receiver.events()}) == 1
    assert all(verify(h, b) for h, b in tickets.receiver.calls)
    log = (await tickets.client.get("/admin/deliveries", params={"ticketNo": number})).json()
    [delivery] = log["data"]
    assert delivery["delivered"] is False
    assert [a["status"] for a in delivery["attempts"]] == [500, 503, 502, 500]

    tickets.receiver.statuses = [500]  # fails once, then succeeds
    await tickets.client.patch(f"/tickets/{number}", json={"status": "RESOLVED"})
    await tickets.drain()
    log = (await tickets.client.get("/admin/deliveries", params={"ticketNo": number})).json()
    assert log["data"][-1]["delivered"] is True
    assert [a["status"] for a in log["data"][-1]["attempts"]] == [500, 200]


async def test_admin_change_and_replay_of_the_last_callback(tickets: Setup) -> None:
    seeded = next(t for t in seed_tickets() if t.status == "NEW")
    r = await tickets.client.post(f"/admin/tickets/{seeded.ticket_no}/status",
                                  json={"status": "PROCESSING"})
    assert r.json()["data"]["event"]["version"] == seeded.version + 1
    await tickets.drain()
    await tickets.client.post(f"/admin/tickets/{seeded.ticket_no}/resend-last")
    await tickets.client.post(f"/admin/tickets/{seeded.ticket_no}/resend-last",
                              params={"keepTimestamp": "true"})
    await tickets.drain()
    (h1, b1), (h2, b2), (h3, b3) = tickets.receiver.calls
    assert b1 == b2 == b3  # same event id, same body: a duplicate for the receiver to drop
    assert verify(h2, b2)
    assert (h3["x-ticket-timestamp"], h3["x-ticket-signature"]) == (
        h1["x-ticket-timestamp"], h1["x-ticket-signature"])  # a byte-identical replay


async def test_out_of_order_events_arrive_newest_first(tickets: Setup) -> None:
    number = await new_ticket(tickets)
    r = await tickets.client.post(f"/admin/tickets/{number}/out-of-order",
                                  json={"statuses": ["PROCESSING", "RESOLVED", "CLOSED"]})
    assert r.json()["data"]["sentOrder"] == [4, 3, 2]
    await tickets.drain()
    assert [e["version"] for e in tickets.receiver.events()] == [4, 3, 2]
    assert (await tickets.client.get(f"/tickets/{number}")).json()["data"]["status"] == "CLOSED"
    # "resend last" means the newest version, whatever order they went out in
    await tickets.client.post(f"/admin/tickets/{number}/resend-last")
    await tickets.drain()
    assert tickets.receiver.events()[-1]["version"] == 4


async def test_an_invalid_out_of_order_path_changes_nothing(tickets: Setup) -> None:
    number = await new_ticket(tickets)
    r = await tickets.client.post(f"/admin/tickets/{number}/out-of-order",
                                  json={"statuses": ["PROCESSING", "NEW"]})
    assert (r.status_code, r.json()["errorCode"]) == (409, "E301")
    detail = (await tickets.client.get(f"/tickets/{number}")).json()["data"]
    assert (detail["status"], detail["version"]) == ("NEW", 1)


async def test_callback_url_can_be_changed_at_runtime(tickets: Setup) -> None:
    r = await tickets.client.put("/admin/callback", json={"url": None})
    assert r.json()["data"] == {"url": None}
    number = await new_ticket(tickets)
    await tickets.client.patch(f"/tickets/{number}", json={"status": "PROCESSING"})
    await tickets.drain()
    assert tickets.receiver.calls == []
    log = (await tickets.client.get("/admin/deliveries", params={"ticketNo": number})).json()
    assert log["data"][0]["attempts"] == []  # recorded, nowhere to send
    r = await tickets.client.put("/admin/callback", json={"url": "ftp://x"})
    assert (r.status_code, r.json()["errorCode"]) == (400, "E103")
