"""The orders connector: its spec, its mappings on recorded answers, its error rules, and its
actions against the real order system (signed requests, business rules, rate limit). Its
``order_status`` push callback: test_orders_callbacks.py."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from connectors.support import (
    Instance,
    fixture_data,
    instance,
    map_fixture,
    mapped,
    recorded,
    serving,
    verdict_of,
    verdict_of_fixture,
)
from relaydesk.connectors import load_connector
from relaydesk.connectors.demo_instances import demo_config
from relaydesk.demo_systems.orders import OrdersConfig, create_orders_app
from relaydesk.integrations.resilience import ErrorClass, ErrorKind
from relaydesk.integrations.spec import action_permission

ISO_SHANGHAI = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00$")


def test_spec_validates_with_the_documented_signing_scheme() -> None:
    spec = load_connector("orders")
    assert spec.kind == "http" and spec.auth.type == "signing"
    assert (spec.auth.algorithm, spec.auth.placement, spec.auth.timestamp_unit) == (
        "md5", "query", "ms")
    assert spec.auth.canonical == "{secret}{sorted_params}{body}{secret}"
    assert spec.config["app_secret"].secret
    assert action_permission(spec, "get_order") == "connector_action:orders.get_order"
    reads = {name for name, a in spec.actions.items() if a.effect == "read"}
    assert reads == {"list_orders_by_mobile", "get_order"}
    assert all(spec.actions[name].cache for name in reads)
    refund = spec.actions["request_refund"]
    assert refund.idempotent and refund.compensate is not None
    assert refund.compensate.action == "cancel_refund"
    assert spec.actions["request_refund"].params["out_refund_no"].required


def test_a_customers_orders_map_to_canonical_orders() -> None:
    orders = map_fixture("orders", "list_orders_by_mobile")
    assert [o["order_no"] for o in orders] == [
        "YQ20261120001851", "YQ20261118001420", "YQ20261118001234", "YQ20261022000640"]
    # the order system's status codes, mapped
    assert [o["status"] for o in orders] == [
        "pending_payment", "awaiting_shipment", "shipped", "completed"]
    assert [o["status_text"] for o in orders] == ["待付款", "待发货", "已发货", "已完成"]
    unpaid, _, shipped, completed = orders
    assert unpaid["paid_at"] is None and unpaid["total"] == "546.00"
    assert shipped["receiver_address"] == "四川省成都市武侯区天府大道北段210号3栋4单元423室"
    assert shipped["receiver_name"] == "张伟" and shipped["receiver_phone"] == "13937704964"
    # wall-clock Asia/Shanghai strings become ISO 8601 with +08:00
    assert shipped["paid_at"] == "2026-11-18T12:53:28+08:00"
    assert shipped["shipped_at"] == "2026-11-19T07:04:28+08:00"
    assert completed["finished_at"] == "2026-10-26T18:45:00+08:00"
    assert (shipped["carrier"], shipped["waybill_no"]) == ("圆通速递", "YT5974940606424")
    assert completed["remark"] == "周末送货" and unpaid["remark"] == ""
    assert all(o["currency"] == "CNY" and o["customer_id"] == "880000000" for o in orders)


def test_one_order_maps_with_its_items_and_amounts() -> None:
    order = map_fixture("orders", "get_order")
    assert order["order_no"] == "YQ20261118001234"
    # total is what the buyer paid: goods 899.00 - discount 10.00
    assert (order["total"], order["goods_amount"], order["discount"]) == (
        "889.00", "899.00", "10.00")
    assert order["items"] == [{"sku": "SKU10045", "name": "无线降噪耳机 Pro 2", "qty": 1,
                               "price": "899.00", "amount": "899.00"}]  # fmt: skip
    assert ISO_SHANGHAI.match(order["created_at"])


def test_refund_fixtures_show_the_idempotent_request_and_its_cancellation() -> None:
    first = map_fixture("orders", "request_refund")
    again = map_fixture("orders", "request_refund", "request_refund_again.json")
    cancelled = map_fixture("orders", "cancel_refund")
    assert first["status"] == "pending" and first["amount"] == "34.00"
    assert first["out_refund_no"] == "RD-REC-0001" and first["reason"] == "少发配件"
    assert again == first  # the same outRefundNo again: the same refund, no error
    assert cancelled["refund_id"] == first["refund_id"]
    assert (cancelled["status"], cancelled["status_text"]) == ("cancelled", "已取消")
    assert ISO_SHANGHAI.match(cancelled["updated_at"])


def test_address_change_keeps_the_previous_receiver() -> None:
    changed = map_fixture("orders", "change_shipping_address")
    assert changed["receiver_address"] == "四川省成都市高新区天府五街200号菁蓉汇3栋12楼"
    previous = "四川省成都市武侯区天府大道北段210号3栋4单元423室"
    assert changed["previous_receiver_address"] == previous


def test_a_municipality_is_written_once_in_the_address() -> None:
    spec = load_connector("orders")
    record = fixture_data("orders", "get_order.json")["data"]
    record["receiver"] = {"name": "刘洋", "mobile": "18382886751", "province": "上海市",
                          "city": "上海市", "district": "徐汇区", "address": "漕溪北路307号"}
    value, errors = mapped(spec, "get_order", {"data": record})
    assert errors == [] and value["receiver_address"] == "上海市徐汇区漕溪北路307号"


@pytest.mark.parametrize(("file", "code", "message"), [
    ("error_order_shipped.json", "order_shipped", "订单已发货，无法修改收货地址"),
    ("error_refund_needs_review.json", "refund_needs_review",
     "单笔退款超过 5000.00 元，需财务人工审核，请通过人工审核流程提交"),
    ("error_order_not_found.json", "order_not_found", "订单不存在"),
])  # fmt: skip
def test_business_errors_answered_with_http_200_fail_with_their_code(
    file: str, code: str, message: str
) -> None:
    assert recorded("orders", file)["status"] == 200
    verdict = verdict_of_fixture("orders", file)
    assert (verdict.cls, verdict.code, verdict.message) == (ErrorClass.fail, code, message)
    assert verdict.kind is ErrorKind.config  # the system is up: the breaker does not trip


def test_a_rejected_signature_is_a_config_error_not_a_token_refresh() -> None:
    assert recorded("orders", "error_signature_rejected.json")["status"] == 401
    verdict = verdict_of_fixture("orders", "error_signature_rejected.json")
    assert (verdict.cls, verdict.kind, verdict.code) == (
        ErrorClass.fail, ErrorKind.config, "signature_rejected")


def test_other_answers_are_classified() -> None:
    spec = load_connector("orders")
    assert verdict_of(spec, 200, {"code": "0", "msg": "success", "data": {}}).ok
    unknown = verdict_of(spec, 200, {"code": "SOMETHING_NEW", "msg": "新错误", "data": None})
    assert (unknown.cls, unknown.code) == (ErrorClass.fail, "business_error")
    # a 200 without the envelope is not a success
    assert verdict_of(spec, 200, [1, 2]).cls is ErrorClass.fail
    replayed = verdict_of(spec, 401, {"code": "NONCE_REPLAYED", "msg": "nonce 重复"})
    assert replayed.cls is ErrorClass.retry  # the retry is signed with a fresh nonce
    skew = verdict_of(spec, 401, {"code": "TIMESTAMP_EXPIRED", "msg": "时间戳过期"})
    assert skew.code == "clock_skew"
    assert verdict_of(spec, 503, None).cls is ErrorClass.retry  # built-in default


# --------------------------------------------------------------------------------------
# Against the real order system
# --------------------------------------------------------------------------------------


@pytest.fixture
async def orders() -> AsyncIterator[Instance]:
    async with serving(create_orders_app()) as url, instance(
        "orders", demo_config("orders", {"orders": url})
    ) as live:
        yield live


async def test_signed_reads_map_to_the_same_values_as_the_fixtures(orders: Instance) -> None:
    listed = await orders.run("list_orders_by_mobile", {"mobile": "13937704964"})
    assert listed == map_fixture("orders", "list_orders_by_mobile")
    shipped_only = await orders.run("list_orders_by_mobile",
                                    {"mobile": "13937704964", "status": 30})  # fmt: skip
    assert [o["order_no"] for o in shipped_only] == ["YQ20261118001234"]
    raw = await orders.call("get_order", {"order_no": "YQ20261118001234"})
    assert raw.status == 200 and raw.request_line == "GET /api/v1/orders/YQ20261118001234"
    assert orders.map("get_order", raw) == map_fixture("orders", "get_order")


async def test_refund_is_idempotent_and_compensated_by_cancel_refund(orders: Instance) -> None:
    params = {"order_no": "YQ20261118001420", "amount": "12.50", "reason": "少发配件",
              "out_refund_no": "RD-TEST-42"}  # fmt: skip
    first = await orders.run("request_refund", params)
    assert (first["status"], first["amount"]) == ("pending", "12.50")
    # a retry with the same out_refund_no is answered with the same refund, not REFUND_EXISTS
    assert await orders.run("request_refund", params) == first
    action, undo = orders.compensation("request_refund", params, first)
    assert (action, undo) == ("cancel_refund", {"refund_id": first["refund_id"]})
    cancelled = await orders.run(action, undo)
    assert cancelled["status"] == "cancelled"
    assert (await orders.run(action, undo))["status"] == "cancelled"  # idempotent too


async def test_business_rules_of_the_real_system_fail_with_their_codes(orders: Instance) -> None:
    address = {"receiver_name": "张伟", "receiver_mobile": "13937704964", "province": "四川省",
               "city": "成都市", "district": "高新区", "address": "天府五街200号"}  # fmt: skip
    raw = await orders.call("change_shipping_address",
                            {"order_no": "YQ20261118001234", **address})  # fmt: skip
    verdict = orders.classify(raw)
    assert (raw.status, verdict.cls, verdict.code) == (200, ErrorClass.fail, "order_shipped")
    assert verdict.message == "订单已发货，无法修改收货地址"
    raw = await orders.call("request_refund", {
        "order_no": "YQ20261022000640", "amount": "5499.00", "reason": "整单退货",
        "out_refund_no": "RD-TEST-43"})  # fmt: skip
    assert orders.classify(raw).code == "refund_needs_review"
    raw = await orders.call("request_refund", {
        "order_no": "YQ20261120001851", "amount": "1.00", "reason": "不想要了",
        "out_refund_no": "RD-TEST-44"})  # fmt: skip
    assert orders.classify(raw).code == "order_not_paid"
    changed = await orders.run("change_shipping_address",
                               {"order_no": "YQ20261118001420", **address})  # fmt: skip
    assert changed["receiver_address"] == "四川省成都市高新区天府五街200号"


async def test_the_rate_limit_is_classified_with_retry_after() -> None:
    app = create_orders_app(OrdersConfig(rate_limit_per_second=1))
    async with serving(app) as url, instance("orders", demo_config("orders", {"orders": url})
                                             ) as live:  # fmt: skip
        answers = await asyncio.gather(*(
            live.call("get_order", {"order_no": "YQ20261118001234"}) for _ in range(4)))
    limited = [raw for raw in answers if raw.status == 429]
    assert limited, [raw.status for raw in answers]
    verdict = live.classify(limited[0])
    assert (verdict.cls, verdict.code) == (ErrorClass.rate_limited, "rate_limited")
    assert verdict.retry_after == 1.0


async def test_a_wrong_secret_is_refused_by_the_real_system() -> None:
    async with serving(create_orders_app()) as url:
        config: dict[str, Any] = {**demo_config("orders", {"orders": url}), "app_secret": "x"}
        async with instance("orders", config) as live:
            raw = await live.call("get_order", {"order_no": "YQ20261118001234"})
    assert raw.status == 401 and live.classify(raw).code == "signature_rejected"
