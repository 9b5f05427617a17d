"""Seeded orders and shipments of the 40 demo people (fixed random seeds).

Everything is derived from one timeline ending at :data:`~.dataset.ANCHOR`: an order is
created, paid a few minutes later (or closed unpaid after 30 minutes), shipped within a day or
two, and its tracking events run until the parcel is signed for; an order whose parcel has
been signed for is finished (status 40), one still on its way is shipped (30). Double 11
(2026-11-11) is busy, with 满300减50 discounts.

The functions return fresh objects on every call: each demo app mutates its own copy.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from decimal import Decimal

from relaydesk.demo_systems.dataset import ANCHOR, Person, people

__all__ = [
    "CARRIERS",
    "Order",
    "OrderItem",
    "Receiver",
    "Shipment",
    "TrackEvent",
    "seed_orders",
    "seed_shipments",
]

CENT = Decimal("0.01")
#: waybill prefix -> carrier
CARRIERS = {"SF": "顺丰速运", "YT": "圆通速递", "JDVA": "京东物流"}
_PRODUCTS = (
    ("SKU10021", "云栖 智能保温杯 500ml 雾霾蓝", "129.00"),
    ("SKU10045", "无线降噪耳机 Pro 2", "899.00"),
    ("SKU10078", "纯棉四件套 1.8m床 灰白格", "359.00"),
    ("SKU10102", "空气炸锅 5.5L 可视款", "499.00"),
    ("SKU10133", "轻薄笔记本电脑 14英寸 i7 32G 1TB", "6999.00"),
    ("SKU10156", "智能手机 12+256G 曜石黑", "5499.00"),
    ("SKU10170", "扫地机器人 X20 自动集尘", "2899.00"),
    ("SKU10188", "男款羽绒服 90白鸭绒 L码", "799.00"),
    ("SKU10201", "天然乳胶枕 一对装", "268.00"),
    ("SKU10223", "五常稻花香大米 5kg", "89.90"),
    ("SKU10245", "护肤套装 水乳霜三件套", "458.00"),
    ("SKU10267", "儿童绘本 全20册", "168.00"),
    ("SKU10289", "声波电动牙刷 两支装", "299.00"),
    ("SKU10301", "缓震跑步鞋 42码", "569.00"),
    ("SKU10324", "云南小粒咖啡豆 1kg", "128.00"),
    ("SKU10346", "27英寸 4K 显示器", "2199.00"),
    ("SKU10368", "嵌入式洗碗机 13套", "4299.00"),
    ("SKU10390", "每日坚果礼盒 1.5kg", "139.00"),
)
_WAREHOUSES = (
    ("杭州", "浙江省杭州市余杭区"),
    ("广州", "广东省广州市白云区"),
    ("成都", "四川省成都市双流区"),
)
_COURIERS = ("李师傅", "王师傅", "刘师傅", "陈师傅", "张师傅")
DOUBLE_11 = dt.datetime(2026, 11, 11)


@dataclass
class OrderItem:
    sku_id: str
    name: str
    price: Decimal
    quantity: int

    @property
    def amount(self) -> Decimal:
        return self.price * self.quantity


@dataclass
class Receiver:
    name: str
    mobile: str
    province: str
    city: str
    district: str
    detail: str


@dataclass
class Order:
    order_no: str
    person: Person
    status: int  # 10 待付款, 20 待发货, 30 已发货, 40 已完成, 50 已关闭
    created_at: dt.datetime
    items: list[OrderItem]
    receiver: Receiver
    shop: str
    discount: Decimal = Decimal("0.00")
    paid_at: dt.datetime | None = None
    shipped_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    closed_at: dt.datetime | None = None
    waybill_no: str | None = None
    remark: str = ""

    @property
    def total_amount(self) -> Decimal:
        return sum((i.amount for i in self.items), Decimal("0.00"))

    @property
    def freight(self) -> Decimal:
        return Decimal("0.00") if self.total_amount >= 99 else Decimal("8.00")

    @property
    def pay_amount(self) -> Decimal:
        return self.total_amount + self.freight - self.discount


@dataclass(frozen=True)
class TrackEvent:
    time: dt.datetime
    location: str
    desc: str
    status: str  # the shipment's status once this event happened


@dataclass
class Shipment:
    waybill_no: str
    carrier: str
    order_no: str
    receiver_city: str
    events: list[TrackEvent] = field(default_factory=list)  # oldest first

    @property
    def status(self) -> str:
        return self.events[-1].status if self.events else "WAIT_PICKUP"


def _created_at(rng: random.Random) -> dt.datetime:
    roll = rng.random()
    if roll < 0.3:
        seconds = rng.randrange(30 * 60, 3 * 86_400)
    elif roll < 0.55:
        return DOUBLE_11 + dt.timedelta(seconds=rng.randrange(86_400))
    else:
        seconds = rng.randrange(3 * 86_400, 80 * 86_400)
    return ANCHOR - dt.timedelta(seconds=seconds)


def _items(rng: random.Random) -> list[OrderItem]:
    picked = rng.sample(_PRODUCTS, rng.choice((1, 1, 1, 2, 2, 3)))
    return [
        OrderItem(sku, name, Decimal(price), 1 if Decimal(price) > 1000 else rng.choice((1, 1, 2)))
        for sku, name, price in picked
    ]


def _track(
    rng: random.Random, order: Order, carrier: str, shipped: dt.datetime
) -> list[TrackEvent]:
    origin, origin_area = rng.choice(_WAREHOUSES)
    dest = order.receiver.city.removesuffix("市")
    station = f"{order.receiver.district}营业部"
    courier = rng.choice(_COURIERS)
    courier_mobile = f"1{rng.choice('3578')}{rng.randrange(10**9):09d}"
    hop = dt.timedelta(hours=rng.randrange(18, 40))
    last = (
        ("EXCEPTION", "收件人电话无人接听，快件滞留营业部，等待再次派送")
        if rng.random() < 0.08
        else (
            "SIGNED",
            rng.choice(
                (
                    "快件已签收，签收人：本人",
                    "快件已放入智能快递柜，取件码已发送",
                    "快件已签收，签收人：前台代收",
                )
            ),
        )
    )
    plan = (
        (dt.timedelta(0), origin_area, f"{carrier} 已收取快件", "ACCEPTED"),
        (
            dt.timedelta(hours=3),
            f"{origin}转运中心",
            f"快件已发出，下一站【{dest}转运中心】",
            "IN_TRANSIT",
        ),
        (hop, f"{dest}转运中心", f"快件到达【{dest}转运中心】", "IN_TRANSIT"),
        (
            hop + dt.timedelta(hours=4),
            f"{dest}转运中心",
            f"快件已发出，下一站【{station}】",
            "IN_TRANSIT",
        ),
        (
            hop + dt.timedelta(hours=9),
            station,
            f"快件交给{courier}，正在派送途中（联系电话：{courier_mobile}）",
            "DELIVERING",
        ),
        (hop + dt.timedelta(hours=11, minutes=rng.randrange(60)), station, last[1], last[0]),
    )
    return [
        TrackEvent(shipped + offset + dt.timedelta(minutes=rng.randrange(20)), loc, desc, status)
        for offset, loc, desc, status in plan
    ]


def _waybill(rng: random.Random) -> str:
    prefix = rng.choice(("SF", "SF", "YT", "JDVA"))
    digits = 11 if prefix == "JDVA" else 13
    return f"{prefix}{rng.randrange(10**digits):0{digits}d}"


def _timeline(rng: random.Random, order: Order) -> list[TrackEvent]:
    """Pay, ship and deliver ``order`` as far as ANCHOR allows; return its tracking events."""
    age = ANCHOR - order.created_at
    if age < dt.timedelta(minutes=30) or rng.random() < 0.06:
        if age < dt.timedelta(minutes=30):
            order.status = 10
        else:
            order.status, order.closed_at = 50, order.created_at + dt.timedelta(minutes=30)
        return []
    order.paid_at = order.created_at + dt.timedelta(
        minutes=rng.randrange(1, 15), seconds=rng.randrange(60)
    )
    shipped = order.paid_at + dt.timedelta(hours=rng.randrange(2, 30), minutes=rng.randrange(60))
    if shipped > ANCHOR - dt.timedelta(minutes=30) or (
        age < dt.timedelta(hours=48) and rng.random() < 0.3
    ):
        order.status = 20
        return []
    order.shipped_at, order.waybill_no = shipped, _waybill(rng)
    carrier = next(name for prefix, name in CARRIERS.items() if order.waybill_no.startswith(prefix))
    events = [e for e in _track(rng, order, carrier, shipped) if e.time <= ANCHOR]
    if events[-1].status == "SIGNED" and rng.random() < 0.9:
        order.status = 40
        order.finished_at = min(ANCHOR, events[-1].time + dt.timedelta(hours=rng.randrange(1, 72)))
    else:
        order.status = 30
    return events


def _generate() -> tuple[list[Order], dict[str, list[TrackEvent]]]:
    rng = random.Random(20_261_111)  # noqa: S311 -- demo data
    orders: list[Order] = []
    for person in people():
        for _ in range(rng.choice((1, 2, 2, 3, 3, 4))):
            created = _created_at(rng)
            receiver = Receiver(
                person.name,
                person.mobile,
                person.province,
                person.city,
                person.district,
                person.detail,
            )
            order = Order(
                "",
                person,
                0,
                created,
                _items(rng),
                receiver,
                shop=person.source if rng.random() < 0.7 else "官网商城",
            )
            if created.date() == DOUBLE_11.date():
                order.discount = Decimal(min(500, 50 * int(order.total_amount // 300)))
            elif rng.random() < 0.25:
                order.discount = Decimal(rng.choice((5, 10, 20)))
            order.remark = rng.choice(("", "", "", "请尽快发货", "周末送货", "不要放快递柜"))
            orders.append(order)
    # two orders placed in the last half hour, not paid yet (unpaid ones close after 30 min)
    for person in rng.sample(people(), 2):
        created = ANCHOR - dt.timedelta(seconds=rng.randrange(120, 1_500))
        receiver = Receiver(
            person.name, person.mobile, person.province, person.city, person.district, person.detail
        )
        orders.append(Order("", person, 0, created, _items(rng), receiver, shop=person.source))
    orders.sort(key=lambda o: o.created_at)
    tracks: dict[str, list[TrackEvent]] = {}
    seq = 100
    for order in orders:
        seq += rng.randrange(1, 40)
        order.order_no = f"YQ{order.created_at:%Y%m%d}{seq:06d}"
        events = _timeline(rng, order)
        if order.waybill_no:
            tracks[order.waybill_no] = events
    return orders, tracks


def seed_orders() -> list[Order]:
    """Every order, oldest first (about 100)."""
    return _generate()[0]


def seed_shipments() -> dict[str, Shipment]:
    """waybill number -> shipment, for every order that has been shipped."""
    orders, tracks = _generate()
    return {
        o.waybill_no: Shipment(
            o.waybill_no,
            next(n for p, n in CARRIERS.items() if o.waybill_no.startswith(p)),
            o.order_no,
            o.receiver.city,
            tracks[o.waybill_no],
        )
        for o in orders
        if o.waybill_no
    }
