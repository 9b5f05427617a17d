"""The order system's data (its own copy of the seed) and its JSON shapes."""

from __future__ import annotations

from typing import Any

from relaydesk.demo_systems._web import money, now_local
from relaydesk.demo_systems.dataset import fmt_time
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


class OrdersState:
    """This app instance's own copy of the seeded orders and refunds."""

    def __init__(self) -> None:
        self.orders = {o.order_no: o for o in seed_orders()}
        self.refunds = {r.refund_id: r for r in seed_refunds()}
        self._refund_seq = len(self.refunds)

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
