"""Seeded refunds and invoices (数电票) of the demo orders (fixed random seeds).

Three refunds have been paid out, one was rejected and one is pending; most finished orders
have an invoice, red-flushed (已红冲) when the order was refunded. Buyers with a company
sometimes take the invoice in the company's name, with its unified social credit code.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from decimal import Decimal

from relaydesk.demo_systems.dataset import ANCHOR, uscc
from relaydesk.demo_systems.seed_commerce import CENT, seed_orders

__all__ = ["TAX_RATE", "Invoice", "Refund", "company_tax_no", "seed_invoices", "seed_refunds"]

TAX_RATE = Decimal("0.13")
_COMPANY_AREAS = {
    "杭州云栈科技有限公司": "330106",
    "深圳市海岸线贸易有限公司": "440305",
    "成都锦程餐饮管理有限公司": "510107",
    "上海鼎远物流有限公司": "310115",
    "北京知行教育咨询有限公司": "110108",
}


@dataclass
class Refund:
    refund_id: str
    order_no: str
    amount: Decimal
    reason: str
    status: str  # PENDING | SUCCESS | REJECTED | CANCELLED
    created_at: dt.datetime
    updated_at: dt.datetime
    out_refund_no: str | None = None


@dataclass
class Invoice:
    invoice_no: str
    invoice_type: str
    issue_date: dt.date
    order_no: str
    customer_mobile: str
    buyer_name: str
    buyer_tax_no: str  # empty for an individual
    total_amount: Decimal
    status: str  # ISSUED | RED_FLUSHED | VOID

    @property
    def amount(self) -> Decimal:
        return (self.total_amount / (1 + TAX_RATE)).quantize(CENT)

    @property
    def tax_amount(self) -> Decimal:
        return self.total_amount - self.amount


def seed_refunds() -> list[Refund]:
    """A few refunds that already exist: three paid out, one rejected, one pending."""
    rng = random.Random(20_261_112)  # noqa: S311 -- demo data
    orders = seed_orders()
    finished = [o for o in orders if o.status == 40 and o.pay_amount < 5000]
    shipped = [o for o in orders if o.status == 30 and o.pay_amount < 5000]
    plan = [(o, "SUCCESS", "商品与描述不符，部分退款") for o in rng.sample(finished, 3)]
    plan.append(
        (rng.choice([o for o in finished if o not in [p[0] for p in plan]]), "REJECTED", "不想要了")
    )
    plan.append((rng.choice(shipped), "PENDING", "物流太慢，不想要了"))
    out = []
    for seq, (order, status, reason) in enumerate(sorted(plan, key=lambda p: p[0].created_at), 1):
        created = (order.shipped_at or order.created_at) + dt.timedelta(hours=rng.randrange(20, 48))
        created = min(created, ANCHOR - dt.timedelta(minutes=10))
        amount = (
            order.pay_amount
            if status != "SUCCESS"
            else (order.pay_amount * Decimal("0.3")).quantize(CENT)
        )
        out.append(
            Refund(
                f"RF{created:%Y%m%d}{seq:06d}",
                order.order_no,
                amount,
                reason,
                status,
                created,
                created + dt.timedelta(hours=2) if status != "PENDING" else created,
            )
        )
    return out


def company_tax_no(company: str) -> str:
    return uscc(_COMPANY_AREAS[company], sorted(_COMPANY_AREAS).index(company) + 100)


def seed_invoices() -> list[Invoice]:
    """Invoices (数电票) of most finished orders; refunded ones are red-flushed (已红冲)."""
    rng = random.Random(20_261_113)  # noqa: S311 -- demo data
    refunded = {r.order_no for r in seed_refunds() if r.status == "SUCCESS"}
    out: list[Invoice] = []
    for order in seed_orders():
        if order.status != 40 or order.finished_at is None or rng.random() > 0.7:
            continue
        person = order.person
        as_company = person.company is not None and rng.random() < 0.6
        special = as_company and rng.random() < 0.5
        status = (
            "RED_FLUSHED"
            if order.order_no in refunded
            else ("VOID" if rng.random() < 0.04 else "ISSUED")
        )
        issued = order.finished_at.date() + dt.timedelta(days=rng.randrange(0, 2))
        out.append(
            Invoice(
                invoice_no=f"{issued:%y}332{len(out) + 1:015d}",
                invoice_type="数电票（增值税专用发票）" if special else "数电票（普通发票）",
                issue_date=min(issued, ANCHOR.date()),
                order_no=order.order_no,
                customer_mobile=person.mobile,
                buyer_name=person.company if as_company and person.company else person.name,
                buyer_tax_no=company_tax_no(person.company)
                if as_company and person.company
                else "",
                total_amount=order.pay_amount,
                status=status,
            )
        )
    return out
