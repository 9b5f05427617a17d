"""The order system's data (its own copy of the seed), its status changes and JSON shapes."""

from __future__ import annotations

import random
from typing import Any

from relaydesk.demo_systems._web import money, now_local
from relaydesk.demo_systems.dataset import fmt_time
from relaydesk.demo_systems.orders_callbacks import (
    MSG_TYPES,
    REFUND_SUCCESS,
    PushDelivery,
    PushSender,
)
from relaydesk.demo_systems.seed_commerce import CARRIERS, Order, Receiver, seed_orders
from relaydesk.demo_systems.seed_finance import Refund, seed_refunds

__all__ = [
    "REFUND_TEXT",
    "STATUS_TEXT",
    "BizError",
    "OrdersState",
    "order_json",
    "receiver_json",
    "refund_json",
]

STATUS_TEXT = {10: "待付款", 20: "待发货", 30: "已发货", 40: "已完成", 50: "已关闭"}
REFUND_TEXT = {
    "PENDING": "待处理",
    "SUCCESS": "退款成功",
    "REJECTED": "已拒绝",
    "CANCELLED": "已取消",
}


class BizError(Exception):
    def __init__(self, code: str, msg: str, data: Any = None) -> None:
        super().__init__(msg)
        self.code, self.msg, self.data = code, msg, data


#: (from, to) status -> what the change is called in error messages
TRANSITIONS = {(10, 20): "付款", (10, 50): "关闭", (20, 30): "发货", (30, 40): "签收"}
#: waybill prefix -> digits after it
_WAYBILL_DIGITS = {"SF": 13, "YT": 13, "JDVA": 11}


class OrdersState:
    """This app instance's own copy of the seeded orders and refunds, and its push sender."""

    def __init__(self, sender: PushSender | None = None) -> None:
        self.orders = {o.order_no: o for o in seed_orders()}
        self.refunds = {r.refund_id: r for r in seed_refunds()}
        self._refund_seq = len(self.refunds)
        self.sender = sender
        #: order number -> change counter (seeded orders are at 1); pushed as ``version``
        self.versions: dict[str, int] = {}
        self._random = random.Random()  # noqa: S311 - waybill numbers, not secrets

    def advance(
        self, order: Order, status: int, *, carrier: str = "SF", waybill_no: str | None = None
    ) -> PushDelivery:
        """Move ``order`` to ``status`` (paid 20, shipped 30, finished 40, closed 50) and push
        the change."""
        if (order.status, status) not in TRANSITIONS:
            action = next((a for (_, to), a in TRANSITIONS.items() if to == status), "变更")
            raise BizError("ORDER_STATUS_INVALID",
                           f"订单状态为{STATUS_TEXT[order.status]}，不能{action}")  # fmt: skip
        now = now_local()
        if status == 20:
            order.paid_at = now
        elif status == 30:
            order.waybill_no = self._waybill(carrier, waybill_no)
            order.shipped_at = now
        elif status == 40:
            order.finished_at = now
        else:
            order.closed_at = now
        order.status = status
        return self._push(MSG_TYPES[status], order)

    def complete_refund(self, refund: Refund) -> PushDelivery:
        """The finance team paid a PENDING refund back: SUCCESS, and push it."""
        if refund.status != "PENDING":
            raise BizError("REFUND_STATUS_INVALID",
                           f"退款单状态为{REFUND_TEXT[refund.status]}，不能完成退款")  # fmt: skip
        refund.status, refund.updated_at = "SUCCESS", now_local()
        return self._push(REFUND_SUCCESS, self.order(refund.order_no))

    def _push(self, msg_type: str, order: Order) -> PushDelivery:
        version = self.versions[order.order_no] = self.versions.get(order.order_no, 1) + 1
        if self.sender is None:
            raise RuntimeError("this order system has no push sender")
        delivery = self.sender.message(msg_type, version, order_json(order, self, items=False))
        self.sender.enqueue(delivery)
        return delivery

    def _waybill(self, carrier: str, waybill_no: str | None) -> str:
        if waybill_no is None:
            if carrier not in _WAYBILL_DIGITS:
                raise BizError("PARAM_ERROR", f"参数 carrier 可选: {', '.join(_WAYBILL_DIGITS)}")
            return carrier + "".join(self._random.choices("0123456789", k=_WAYBILL_DIGITS[carrier]))
        for prefix, digits in _WAYBILL_DIGITS.items():
            rest = waybill_no.removeprefix(prefix)
            if rest != waybill_no and len(rest) == digits and rest.isascii() and rest.isdigit():
                return waybill_no
        raise BizError("PARAM_ERROR", "参数 waybillNo 应为 SF/YT + 13 位数字或 JDVA + 11 位数字")

    def order(self, order_no: str) -> Order:
        found = self.orders.get(order_no)
        if found is None:
            raise BizError("ORDER_NOT_FOUND", f"订单不存在: {order_no}")
        return found

    def refunds_of(self, order_no: str) -> list[Refund]:
        return [r for r in self.refunds.values() if r.order_no == order_no]

    def next_refund_id(self) -> str:
        self._refund_seq += 1
        return f"RF{now_local():%Y%m%d}{self._refund_seq:06d}"


def receiver_json(r: Receiver) -> dict[str, str]:
    return {
        "name": r.name,
        "mobile": r.mobile,
        "province": r.province,
        "city": r.city,
        "district": r.district,
        "address": r.detail,
    }


def refund_json(r: Refund) -> dict[str, Any]:
    return {
        "refundId": r.refund_id,
        "orderNo": r.order_no,
        "amount": money(r.amount),
        "status": r.status,
        "statusText": REFUND_TEXT[r.status],
        "reason": r.reason,
        "outRefundNo": r.out_refund_no,
        "createTime": fmt_time(r.created_at),
        "updateTime": fmt_time(r.updated_at),
    }


def order_json(o: Order, state: OrdersState, *, items: bool) -> dict[str, Any]:
    refunds = sorted(state.refunds_of(o.order_no), key=lambda r: r.created_at)
    out: dict[str, Any] = {
        "orderNo": o.order_no,
        "buyerId": o.person.buyer_id,
        "buyerMobile": o.person.mobile,
        "status": o.status,
        "statusText": STATUS_TEXT[o.status],
        "shopName": o.shop,
        "createTime": fmt_time(o.created_at),
        "payTime": fmt_time(o.paid_at),
        "shipTime": fmt_time(o.shipped_at),
        "finishTime": fmt_time(o.finished_at),
        "closeTime": fmt_time(o.closed_at),
        "totalAmount": money(o.total_amount),
        "freightAmount": money(o.freight),
        "discountAmount": money(o.discount),
        "payAmount": money(o.pay_amount),
        "itemCount": sum(i.quantity for i in o.items),
        "receiver": receiver_json(o.receiver),
        "remark": o.remark,
        "logistics": None
        if o.waybill_no is None
        else {
            "company": next(n for p, n in CARRIERS.items() if o.waybill_no.startswith(p)),
            "waybillNo": o.waybill_no,
        },
        "refund": refund_json(refunds[-1]) if refunds else None,
    }
    if items:
        out["items"] = [
            {
                "skuId": i.sku_id,
                "skuName": i.name,
                "price": money(i.price),
                "quantity": i.quantity,
                "amount": money(i.amount),
            }
            for i in o.items
        ]
    return out
