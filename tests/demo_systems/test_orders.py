"""The order system over a real loopback socket: signing, paging, refunds, address changes."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from demo_support import ORDERS_SECRET, md5_sign, serving, signed_url

from relaydesk.demo_systems.dataset import people
from relaydesk.demo_systems.orders import OrdersConfig, create_orders_app
from relaydesk.demo_systems.orders_auth import canonical_string
from relaydesk.demo_systems.seed_commerce import Order, seed_orders
from relaydesk.demo_systems.seed_finance import seed_refunds

ZHANG = people()[0]  # the person with an order in every state but "closed"


def first(status: int, *, more_than: Decimal | None = None) -> Order:
    for order in seed_orders():
        if order.status == status and (more_than is None or order.pay_amount > more_than):
            return order
    raise AssertionError(f"no seeded order in status {status}")


@pytest.fixture
async def orders() -> AsyncIterator[httpx.AsyncClient]:
    async with serving(create_orders_app()) as url, httpx.AsyncClient(base_url=url) as client:
        yield client


async def call(
    client: httpx.AsyncClient, method: str, path: str, params: dict[str, Any] | None = None,
    body: dict[str, Any] | None = None,
) -> httpx.Response:
    text = "" if body is None else json.dumps(body, ensure_ascii=False)
    return await client.request(
        method, signed_url(path, params, text), content=text.encode(),
        headers={"Content-Type": "application/json"} if body is not None else {},
    )


def test_documented_canonical_string_and_sign() -> None:
    """The worked example of docs/demo-systems.md, byte for byte."""
    params = {"appKey": "relaydesk-demo", "timestamp": "1795162920000", "nonce": "n0001",
              "buyerMobile": "13937704964", "pageNo": "1", "pageSize": "20", "sign": "x",
              "status": ""}
    expected = ("yq-orders-demo-secret-7f3a9c" "appKeyrelaydesk-demo" "buyerMobile13937704964"
                "noncen0001" "pageNo1" "pageSize20" "timestamp1795162920000"
                "yq-orders-demo-secret-7f3a9c")
    assert canonical_string(params, "", ORDERS_SECRET) == expected
    assert md5_sign(params, "", ORDERS_SECRET) == "6BFA7019A019D8A3479697DE3EA62D03"
    body = '{"amount":"2.00","reason":"少发配件"}'
    post = {"appKey": "relaydesk-demo", "timestamp": "1795162920000", "nonce": "n0002"}
    assert canonical_string(post, body, ORDERS_SECRET) == (
        "yq-orders-demo-secret-7f3a9c" "appKeyrelaydesk-demo" "noncen0002"
        "timestamp1795162920000" + body + "yq-orders-demo-secret-7f3a9c"
    )
    assert md5_sign(post, body, ORDERS_SECRET) == "88484E4FB687FF1C4ADCD21B71E3BBBE"


async def test_list_orders_by_mobile_pages_newest_first(orders: httpx.AsyncClient) -> None:
    mine = sorted((o for o in seed_orders() if o.person.mobile == ZHANG.mobile),
                  key=lambda o: o.created_at, reverse=True)
    seen: list[str] = []
    for page_no in (1, 2, 3):
        r = await call(orders, "GET", "/api/v1/orders",
                       {"buyerMobile": ZHANG.mobile, "pageNo": page_no, "pageSize": 2})
        assert r.status_code == 200
        body = r.json()
        assert (body["code"], body["msg"]) == ("0", "success")
        assert body["data"]["total"] == len(mine) == 4
        assert body["data"]["pageNo"] == page_no
        seen += [o["orderNo"] for o in body["data"]["list"]]
        assert all(o["buyerId"] == ZHANG.buyer_id for o in body["data"]["list"])
    assert seen == [o.order_no for o in mine]  # every order once, newest first, then empty


async def test_list_orders_refuses_bad_paging_with_a_business_code(
    orders: httpx.AsyncClient,
) -> None:
    r = await call(orders, "GET", "/api/v1/orders", {"buyerMobile": ZHANG.mobile, "pageSize": 500})
    assert r.status_code == 200
    assert r.json()["code"] == "PARAM_ERROR"
    assert "pageSize" in r.json()["msg"]
    r = await call(orders, "GET", "/api/v1/orders", {"buyerMobile": "12345"})
    assert r.json()["code"] == "PARAM_ERROR"
    r = await call(orders, "GET", "/api/v1/orders", {"buyerMobile": ZHANG.mobile, "pageNo": "²"})
    assert (r.status_code, r.json()["code"]) == (200, "PARAM_ERROR")


async def test_get_order_has_items_that_add_up(orders: httpx.AsyncClient) -> None:
    order = first(30)
    r = await call(orders, "GET", f"/api/v1/orders/{order.order_no}")
    data = r.json()["data"]
    assert data["status"] == 30 and data["statusText"] == "已发货"
    assert data["logistics"]["waybillNo"] == order.waybill_no
    total = sum(Decimal(i["amount"]) for i in data["items"])
    assert total == Decimal(data["totalAmount"])
    assert Decimal(data["payAmount"]) == (
        total + Decimal(data["freightAmount"]) - Decimal(data["discountAmount"])
    )
    r = await call(orders, "GET", "/api/v1/orders/YQ20990101999999")
    assert (r.status_code, r.json()["code"]) == (200, "ORDER_NOT_FOUND")


async def test_refund_lifecycle_exists_cancel_and_again(orders: httpx.AsyncClient) -> None:
    order = next(o for o in seed_orders() if o.status == 20 and o.pay_amount < 5000)
    path = f"/api/v1/orders/{order.order_no}/refunds"
    r = await call(orders, "POST", path, body={"amount": "10.50", "reason": "拍错了"})
    refund = r.json()["data"]
    assert r.json()["code"] == "0"
    assert (refund["status"], refund["amount"], refund["statusText"]) == (
        "PENDING", "10.50", "待处理")

    again = await call(orders, "POST", path, body={"amount": "1", "reason": "再试一次"})
    assert again.json()["code"] == "REFUND_EXISTS"
    assert again.json()["data"] == {"refundId": refund["refundId"]}

    cancel = await call(orders, "POST", f"/api/v1/refunds/{refund['refundId']}/cancel")
    assert cancel.json()["data"]["status"] == "CANCELLED"
    twice = await call(orders, "POST", f"/api/v1/refunds/{refund['refundId']}/cancel")
    assert (twice.json()["code"], twice.json()["data"]["status"]) == ("0", "CANCELLED")

    new = await call(orders, "POST", path, body={"amount": 20, "reason": "重新申请"})
    assert new.json()["code"] == "0"
    assert new.json()["data"]["refundId"] != refund["refundId"]
    detail = await call(orders, "GET", f"/api/v1/orders/{order.order_no}")
    assert detail.json()["data"]["refund"]["refundId"] == new.json()["data"]["refundId"]


async def test_refund_over_5000_needs_review_and_creates_nothing(
    orders: httpx.AsyncClient,
) -> None:
    order = first(30, more_than=Decimal(5000))
    r = await call(orders, "POST", f"/api/v1/orders/{order.order_no}/refunds",
                   body={"amount": str(order.pay_amount), "reason": "不想要了"})
    assert (r.status_code, r.json()["code"]) == (200, "REFUND_NEEDS_REVIEW")
    assert "5000.00" in r.json()["msg"]
    detail = await call(orders, "GET", f"/api/v1/orders/{order.order_no}")
    assert detail.json()["data"]["refund"] is None
    # up to the threshold it goes through
    ok = await call(orders, "POST", f"/api/v1/orders/{order.order_no}/refunds",
                    body={"amount": "5000.00", "reason": "部分退款"})
    assert ok.json()["code"] == "0"


async def test_refund_rules(orders: httpx.AsyncClient) -> None:
    unpaid = first(10)
    r = await call(orders, "POST", f"/api/v1/orders/{unpaid.order_no}/refunds",
                   body={"amount": "1", "reason": "x"})
    assert r.json()["code"] == "ORDER_NOT_PAID"
    order = first(40)
    too_much = str(order.pay_amount + 1)
    r = await call(orders, "POST", f"/api/v1/orders/{order.order_no}/refunds",
                   body={"amount": too_much, "reason": "x"})
    assert r.json()["code"] == "REFUND_AMOUNT_INVALID"
    r = await call(orders, "POST", f"/api/v1/orders/{order.order_no}/refunds",
                   body={"amount": "1.001", "reason": "x"})
    assert r.json()["code"] == "PARAM_ERROR"
    r = await call(orders, "POST", f"/api/v1/orders/{order.order_no}/refunds", body={"amount": 1})
    assert r.json()["code"] == "PARAM_ERROR" and "reason" in r.json()["msg"]


async def test_refund_with_the_same_out_refund_no_is_the_same_refund(
    orders: httpx.AsyncClient,
) -> None:
    order = first(40)
    body = {"amount": "3.00", "reason": "少发配件", "outRefundNo": "RD-7f1c"}
    one = await call(orders, "POST", f"/api/v1/orders/{order.order_no}/refunds", body=body)
    two = await call(orders, "POST", f"/api/v1/orders/{order.order_no}/refunds", body=body)
    assert one.json()["code"] == two.json()["code"] == "0"
    assert one.json()["data"]["refundId"] == two.json()["data"]["refundId"]


async def test_a_paid_out_refund_cannot_be_cancelled(orders: httpx.AsyncClient) -> None:
    paid = next(r for r in seed_refunds() if r.status == "SUCCESS")
    r = await call(orders, "POST", f"/api/v1/refunds/{paid.refund_id}/cancel")
    assert r.json()["code"] == "REFUND_STATUS_INVALID"
    r = await call(orders, "POST", "/api/v1/refunds/RF00000000000000/cancel")
    assert r.json()["code"] == "REFUND_NOT_FOUND"


NEW_ADDRESS = {"receiverName": "张伟", "receiverMobile": "13600001111", "province": "浙江省",
               "city": "杭州市", "district": "西湖区", "address": "文三路90号东部软件园2号楼"}


async def test_change_address_before_shipment(orders: httpx.AsyncClient) -> None:
    order = first(20)
    r = await call(orders, "POST", f"/api/v1/orders/{order.order_no}/address", body=NEW_ADDRESS)
    data = r.json()["data"]
    assert r.json()["code"] == "0"
    assert data["receiver"]["address"] == NEW_ADDRESS["address"]
    assert data["previousReceiver"]["address"] == order.receiver.detail
    detail = await call(orders, "GET", f"/api/v1/orders/{order.order_no}")
    assert detail.json()["data"]["receiver"]["mobile"] == "13600001111"


async def test_change_address_after_shipment_is_refused_in_chinese(
    orders: httpx.AsyncClient,
) -> None:
    order = first(30)
    r = await call(orders, "POST", f"/api/v1/orders/{order.order_no}/address", body=NEW_ADDRESS)
    assert (r.status_code, r.json()["code"]) == (200, "ORDER_SHIPPED")
    assert r.json()["msg"] == "订单已发货，无法修改收货地址"
    detail = await call(orders, "GET", f"/api/v1/orders/{order.order_no}")
    assert detail.json()["data"]["receiver"]["address"] == order.receiver.detail


async def test_change_address_validates_the_mobile(orders: httpx.AsyncClient) -> None:
    order = first(20)
    bad = {**NEW_ADDRESS, "receiverMobile": "1234567890"}
    r = await call(orders, "POST", f"/api/v1/orders/{order.order_no}/address", body=bad)
    assert r.json()["code"] == "INVALID_MOBILE"
    r = await call(orders, "POST", f"/api/v1/orders/{order.order_no}/address",
                   body={"receiverName": "张伟"})
    assert r.json()["code"] == "PARAM_ERROR" and "receiverMobile" in r.json()["msg"]


async def test_signature_failures_are_401(orders: httpx.AsyncClient) -> None:
    path, params = "/api/v1/orders", {"buyerMobile": ZHANG.mobile}
    tampered = signed_url(path, params).replace(ZHANG.mobile, people()[1].mobile)
    r = await orders.get(tampered)
    assert (r.status_code, r.json()["code"]) == (401, "SIGN_INVALID")

    stale = int((time.time() - 301) * 1000)
    r = await orders.get(signed_url(path, params, timestamp_ms=stale))
    assert (r.status_code, r.json()["code"]) == (401, "TIMESTAMP_EXPIRED")

    r = await orders.get(signed_url(path, params, app_key="someone-else"))
    assert (r.status_code, r.json()["code"]) == (401, "APP_KEY_INVALID")

    r = await orders.get(path, params=params)
    assert (r.status_code, r.json()["code"]) == (401, "SIGN_MISSING")

    r = await orders.get(signed_url(path, params, secret="wrong-secret"))
    assert (r.status_code, r.json()["code"]) == (401, "SIGN_INVALID")

    url = signed_url(path, params, nonce="once-only")
    assert (await orders.get(url)).json()["code"] == "0"
    r = await orders.get(url)
    assert (r.status_code, r.json()["code"]) == (401, "NONCE_REPLAYED")


async def test_the_body_is_signed(orders: httpx.AsyncClient) -> None:
    order = first(20)
    signed_for = json.dumps({"amount": "1", "reason": "x"})
    url = signed_url(f"/api/v1/orders/{order.order_no}/refunds", None, signed_for)
    r = await orders.post(url, content=json.dumps({"amount": "99", "reason": "x"}))
    assert (r.status_code, r.json()["code"]) == (401, "SIGN_INVALID")


async def test_rate_limit_per_app_key_answers_429_with_retry_after() -> None:
    now = 1_795_162_920.25
    app = create_orders_app(OrdersConfig(rate_limit_per_second=3, clock=lambda: now))
    async with serving(app) as base, httpx.AsyncClient(base_url=base) as client:
        stamp = int(now * 1000)
        statuses = []
        for _ in range(5):
            r = await client.get(signed_url("/api/v1/orders", {"buyerMobile": ZHANG.mobile},
                                            timestamp_ms=stamp))
            statuses.append(r.status_code)
        assert statuses == [200, 200, 200, 429, 429]
        assert r.headers["Retry-After"] == "1"
        assert r.json()["code"] == "RATE_LIMITED"


async def test_relaydesk_signing_client_is_accepted(orders: httpx.AsyncClient) -> None:
    """Interop: the connector engine's signer (written by someone else) against this server."""
    auth = pytest.importorskip("relaydesk.integrations.auth")

    class Spec:
        type = "signing"
        app_key = "relaydesk-demo"
        secret = ORDERS_SECRET
        algorithm = "md5"
        canonical = "{secret}{sorted_params}{body}{secret}"

    signer = auth.SigningAuth(Spec())
    body = json.dumps({"amount": "2.00", "reason": "商品少发，部分退款"}, ensure_ascii=False)
    for request in (
        orders.build_request("GET", "/api/v1/orders",
                             params={"buyerMobile": ZHANG.mobile, "pageSize": 5}),
        orders.build_request("POST", f"/api/v1/orders/{first(40).order_no}/refunds",
                             content=body.encode(), headers={"Content-Type": "application/json"}),
    ):
        response = await orders.send(await signer.apply(request))
        assert response.status_code == 200, response.text
        assert response.json()["code"] == "0", response.text
