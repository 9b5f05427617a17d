"""The order system's admin endpoints: what its operators (or a test, or someone trying the
demo) do — point the push messages somewhere, pay, ship, finish or close an order, complete a
refund (each pushes a signed message, :mod:`.orders_callbacks`), resend the last message,
read the push log.

Authenticated with ``X-Admin-Token`` (the demo's published :data:`ORDERS_ADMIN_TOKEN`), not with
the open API's appKey signature, so that a person can use them with curl::

    curl -X POST -H 'X-Admin-Token: yq-orders-admin-token-4d8a' \\
         http://127.0.0.1:8101/admin/orders/YQ20261118001420/ship
"""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import Depends, FastAPI, Request

from relaydesk.demo_systems._web import BodyError, read_fields
from relaydesk.demo_systems.orders_auth import AuthError
from relaydesk.demo_systems.orders_callbacks import PushDelivery
from relaydesk.demo_systems.orders_state import BizError, OrdersState, order_json

__all__ = ["ORDERS_ADMIN_TOKEN", "add_admin_routes"]

ORDERS_ADMIN_TOKEN = "yq-orders-admin-token-4d8a"  # noqa: S105 -- published demo credential


def _ok(data: Any) -> dict[str, Any]:
    return {"code": "0", "msg": "success", "data": data}


async def _fields(request: Request) -> dict[str, Any]:
    try:
        return await read_fields(request)
    except BodyError as exc:
        raise BizError("PARAM_ERROR", f"请求体无法解析 ({exc})") from None


def _text(data: dict[str, Any], name: str) -> str | None:
    value = data.get(name)
    return None if value in (None, "") else str(value).strip()


def add_admin_routes(app: FastAPI, state: OrdersState, token: str = ORDERS_ADMIN_TOKEN) -> None:
    sender = state.sender
    assert sender is not None

    async def admin(request: Request) -> None:
        if not hmac.compare_digest(request.headers.get("x-admin-token", ""), token):
            raise AuthError("ADMIN_TOKEN_INVALID", "X-Admin-Token 缺失或无效")

    auth = [Depends(admin)]

    def changed(delivery: PushDelivery) -> dict[str, Any]:
        return _ok({"order": delivery.message["data"], "message": delivery.message})

    @app.put("/admin/callback", dependencies=auth)
    async def set_callback(request: Request) -> dict[str, Any]:
        url = _text(await _fields(request), "url")
        if url is not None and (not url.startswith(("http://", "https://")) or len(url) > 500):
            raise BizError("PARAM_ERROR", "url 必须以 http:// 或 https:// 开头，最多 500 字符")
        sender.url = url
        return _ok({"url": url})

    @app.post("/admin/orders/{order_no}/pay", dependencies=auth)
    async def pay(order_no: str) -> dict[str, Any]:
        return changed(state.advance(state.order(order_no), 20))

    @app.post("/admin/orders/{order_no}/ship", dependencies=auth)
    async def ship(order_no: str, request: Request) -> dict[str, Any]:
        data = await _fields(request)
        order = state.order(order_no)
        carrier = _text(data, "carrier") or "SF"
        return changed(state.advance(order, 30, carrier=carrier,
                                     waybill_no=_text(data, "waybillNo")))  # fmt: skip

    @app.post("/admin/orders/{order_no}/deliver", dependencies=auth)
    async def deliver(order_no: str) -> dict[str, Any]:
        return changed(state.advance(state.order(order_no), 40))

    @app.post("/admin/orders/{order_no}/close", dependencies=auth)
    async def close(order_no: str) -> dict[str, Any]:
        return changed(state.advance(state.order(order_no), 50))

    @app.post("/admin/refunds/{refund_id}/complete", dependencies=auth)
    async def complete_refund(refund_id: str) -> dict[str, Any]:
        refund = state.refunds.get(refund_id)
        if refund is None:
            raise BizError("REFUND_NOT_FOUND", f"退款单不存在: {refund_id}")
        return changed(state.complete_refund(refund))

    @app.post("/admin/orders/{order_no}/resend-last", dependencies=auth)
    async def resend_last(order_no: str) -> dict[str, Any]:
        state.order(order_no)
        last = sender.last_by_order.get(order_no)
        if last is None:
            raise BizError("MSG_NOT_FOUND", "该订单还没有推送过消息")
        sender.enqueue(PushDelivery(last.message, last.body, replay=True))
        return _ok({"message": last.message})

    @app.get("/admin/orders/{order_no}", dependencies=auth)
    async def get_order(order_no: str) -> dict[str, Any]:
        order = state.order(order_no)
        return _ok({**order_json(order, state, items=False),
                    "version": state.versions.get(order_no, 1)})  # fmt: skip

    @app.get("/admin/deliveries", dependencies=auth)
    async def deliveries(orderNo: str = "") -> dict[str, Any]:
        return _ok([d.summary() for d in sender.deliveries
                    if not orderNo or d.order_no == orderNo])  # fmt: skip
