"""Seeded CRM records, membership points and legacy tickets of the 40 demo people.

Points are earned from the same orders the order system holds (1 point per yuan paid), so
the membership database agrees with the order system; every member's ``points`` equals the
sum of their ledger rows.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

from relaydesk.demo_systems.dataset import ANCHOR, Person, people
from relaydesk.demo_systems.seed_commerce import Order, seed_orders

__all__ = [
    "Contact",
    "LedgerRow",
    "Member",
    "Note",
    "Ticket",
    "TicketChange",
    "seed_contacts",
    "seed_members",
    "seed_tickets",
]

_OWNERS = ("赵婷 (客户经理)", "钱坤 (客户经理)", "孙悦 (大客户经理)", "周密 (客户经理)")
_NOTES = (
    "来电咨询物流进度，已告知预计送达时间，客户表示理解。",
    "客户反馈包装破损，已登记，建议拍照后申请售后。",
    "双11活动咨询：满300减50是否可与店铺券叠加，已解释规则。",
    "客户要求开具增值税专用发票，已提醒在订单完成后申请。",
    "回访：对上次退款处理满意，愿意继续购买。",
)
_CARRY_OVER = {
    "normal": (0, 800),
    "silver": (1_000, 4_000),
    "gold": (4_000, 12_000),
    "diamond": (12_000, 40_000),
}


@dataclass
class Note:
    note_id: str
    content: str
    author: str
    created_at: dt.datetime


@dataclass
class Contact:
    person: Person
    owner: str
    created_at: dt.datetime
    last_contact_at: dt.datetime
    tags: list[str] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)


@dataclass(frozen=True)
class LedgerRow:
    member_id: str
    delta: int
    reason: str
    created_at: dt.datetime


@dataclass(frozen=True)
class Member:
    member_id: str
    mobile: str
    name: str
    tier: str
    points: int
    updated_at: dt.datetime


@dataclass(frozen=True)
class TicketChange:
    version: int
    at: dt.datetime
    old_status: str | None
    new_status: str
    operator: str
    remark: str


@dataclass
class Ticket:
    ticket_no: str
    customer_mobile: str
    customer_name: str
    title: str
    content: str
    category: str
    priority: int  # 1 低 2 普通 3 高 4 紧急
    status: str  # NEW | PROCESSING | PENDING | RESOLVED | CLOSED
    created_at: dt.datetime
    order_no: str | None = None
    history: list[TicketChange] = field(default_factory=list)

    @property
    def version(self) -> int:
        return len(self.history)

    @property
    def updated_at(self) -> dt.datetime:
        return self.history[-1].at if self.history else self.created_at


def seed_contacts() -> list[Contact]:
    """One CRM contact per person, with a customer manager, tags and a few notes."""
    rng = random.Random(20_261_114)  # noqa: S311 -- demo data
    out = []
    for person in people():
        since = dt.datetime(2019, 1, 1) + dt.timedelta(minutes=rng.randrange(3_000_000))
        contact = Contact(person, rng.choice(_OWNERS), since, since, tags=list(person.tags))
        if person.tier in ("gold", "diamond"):
            contact.tags.append("高价值")
        if rng.random() < 0.3:
            contact.tags.append("双11活跃")
        for _ in range(rng.choice((0, 0, 1, 1, 2))):
            at = ANCHOR - dt.timedelta(minutes=rng.randrange(60, 60 * 24 * 60))
            contact.notes.append(Note("", rng.choice(_NOTES), rng.choice(_OWNERS), at))
        contact.notes.sort(key=lambda n: n.created_at)
        if contact.notes:
            contact.last_contact_at = contact.notes[-1].created_at
        out.append(contact)
    for seq, note in enumerate(
        sorted((n for c in out for n in c.notes), key=lambda n: n.created_at)
    ):
        note.note_id = f"N{50_001 + seq}"
    return out


def seed_members() -> tuple[list[Member], list[LedgerRow]]:
    """Every person is a member; ledger rows oldest first; points = sum of their deltas."""
    rng = random.Random(20_261_115)  # noqa: S311 -- demo data
    by_person: dict[int, list[Order]] = {}
    for order in seed_orders():
        if order.paid_at is not None:
            by_person.setdefault(order.person.index, []).append(order)
    members: list[Member] = []
    ledger: list[LedgerRow] = []
    for person in people():
        low, high = _CARRY_OVER[person.tier]
        rows = [
            LedgerRow(
                person.member_id,
                100,
                "新会员注册赠送",
                dt.datetime(2025, 1, 1) - dt.timedelta(days=rng.randrange(30, 900)),
            ),
            LedgerRow(
                person.member_id,
                rng.randrange(low, high + 1) // 10 * 10,
                "2025年度积分结转",
                dt.datetime(2026, 1, 1, 0, 5),
            ),
        ]
        birthday = person.birthday.replace(year=2026)
        if birthday <= ANCHOR.date():
            rows.append(
                LedgerRow(
                    person.member_id,
                    200,
                    "生日月双倍积分奖励",
                    dt.datetime.combine(birthday, dt.time(9, 0)),
                )
            )
        for order in by_person.get(person.index, []):
            assert order.paid_at is not None
            rows.append(
                LedgerRow(
                    person.member_id,
                    int(order.pay_amount),
                    f"订单{order.order_no}消费获得积分",
                    order.paid_at,
                )
            )
        rows.sort(key=lambda r: r.created_at)
        balance = sum(r.delta for r in rows)
        if balance >= 3_000 and rng.random() < 0.5:
            at = rows[-1].created_at + dt.timedelta(hours=rng.randrange(1, 48))
            rows.append(
                LedgerRow(person.member_id, -2_000, "积分兑换 20元无门槛优惠券", min(at, ANCHOR))
            )
            balance -= 2_000
        ledger += rows
        members.append(
            Member(
                person.member_id,
                person.mobile,
                person.name,
                person.tier,
                balance,
                max(r.created_at for r in rows),
            )
        )
    ledger.sort(key=lambda r: r.created_at)
    return members, ledger


_TICKET_PLANS = (
    ("物流查询", "快递几天没有更新了", "订单{order}的物流信息两天没有更新，请帮忙催一下。", 30),
    ("商品质量", "收到的商品有破损", "订单{order}收到时外包装破损，商品有划痕，要求换货。", 40),
    ("退款售后", "申请退款进度查询", "订单{order}申请退款后一直没有到账，请核实。", 40),
    ("发票问题", "发票抬头开错了", "订单{order}的发票抬头需要改为公司名称，请重开。", 40),
    ("修改地址", "需要修改收货地址", "订单{order}还没发货，收货地址需要改到公司。", 20),
)
# status path of a seeded ticket, by how far it got
_PATHS = (
    ("NEW",),
    ("NEW", "PROCESSING"),
    ("NEW", "PROCESSING", "PENDING"),
    ("NEW", "PROCESSING", "RESOLVED"),
    ("NEW", "PROCESSING", "RESOLVED", "CLOSED"),
)
_AGENTS = ("客服-小周", "客服-小林", "客服-阿杰", "售后主管-王敏")


def seed_tickets() -> list[Ticket]:
    """About a dozen tickets of the legacy ticket system, each with its status history."""
    rng = random.Random(20_261_116)  # noqa: S311 -- demo data
    orders = seed_orders()
    out: list[Ticket] = []
    for _ in range(14):
        category, title, content, status = rng.choice(_TICKET_PLANS)
        order = rng.choice([o for o in orders if o.status == status])
        created = max(order.created_at, (order.shipped_at or order.created_at)) + dt.timedelta(
            hours=rng.randrange(2, 30)
        )
        created = min(created, ANCHOR - dt.timedelta(hours=3))
        ticket = Ticket(
            "",
            order.person.mobile,
            order.person.name,
            title,
            content.format(order=order.order_no),
            category,
            rng.choice((2, 2, 3, 4)),
            "NEW",
            created,
            order.order_no,
        )
        path = rng.choice(_PATHS)
        at = created
        previous: str | None = None
        for version, status_name in enumerate(path, 1):
            ticket.history.append(
                TicketChange(
                    version,
                    at,
                    previous,
                    status_name,
                    "系统" if version == 1 else rng.choice(_AGENTS),
                    "",
                )
            )
            previous, ticket.status = status_name, status_name
            at = min(ANCHOR, at + dt.timedelta(minutes=rng.randrange(20, 600)))
        out.append(ticket)
    out.sort(key=lambda t: t.created_at)
    for seq, ticket in enumerate(out, 1):
        ticket.ticket_no = f"GD{ticket.created_at:%Y%m%d}{seq:04d}"
    return out
