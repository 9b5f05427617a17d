"""The shared dataset: valid, consistent across systems, deterministic, and as documented.

The checksums are recomputed here from the standards (GB 11643, GB 32100), not with the
dataset's own helpers.
"""

from __future__ import annotations

import re
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from relaydesk.demo.seed import demo_customers
from relaydesk.demo_systems import credentials
from relaydesk.demo_systems.dataset import COMPANY_TAX_NO, TIER_LABELS, people
from relaydesk.demo_systems.seed_commerce import seed_orders, seed_shipments
from relaydesk.demo_systems.seed_finance import seed_invoices, seed_refunds
from relaydesk.demo_systems.seed_service import seed_contacts, seed_members, seed_tickets

DOC = Path(__file__).resolve().parents[2] / "docs" / "demo-systems.md"


def gb11643_ok(number: str) -> bool:
    weights = [2 ** (17 - i) % 11 for i in range(17)]
    total = sum(int(d) * w for d, w in zip(number[:17], weights, strict=True))
    return "10X98765432"[total % 11] == number[17]


def uscc_ok(code: str) -> bool:
    chars = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    weights = [3 ** i % 31 for i in range(17)]
    total = sum(chars.index(c) * w for c, w in zip(code[:17], weights, strict=True))
    return len(code) == 18 and chars[(31 - total % 31) % 31] == code[17]


def test_checksum_helpers_agree_with_real_codes() -> None:
    assert gb11643_ok("11010519491231002X")  # the standard's own example
    assert uscc_ok("91330100716105852F") and uscc_ok("914403001922038216")
    assert not uscc_ok("91330100716105852E")


def test_forty_people_with_valid_unique_personal_data() -> None:
    everyone = people()
    assert len(everyone) == 40
    assert len({p.mobile for p in everyone}) == 40
    assert all(re.fullmatch(r"1[3-9][0-9]{9}", p.mobile) for p in everyone)
    assert all(gb11643_ok(p.id_number) for p in everyone)
    assert all(re.fullmatch(r"[\u4e00-\u9fff]{2,3}", p.name) for p in everyone)
    assert all(p.address.startswith(p.province) and p.district in p.address for p in everyone)
    assert all(p.id_number[16] in ("13579" if p.gender == "M" else "02468") for p in everyone)
    for key in ("crm_id", "buyer_id", "member_id"):
        assert len({getattr(p, key) for p in everyone}) == 40, key
    assert {p.tier for p in everyone} == set(TIER_LABELS)
    assert uscc_ok(COMPANY_TAX_NO)


def test_first_thirty_are_relaydesks_demo_customers() -> None:
    seeded = demo_customers(30)
    assert [p.mobile for p in people()[:30]] == [c["phone"] for c in seeded]
    assert [p.id_number for p in people()[:30]] == [c["id_number"] for c in seeded]
    assert all(p.in_relaydesk for p in people()[:30])
    assert not any(p.in_relaydesk for p in people()[30:])


def test_every_system_knows_the_same_people_by_mobile() -> None:
    mobiles = {p.mobile for p in people()}
    assert {o.person.mobile for o in seed_orders()} == mobiles  # everyone ordered something
    assert {c.person.mobile for c in seed_contacts()} == mobiles
    members, _ = seed_members()
    assert {m.mobile for m in members} == mobiles
    assert {i.customer_mobile for i in seed_invoices()} <= mobiles
    assert {t.customer_mobile for t in seed_tickets()} <= mobiles


def test_orders_cover_every_rule_and_link_to_the_other_systems() -> None:
    orders = seed_orders()
    by_no = {o.order_no: o for o in orders}
    assert len(by_no) == len(orders)
    assert all(re.fullmatch(r"YQ2026[01][0-9][0-3][0-9][0-9]{6}", no) for no in by_no)
    assert set(Counter(o.status for o in orders)) == {10, 20, 30, 40, 50}
    assert any(o.status in (20, 30) and o.pay_amount > 5000 for o in orders)
    shipments = seed_shipments()
    assert {o.waybill_no for o in orders if o.status in (30, 40)} == set(shipments)
    assert all(shipments[o.waybill_no].order_no == o.order_no for o in orders if o.waybill_no)
    assert all(s.events[-1].status == "SIGNED" for s in shipments.values()
               if by_no[s.order_no].status == 40)
    assert all(by_no[r.order_no].status in (20, 30, 40) for r in seed_refunds())
    for invoice in seed_invoices():
        order = by_no[invoice.order_no]
        assert (order.status, order.person.mobile) == (40, invoice.customer_mobile)
        assert invoice.amount + invoice.tax_amount == invoice.total_amount == order.pay_amount
        assert invoice.buyer_tax_no == "" or uscc_ok(invoice.buyer_tax_no)
    assert all(o.pay_amount == sum((i.amount for i in o.items), Decimal(0)) + o.freight
               - o.discount for o in orders)


def test_member_points_are_the_sum_of_their_ledger() -> None:
    members, ledger = seed_members()
    sums = Counter[str]()
    for row in ledger:
        sums[row.member_id] += row.delta
    assert all(m.points == sums[m.member_id] >= 0 for m in members)


def test_the_seed_is_deterministic() -> None:
    assert seed_orders() == seed_orders()
    assert seed_invoices() == seed_invoices()
    assert seed_tickets() == seed_tickets()


def test_the_documented_figures_and_samples_match_the_data() -> None:
    doc = DOC.read_text(encoding="utf-8")
    _, ledger = seed_members()
    figures = {
        "orders": f"about {round(len(seed_orders()), -1)} orders",
        "shipments": f"{len(seed_shipments())} shipments",
        "refunds": f"{len(seed_refunds())} refunds",
        "invoices": f"{len(seed_invoices())} invoices",
        "tickets": f"{len(seed_tickets())} tickets",
        "ledger": f"{len(ledger)} points-ledger rows",
    }
    for name, text in figures.items():
        assert text in " ".join(doc.split()), f"docs/demo-systems.md: {name} should read {text!r}"
    for p in (*people()[:3], people()[30]):
        row = (f"| {p.name} | {p.mobile} | {p.city} | {TIER_LABELS[p.tier]} ({p.tier}) | "
               f"{p.crm_id} | {p.buyer_id} | {p.member_id} | {'yes' if p.in_relaydesk else 'no'} |")
        assert row in doc
    zhang = [o for o in seed_orders() if o.person.index == 0]
    for order in zhang:
        assert f"| {order.order_no} | {order.status} " in doc
        assert f"| {order.pay_amount} |" in doc
    assert COMPANY_TAX_NO in doc


@pytest.mark.parametrize("name", credentials.__all__)
def test_every_credential_is_documented(name: str) -> None:
    assert getattr(credentials, name) in DOC.read_text(encoding="utf-8")
