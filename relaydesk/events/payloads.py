"""The built-in event payloads: customers, orders, tickets and connector failures.

Events from existing systems (``order.*``, ``ticket.*``) arrive through connector callbacks
whose spec mapping produces these fields; their models allow extra fields, which a
connector's mapping may add and which are passed on unchanged. Other domains register their
own events in their ``events`` module (listed in :data:`EVENT_MODULES`).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from relaydesk.events.catalogue import EventSpec, register_event


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _External(BaseModel):
    """A payload mapped from an existing system: known fields typed, extra fields kept."""

    model_config = ConfigDict(extra="allow")


# --- customers -------------------------------------------------------------------------------


class CustomerChanged(_Payload):
    customer_id: str
    name: str
    phone: str | None = None
    email: str | None = None
    tags: list[str] = Field(default_factory=list)
    #: the fields this change set (all of them on creation)
    changed: list[str] = Field(default_factory=list)


_CUSTOMER_PII = ("name", "phone", "email")

register_event(EventSpec(
    "customer.created", CustomerChanged, "A customer profile was created in Relaydesk.",
    key="customer_id", pii=_CUSTOMER_PII, source="customers",
))  # fmt: skip
register_event(EventSpec(
    "customer.updated", CustomerChanged, "A customer profile was changed in Relaydesk.",
    key="customer_id", pii=_CUSTOMER_PII, source="customers",
))  # fmt: skip


# --- orders (from the order system's callbacks) -------------------------------------------------


class OrderEvent(_External):
    order_no: str
    status: str | None = None
    customer_id: str | None = None
    customer_phone: str | None = None
    total: Decimal | None = None
    currency: str | None = None
    paid_at: dt.datetime | None = None
    shipped_at: dt.datetime | None = None
    carrier: str | None = None
    tracking_no: str | None = None
    receiver_name: str | None = None
    receiver_phone: str | None = None
    receiver_address: str | None = None


_ORDER_PII = ("customer_phone", "receiver_name", "receiver_phone", "receiver_address")

_ORDER_EXAMPLE: dict[str, Any] = {
    "order_no": "YQ20261118001420", "status": "shipped", "customer_id": "880000000",
    "customer_phone": "13937704964", "total": "134.00", "currency": "CNY",
    "paid_at": "2026-11-18T22:55:01+08:00", "shipped_at": "2026-11-21T21:25:29+08:00",
    "carrier": "圆通速递", "tracking_no": "YT4227360891629", "receiver_name": "张伟",
    "receiver_phone": "13937704964",
    "receiver_address": "四川省成都市武侯区天府大道北段210号3栋4单元423室",
}  # fmt: skip
_ORDER_EXAMPLES: dict[str, dict[str, Any]] = {
    "order.paid": {**_ORDER_EXAMPLE, "status": "awaiting_shipment", "shipped_at": None,
                   "carrier": None, "tracking_no": None},
    "order.shipped": _ORDER_EXAMPLE,
    "order.delivered": {**_ORDER_EXAMPLE, "status": "completed",
                        "delivered_at": "2026-11-23T14:05:10+08:00"},
    "order.cancelled": {**_ORDER_EXAMPLE, "status": "closed", "paid_at": None,
                        "shipped_at": None, "carrier": None, "tracking_no": None,
                        "closed_at": "2026-11-20T12:30:00+08:00"},
    "order.refunded": {**_ORDER_EXAMPLE, "refund_id": "RF20261120000005",
                       "refund_amount": "134.00", "refund_status": "refunded"},
}  # fmt: skip

for _name, _text in {
    "order.paid": "An order was paid (order system callback).",
    "order.shipped": "An order left the warehouse with a carrier and tracking number.",
    "order.delivered": "An order was delivered to the receiver.",
    "order.cancelled": "An order was cancelled.",
    "order.refunded": "An order's refund was completed.",
}.items():
    register_event(EventSpec(_name, OrderEvent, _text, key="order_no", pii=_ORDER_PII,
                             source="connector", examples=(_ORDER_EXAMPLES[_name],)))  # fmt: skip


# --- tickets (from the ticket system's callbacks) -----------------------------------------------


class TicketStatusChanged(_External):
    ticket_no: str
    status: str
    previous_status: str | None = None
    version: int | None = None
    updated_at: dt.datetime | None = None
    operator: str | None = None
    remark: str | None = None
    customer_phone: str | None = None
    order_no: str | None = None


register_event(EventSpec(
    "ticket.status_changed", TicketStatusChanged,
    "A ticket in the ticket system changed status (ticket system callback).",
    key="ticket_no", pii=("customer_phone",), source="connector",
    examples=({"ticket_no": "GD202611210015", "status": "open", "previous_status": "new",
               "version": 2, "updated_at": "2026-11-21T19:29:38+08:00", "operator": "客服-小周",
               "remark": "", "customer_phone": "13937704964", "order_no": "YQ20261118001420"},),
))  # fmt: skip


# --- the integration hub ------------------------------------------------------------------------


class ConnectorActionFailed(_Payload):
    instance: str
    connector: str
    action: str
    effect: str
    error_class: str
    error_code: str | None = None
    message: str
    http_status: int | None = None
    actor_type: str
    actor_id: str | None = None


register_event(EventSpec(
    "connector.action_failed", ConnectorActionFailed,
    "A connector action failed after its retries (classified error, no parameters).",
    key="instance", source="integrations",
))  # fmt: skip
