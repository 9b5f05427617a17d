"""The tickets connector: tickets mapped to the canonical shape, error rules, the signed
``ticket_status_changed`` callback (recorded and live), and create/close against the real
ticket system."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import jmespath
import pytest

from connectors.support import (
    Instance,
    fixture_data,
    fixture_path,
    instance,
    manifest,
    map_fixture,
    recorded,
    serving,
    verdict_of_fixture,
)
from relaydesk.connectors import load_connector
from relaydesk.connectors.demo_instances import demo_config
from relaydesk.demo_systems import credentials
from relaydesk.demo_systems.tickets import TicketsConfig, create_tickets_app
from relaydesk.integrations.callbacks import IncomingCallback, InvalidSignature, make_verifier
from relaydesk.integrations.canonical import validate_shape
from relaydesk.integrations.mapping import apply_mapping
from relaydesk.integrations.resilience import ErrorClass
from relaydesk.integrations.spec import CallbackSpec

CONFIG = {"callback_secret": credentials.TICKETS_CALLBACK_SECRET}


def test_spec_validates_with_the_documented_callback_scheme() -> None:
    spec = load_connector("tickets")
    callback = spec.callbacks["ticket_status_changed"]
    signature = callback.signature
    assert (signature.scheme, signature.header, signature.timestamp_header) == (
        "hmac_sha256_hex", "X-Ticket-Signature", "X-Ticket-Timestamp")
    assert signature.payload == "{timestamp}.{body}"
    assert (callback.event_id, callback.entity_key, callback.entity_version) == (
        "eventId", "ticketNo", "version")
    assert callback.event_type == "ticket.status_changed"
    create = spec.actions["create_ticket"]
    assert not create.idempotent and create.compensate is not None
    assert create.compensate.action == "close_ticket"


def test_a_ticket_maps_with_status_priority_and_history() -> None:
    ticket = map_fixture("tickets", "get_ticket")
    assert (ticket["ticket_no"], ticket["subject"]) == ("GD202611190011", "需要修改收货地址")
    assert (ticket["status"], ticket["status_text"], ticket["priority"]) == (
        "open", "处理中", "urgent")
    assert (ticket["customer_name"], ticket["customer_phone"]) == ("张伟", "13937704964")
    assert ticket["updated_at"] == "2026-11-19T15:41:42+08:00"
    assert [(h["from_status"], h["to_status"], h["operator"]) for h in ticket["history"]] == [
        (None, "new", "系统"), ("new", "open", "客服-小周")]
    listed = map_fixture("tickets", "list_tickets_by_mobile")
    assert [t["ticket_no"] for t in listed] == ["GD202611190011", "GD202610240005"]
    assert listed[1]["status"] == "pending"


def test_creation_and_closing_fixtures() -> None:
    created = map_fixture("tickets", "create_ticket")
    assert recorded("tickets", "create_ticket.json")["status"] == 201
    assert (created["status"], created["version"]) == ("new", 1)
    closed = map_fixture("tickets", "close_ticket")
    assert closed["ticket_no"] == created["ticket_no"]
    assert (closed["status"], closed["version"], closed["category"]) == ("closed", 2, "修改地址")
    assert closed["history"][-1]["remark"] == "已在订单系统中修改地址"
    again = verdict_of_fixture("tickets", "error_ticket_closed.json")
    assert (again.cls, again.code) == (ErrorClass.fail, "ticket_closed")


def _callback() -> CallbackSpec:
    return load_connector("tickets").callbacks["ticket_status_changed"]


def _incoming(headers: dict[str, str], body: bytes) -> IncomingCallback:
    lower = {k.lower(): v for k, v in headers.items()}
    return IncomingCallback("POST", "/hooks/demo/tickets/ticket_status_changed", lower, "",
                            body, lower.get("content-type", ""))  # fmt: skip


def check_callback(headers: dict[str, str], body: bytes, *, now: float) -> dict[str, Any]:
    """What Relaydesk does with a callback: verify, read the event fields, map, shape-check."""
    callback = _callback()
    make_verifier(callback.signature, CONFIG).verify(_incoming(headers, body), now=now)
    payload = json.loads(body)
    assert jmespath.search(callback.event_id, payload).startswith("evt_")
    assert callback.entity_key is not None and callback.entity_version is not None
    key = jmespath.search(callback.entity_key, payload)
    version = jmespath.search(callback.entity_version, payload)
    assert callback.mapping is not None
    result = apply_mapping(callback.mapping, payload, many=False)
    assert result.errors == [] and validate_shape("ticket", result.value) == []
    assert (result.value["ticket_no"], result.value["version"]) == (key, version)
    value: dict[str, Any] = result.value
    return value


def test_the_recorded_callback_verifies_and_maps_to_a_ticket() -> None:
    entry = recorded("tickets", "ticket_status_changed.body.json")
    headers = entry["headers"]
    body = fixture_path("tickets", "ticket_status_changed.body.json").read_bytes()
    sent_at = float(headers["x-ticket-timestamp"])
    event = check_callback(headers, body, now=sent_at + 5)
    assert (event["status"], event["previous_status"], event["version"]) == ("closed", "new", 2)
    assert event["remark"] == "已在订单系统中修改地址"
    assert event["updated_at"].endswith("+08:00")
    with pytest.raises(InvalidSignature):  # one byte changed
        check_callback(headers, body.replace(b'"version":2', b'"version":3'), now=sent_at)
    with pytest.raises(InvalidSignature):  # a replay ten minutes later
        check_callback(headers, body, now=sent_at + 600)


def test_every_fixture_is_in_the_manifest() -> None:
    files = {e["file"] for e in manifest("tickets")["fixtures"]}
    assert {"get_ticket.json", "ticket_status_changed.body.json"} <= files
    assert fixture_data("tickets", "create_ticket.json")["success"] is True


# --------------------------------------------------------------------------------------
# Against the real ticket system, its callbacks caught on loopback
# --------------------------------------------------------------------------------------


@dataclass
class Catcher:
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        self.received.append((headers, body))
        self.arrived.set()
        await send({"type": "http.response.start", "status": 202, "headers": []})
        await send({"type": "http.response.body", "body": b""})


@dataclass
class Tickets:
    live: Instance
    catcher: Catcher


@pytest.fixture
async def tickets() -> AsyncIterator[Tickets]:
    catcher = Catcher()
    async with serving(catcher) as hook:
        app = create_tickets_app(TicketsConfig(callback_url=f"{hook}/hooks",
                                               retry_delays=(0.05,)))  # fmt: skip
        async with serving(app) as url, instance(
            "tickets", demo_config("tickets", {"tickets": url})
        ) as live:
            yield Tickets(live, catcher)


async def test_create_then_compensate_sends_a_signed_callback(tickets: Tickets) -> None:
    params = {"customer_mobile": "13063420097", "customer_name": "李娜", "title": "快递一直没到",
              "content": "订单显示已发货五天", "category": "物流查询", "priority": 3,
              "order_no": "YQ20261111000933"}  # fmt: skip
    created = await tickets.live.run("create_ticket", params)
    assert (created["status"], created["version"]) == ("new", 1)
    ticket = await tickets.live.run("get_ticket", {"ticket_no": created["ticket_no"]})
    assert (ticket["priority"], ticket["category"], ticket["customer_name"]) == (
        "high", "物流查询", "李娜")
    assert tickets.catcher.received == []  # creation sends no callback
    action, undo = tickets.live.compensation("create_ticket", params, created)
    assert undo == {"ticket_no": created["ticket_no"], "reason": "撤销：创建该工单的操作已回滚"}
    closed = await tickets.live.run(action, undo)
    assert (closed["status"], closed["version"]) == ("closed", 2)

    async with asyncio.timeout(10):
        await tickets.catcher.arrived.wait()
    headers, body = tickets.catcher.received[0]
    event = check_callback(headers, body, now=time.time())
    assert (event["ticket_no"], event["status"], event["previous_status"]) == (
        created["ticket_no"], "closed", "new")
    assert event["order_no"] == "YQ20261111000933"

    raw = await tickets.live.call(action, undo)  # closing again
    assert raw.status == 409 and tickets.live.classify(raw).code == "ticket_closed"


async def test_an_unknown_ticket_fails_and_inputs_at_the_declared_limits_pass(
    tickets: Tickets,
) -> None:
    raw = await tickets.live.call("get_ticket", {"ticket_no": "GD209912310001"})
    assert raw.status == 404 and tickets.live.classify(raw).code == "ticket_not_found"
    raw = await tickets.live.call("create_ticket", {"customer_mobile": "13063420097",
                                                    "title": "x" * 100, "content": "y" * 2000})
    assert raw.status == 201  # at the limits the spec declares: accepted
