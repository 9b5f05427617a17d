"""Canonical shapes: what an action's mapped output looks like when it declares ``output:``.

They give agents, automations and AI tools one vocabulary whatever the source system: an
``order`` from the order system has ``order_no``, ``status``, ``total`` and ``items``
whatever the system calls them. Values are as the mapping writes them: decimals as strings
of digits, date-times as ISO 8601 with an offset. Only the key of each shape is required;
other fields may be null or absent, and extra fields (system-specific) are allowed.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, get_args

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from relaydesk.integrations.mapping import MappingError
from relaydesk.integrations.spec_models.action import OutputShape

__all__ = [
    "SHAPES",
    "Customer",
    "Invoice",
    "Member",
    "Order",
    "OrderItem",
    "PointsTransaction",
    "Shipment",
    "Ticket",
    "TrackingEvent",
    "validate_shape",
]

Money = Decimal


class Shape(BaseModel):
    model_config = ConfigDict(extra="allow")


class Customer(Shape):
    """A person or company as another system knows them (CRM contact, shop account)."""

    id: str = Field(description="The id in the source system")
    name: str | None = None
    phone: str | None = None
    email: str | None = None
    tier: str | None = None
    tags: list[str] = Field(default_factory=list)
    address: str | None = None
    created_at: AwareDatetime | None = None


class OrderItem(Shape):
    sku: str | None = None
    name: str | None = None
    qty: int | None = None
    price: Money | None = None
    amount: Money | None = None


class Order(Shape):
    order_no: str
    status: str | None = None
    customer_id: str | None = None
    total: Money | None = None
    currency: str | None = None
    created_at: AwareDatetime | None = None
    paid_at: AwareDatetime | None = None
    shipped_at: AwareDatetime | None = None
    receiver_name: str | None = None
    receiver_phone: str | None = None
    receiver_address: str | None = None
    items: list[OrderItem] = Field(default_factory=list)


class TrackingEvent(Shape):
    time: AwareDatetime
    status: str | None = None
    description: str | None = None
    location: str | None = None


class Shipment(Shape):
    tracking_no: str
    carrier: str | None = None
    status: str | None = None
    order_no: str | None = None
    shipped_at: AwareDatetime | None = None
    delivered_at: AwareDatetime | None = None
    events: list[TrackingEvent] = Field(default_factory=list)


class Member(Shape):
    member_id: str
    name: str | None = None
    phone: str | None = None
    tier: str | None = None
    points: int | None = None
    joined_at: AwareDatetime | None = None


class PointsTransaction(Shape):
    member_id: str
    delta: int
    id: str | None = None
    balance: int | None = None
    reason: str | None = None
    created_at: AwareDatetime | None = None


class Ticket(Shape):
    ticket_no: str
    subject: str | None = None
    status: str | None = None
    priority: str | None = None
    customer_id: str | None = None
    assignee: str | None = None
    created_at: AwareDatetime | None = None
    updated_at: AwareDatetime | None = None


class Invoice(Shape):
    invoice_no: str
    order_no: str | None = None
    customer_id: str | None = None
    title: str | None = None
    amount: Money | None = None
    tax: Money | None = None
    currency: str | None = None
    status: str | None = None
    issued_at: AwareDatetime | None = None


SHAPES: dict[str, type[Shape]] = {
    "customer": Customer,
    "order": Order,
    "order_item": OrderItem,
    "shipment": Shipment,
    "tracking_event": TrackingEvent,
    "member": Member,
    "points_transaction": PointsTransaction,
    "ticket": Ticket,
    "invoice": Invoice,
}
assert set(SHAPES) == set(get_args(OutputShape)), "canonical shapes and OutputShape disagree"


def _path(prefix: str, loc: tuple[str | int, ...]) -> str:
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def _check(model: type[Shape], value: Any, prefix: str) -> list[MappingError]:
    try:
        model.model_validate(value)
    except ValidationError as exc:
        errors = []
        for err in exc.errors():
            message = err["msg"]
            if err["type"] == "missing":
                message = "required by the canonical shape, but missing"
            errors.append(MappingError(_path(prefix, tuple(err["loc"])), message))
        return errors
    return []


def validate_shape(name: str, value: Any, *, many: bool = False) -> list[MappingError]:
    """Every way ``value`` (a record, or with ``many`` a list of them) misses shape ``name``.

    Errors are located like mapping errors (``[2].items[0].price``); null means no record
    and is fine. Raises ``KeyError`` for an unknown shape name.
    """
    model = SHAPES[name]
    if value is None:
        return []
    if many:
        if not isinstance(value, list):
            return [MappingError("", f"expected a list of {name} records")]
        return [error for i, item in enumerate(value) for error in _check(model, item, f"[{i}]")]
    return _check(model, value, "")
