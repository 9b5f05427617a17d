"""The orders connector's ``order_status`` push callback: signed like the open API with the push
secret, verified and mapped into the catalogue's order events, on recorded messages and live
from the real order system."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import httpx
import jmespath
import pytest

from connectors.support import fixture_path, recorded, serving
from relaydesk.connectors import load_connector
from relaydesk.demo_systems import credentials
from relaydesk.demo_systems.orders import OrdersConfig, create_orders_app
from relaydesk.demo_systems.orders_admin import ORDERS_ADMIN_TOKEN
from relaydesk.demo_systems.orders_callbacks import ORDERS_CALLBACK_SECRET
from relaydesk.events.catalogue import validate_payload
from relaydesk.integrations.callbacks import (
    IncomingCallback,
    InvalidSignature,
    TimestampOutOfTolerance,
    make_verifier,
)
from relaydesk.integrations.mapping import apply_mapping

ISO_SHANGHAI = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00$")


CALLBACK_CONFIG = {"app_key": credentials.ORDERS_APP_KEY, "callback_secret": ORDERS_CALLBACK_SECRET}
EVENTS = {
    "order_paid.body.json": "order.paid",
    "order_shipped.body.json": "order.shipped",
    "order_delivered.body.json": "order.delivered",
    "order_cancelled.body.json": "order.cancelled",
    "order_refunded.body.json": "order.refunded",
}


def test_the_callback_is_signed_like_the_open_api_and_maps_message_types_to_events() -> None:
    spec = load_connector("orders")
    callback = spec.callbacks["order_status"]
    signature = callback.signature
    assert signature.scheme == "app_key_sign" and signature.signing is not None
    assert (signature.signing.algorithm, signature.signing.placement) == ("md5", "query")
    assert signature.signing.canonical == spec.auth.canonical  # type: ignore[union-attr]
    assert signature.secret == "{{ config.callback_secret }}"
    assert spec.config["callback_secret"].secret and not spec.config["callback_secret"].required
    assert (callback.event_id, callback.entity_key, callback.entity_version) == (
        "msgId",
        "data.orderNo",
        "version",
    )
    assert not isinstance(callback.event_type, str)
    assert callback.event_type.values == {
        "ORDER_PAID": "order.paid",
        "ORDER_SHIPPED": "order.shipped",
        "ORDER_FINISHED": "order.delivered",
        "ORDER_CLOSED": "order.cancelled",
        "REFUND_SUCCESS": "order.refunded",
    }
    assert callback.event_type.default is None  # other message types: acknowledged, ignored


def _incoming(query: dict[str, str], body: bytes) -> IncomingCallback:
    return IncomingCallback(
        "POST",
        "/hooks/demo/orders/order_status",
        {"content-type": "application/json; charset=utf-8"},
        urlencode(query),
        body,
        "application/json",
    )


def check_push(query: dict[str, str], body: bytes, *, now: float) -> tuple[str, dict[str, Any]]:
    """What Relaydesk does with a push: verify, read the event fields, map, validate against
    the event catalogue. Returns (event type, the event's payload)."""
    callback = load_connector("orders").callbacks["order_status"]
    make_verifier(callback.signature, CALLBACK_CONFIG).verify(_incoming(query, body), now=now)
    message = json.loads(body)
    assert not isinstance(callback.event_type, str) and callback.mapping is not None
    event_type = callback.event_type.values[jmespath.search(callback.event_type.expr, message)]
    assert jmespath.search(callback.event_id, message).startswith("MSG")
    result = apply_mapping(callback.mapping, message, many=False)
    assert result.errors == []
    _, payload = validate_payload(event_type, result.value)
    assert payload["order_no"] == jmespath.search(str(callback.entity_key), message)
    assert payload["version"] == jmespath.search(str(callback.entity_version), message)
    return event_type, payload


@pytest.mark.parametrize("file", sorted(EVENTS))
def test_each_recorded_push_verifies_and_maps_to_its_catalogued_event(file: str) -> None:
    entry = recorded("orders", file)
    assert entry["callback"] == "order_status"
    body = fixture_path("orders", file).read_bytes()
    sent_at = int(entry["query"]["timestamp"]) / 1000
    event_type, payload = check_push(entry["query"], body, now=sent_at + 5)
    assert event_type == EVENTS[file]
    assert payload["currency"] == "CNY" and re.fullmatch(r"88[0-9]{7}", payload["customer_id"])
    assert re.fullmatch(r"1[3-9][0-9]{9}", payload["customer_phone"])  # masked on the way out
    for name in ("paid_at", "shipped_at", "delivered_at", "closed_at"):
        assert payload[name] is None or ISO_SHANGHAI.match(payload[name]), payload[name]
    if event_type == "order.paid":
        assert (payload["status"], payload["shipped_at"]) == ("awaiting_shipment", None)
        assert payload["paid_at"] is not None and payload["total"] == "546.00"
    if event_type == "order.shipped":
        assert payload["status"] == "shipped" and payload["carrier"] == "圆通速递"
        assert re.fullmatch(r"YT[0-9]{13}", payload["tracking_no"])
        assert payload["receiver_address"] == "湖南省长沙市岳麓区桐梓坡路2号24栋3单元1982室"
        assert payload["receiver_name"] == "许晓燕"
    if event_type == "order.delivered":
        assert payload["status"] == "completed" and payload["delivered_at"] is not None
        assert (payload["carrier"], payload["tracking_no"]) == ("圆通速递", "YT5974940606424")
    if event_type == "order.cancelled":
        assert (payload["status"], payload["paid_at"]) == ("closed", None)
        assert payload["closed_at"] is not None and payload["customer_phone"] == "13800857099"
    if event_type == "order.refunded":
        assert (payload["refund_id"], payload["refund_status"]) == ("RF20261120000005", "refunded")
        assert payload["refund_amount"] == payload["total"] == "129.00"
        assert payload["status"] == "shipped"  # a refund does not change the order's status


def test_a_tampered_replayed_or_foreign_push_is_refused() -> None:
    entry = recorded("orders", "order_shipped.body.json")
    body = fixture_path("orders", "order_shipped.body.json").read_bytes()
    query = entry["query"]
    sent_at = int(query["timestamp"]) / 1000
    with pytest.raises(InvalidSignature):  # one byte changed
        check_push(query, body.replace(b'"version":2', b'"version":3'), now=sent_at)
    with pytest.raises(TimestampOutOfTolerance):  # a replay ten minutes later
        check_push(query, body, now=sent_at + 600)
    with pytest.raises(InvalidSignature, match="appKey is unknown"):  # another shop's appKey
        check_push({**query, "appKey": "someone-else"}, body, now=sent_at)


# --------------------------------------------------------------------------------------
# Live: the real order system pushing to a catcher on loopback
# --------------------------------------------------------------------------------------


@pytest.fixture
async def pushing() -> AsyncIterator[tuple[httpx.AsyncClient, list[tuple[str, bytes]]]]:
    """The real order system pushing to a catcher; yields its admin client and the catch."""
    caught: list[tuple[str, bytes]] = []

    async def catcher(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body, more = b"", True
        while more:
            message = await receive()
            body, more = body + message.get("body", b""), message.get("more_body", False)
        caught.append((scope["query_string"].decode(), body))
        await send({"type": "http.response.start", "status": 202, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async with serving(catcher) as hook:
        app = create_orders_app(
            OrdersConfig(callback_url=f"{hook}/hooks?shop=yq", retry_delays=(0.05,))
        )
        async with (
            serving(app) as url,
            httpx.AsyncClient(base_url=url, headers={"X-Admin-Token": ORDERS_ADMIN_TOKEN}) as admin,
        ):
            yield admin, caught


async def test_the_real_system_pushes_signed_paid_shipped_delivered_messages_in_order(
    pushing: tuple[httpx.AsyncClient, list[tuple[str, bytes]]],
) -> None:
    admin, caught = pushing
    order_no = "YQ20261120001870"  # 于洋's unpaid order
    for step, body in (("pay", None), ("ship", {"carrier": "JDVA"}), ("deliver", None)):
        r = await admin.post(f"/admin/orders/{order_no}/{step}", json=body)
        assert r.json()["code"] == "0", r.text
    async with asyncio.timeout(10):
        while len(caught) < 3:  # noqa: ASYNC110 - filled by the catcher's requests
            await asyncio.sleep(0.01)
    seen = []
    for query, body in caught:
        params = dict(item.split("=", 1) for item in query.split("&"))
        assert params["shop"] == "yq"  # the push URL's own query is kept, and signed
        seen.append(check_push(params, body, now=time.time()))
    assert [(t, p["status"], p["version"]) for t, p in seen] == [
        ("order.paid", "awaiting_shipment", 2),
        ("order.shipped", "shipped", 3),
        ("order.delivered", "completed", 4),
    ]
    assert seen[1][1]["carrier"] == "京东物流" and seen[1][1]["tracking_no"].startswith("JDVA")
    log = (await admin.get("/admin/deliveries", params={"orderNo": order_no})).json()["data"]
    assert [(d["msgType"], d["delivered"]) for d in log] == [
        ("ORDER_PAID", True),
        ("ORDER_SHIPPED", True),
        ("ORDER_FINISHED", True),
    ]


async def test_status_changes_follow_the_order_systems_rules(
    pushing: tuple[httpx.AsyncClient, list[tuple[str, bytes]]],
) -> None:
    admin, caught = pushing
    r = await admin.post("/admin/orders/YQ20261120001851/ship")  # not paid yet
    assert r.json() == {
        "code": "ORDER_STATUS_INVALID",
        "msg": "订单状态为待付款，不能发货",
        "data": None,
    }
    r = await admin.post("/admin/orders/YQ20261118001420/ship", json={"waybillNo": "XX1"})
    assert r.json()["code"] == "PARAM_ERROR"
    r = await admin.post("/admin/orders/YQ20261118999999/pay")
    assert r.json()["code"] == "ORDER_NOT_FOUND"
    async with httpx.AsyncClient(base_url=str(admin.base_url)) as anonymous:
        r = await anonymous.post("/admin/orders/YQ20261120001851/pay")
    assert r.status_code == 401 and r.json()["code"] == "ADMIN_TOKEN_INVALID"
    assert caught == []  # nothing changed, nothing pushed
