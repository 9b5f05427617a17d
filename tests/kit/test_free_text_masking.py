"""Personal data inside free text (an order's remark "请联系13800138000", an address note):
the detectors as properties, the identifier rule that keeps order numbers, and connector
outputs as agents without ``customers.pii.view`` see them."""

from __future__ import annotations

import copy
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from conftest import Org, login
from fastapi import FastAPI
from hypothesis import given
from hypothesis import strategies as st
from integrations.service.hub_support import (
    API,
    FINANCE_SPEC,
    FakeSystem,
    Sleeper,
    answer,
    fake_registry,
    instance_body,
    mount,
)

from relaydesk.integrations.outcome import mask_output
from relaydesk.integrations.registry import RuntimeRegistry
from relaydesk.kit.masking import PiiKind, detect_and_mask_text

#: Chinese text around the numbers, with the punctuation people type
cjk = st.text(
    alphabet=st.one_of(
        st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5),
        st.sampled_from("，。：；！？（）、 "),
    ),
    max_size=8,
)
mobile = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)
AREAS = ["010", "020", "021", "022", "023", "024", "025", "027", "028", "029", "0311", "0371",
         "0431", "0512", "0571", "0591", "0731", "0755", "0769", "0898", "0991"]  # fmt: skip
LABELS = ("tel", "phone", "mobile", "mob", "cell", "fax", "contact", "id", "card", "qq", "wx",
          "vx", "wechat", "sfz")  # fmt: skip


def digits(text: str) -> str:
    return re.sub(r"[^0-9]", "", text)


@st.composite
def mobile_forms(draw: st.DrawFn) -> tuple[str, str]:
    """(the number as written, as masked): plain, +86/86/0086, spaced or dashed 3-4-4."""
    number = draw(mobile)
    sep = draw(st.sampled_from(["", " ", "-"]))
    written = f"{number[:3]}{sep}{number[3:7]}{sep}{number[7:]}"
    prefix = draw(st.sampled_from(["", "+86", "+86 ", "+86-", "86", "0086 "]))
    return prefix + written, f"{prefix}{number[:3]}****{number[-4:]}"


@st.composite
def landlines(draw: st.DrawFn) -> tuple[str, str]:
    """(the number as written, as masked: the area code as written and the last four)."""
    area = draw(st.sampled_from(AREAS))
    size = 8 if len(area) == 3 else draw(st.sampled_from([7, 8]))
    local = draw(st.from_regex(rf"[2-9][0-9]{{{size - 1}}}", fullmatch=True))
    spaced = f"{local[:-4]} {local[-4:]}" if draw(st.booleans()) else local
    head = draw(st.sampled_from([f"{area}-", f"{area} ", f"({area})", f"+86 {area[1:]} ", area]))
    written = head + (local if head == area else spaced)
    return written, head + "*" * (size - 4) + local[-4:]


id_cards = st.from_regex(r"[1-9][0-9]{16}[0-9X]", fullmatch=True)
emails = st.from_regex(r"[a-z][a-z0-9._]{1,12}[a-z0-9]@[a-z0-9]{2,10}\.(com|cn|net)",
                       fullmatch=True)  # fmt: skip
#: codes in front of order, waybill and ticket numbers (SO, JD, SF, YT, ORD ...)
codes = st.from_regex(r"[A-Z]{2,4}", fullmatch=True).filter(
    lambda c: not any(label in c.lower() for label in LABELS)
)


@given(mobile_forms(), cjk, cjk)
def test_mobile_numbers_in_chinese_text_are_masked(form: tuple[str, str], before: str,
                                                   after: str) -> None:  # fmt: skip
    written, expected = form
    masked = detect_and_mask_text(before + written + after)
    assert masked == before + expected + after
    assert len(digits(expected)) < len(digits(written)) - 3


@given(landlines(), cjk, cjk)
def test_landlines_in_chinese_text_keep_the_area_code_and_the_last_four(
    form: tuple[str, str], before: str, after: str
) -> None:
    written, expected = form
    assert detect_and_mask_text(before + written + after) == before + expected + after


@given(id_cards, cjk, cjk)
def test_id_numbers_with_or_without_x_are_masked(number: str, before: str, after: str) -> None:
    masked = detect_and_mask_text(f"{before}身份证{number}{after}")
    assert masked == f"{before}身份证{number[:3]}{'*' * 11}{number[-4:]}{after}"


@given(emails, cjk, cjk)
def test_email_addresses_lose_their_local_part(address: str, before: str, after: str) -> None:
    masked = detect_and_mask_text(before + address + after)
    local, domain = address.split("@")
    assert masked == f"{before}{local[0]}***{local[-1]}@{domain}{after}"


@given(codes, st.sampled_from(["", "-", "_"]),
       st.one_of(mobile, id_cards, st.from_regex(r"[0-9]{6,22}", fullmatch=True)), cjk, cjk)
def test_numbers_glued_to_a_letter_code_are_identifiers_not_personal_data(
    code: str, joint: str, number: str, before: str, after: str
) -> None:  # fmt: skip
    text = f"{before}单号{code}{joint}{number}{after}"
    assert detect_and_mask_text(text) == text


@given(st.from_regex(r"[1-9][0-9]{0,9}|[1-9][0-9]{11,13}|[0-9]{20,30}", fullmatch=True), cjk, cjk)
def test_bare_numbers_of_other_lengths_are_left_alone(number: str, before: str, after: str) -> None:
    text = f"{before}订单{number}{after}"
    assert detect_and_mask_text(text) == text


@given(st.sampled_from(LABELS), st.sampled_from(["", ":", "-", " "]), mobile)
def test_contact_labels_do_not_make_a_phone_an_identifier(label: str, joint: str,
                                                          number: str) -> None:  # fmt: skip
    assert detect_and_mask_text(f"{label.upper()}{joint}{number}") == (
        f"{label.upper()}{joint}{number[:3]}****{number[-4:]}"
    )


@given(st.lists(st.one_of(mobile_forms().map(lambda f: f[0]), landlines().map(lambda f: f[0]),
                          id_cards, emails, cjk), max_size=6))  # fmt: skip
def test_masking_twice_changes_nothing(parts: list[str]) -> None:
    # numbers are separated by text ("、"): digits glued together are one run, another number
    once = detect_and_mask_text("、".join(parts))
    assert detect_and_mask_text(once) == once


@pytest.mark.parametrize(("text", "expected"), [
    ("请联系13800138000", "请联系138****8000"),
    ("电话010-62345678转801，周末送货", "电话010-****5678转801，周末送货"),
    ("座机(0755)2345 6789", "座机(0755)****6789"),
    ("订单SO13800138000，运单SF-1234567890123，工单GD202611190011", None),
    ("Tel13800138000", "Tel138****8000"),
    # words and labels are not codes; a + starts a number; a dash does not hide one
    ("PhoneNumber13800138000", "PhoneNumber138****8000"),
    ("Mobile No13800138000", "Mobile No138****8000"),
    ("Tel_No13800138000", "Tel_No138****8000"),
    ("TELNO13800138000", "TELNO138****8000"),
    ("call me at13800138000", "call me at138****8000"),
    ("whatsapp+8613800138000", "whatsapp+86138****8000"),
    ("电话13800138000-1234", "电话138****8000-1234"),
    ("身份证110101199003077777-abcd", "身份证110***********7777-abcd"),
    ("beef-13800138000", "beef-138****8000"),
    ("req 01234567-1234-1234-1234-138001380001 ok", None),
    ("2026-11-21 10:30 付款 ¥1,234.56，发票号26332000000000000010", None),
    ("0755-1234567", None),  # local numbers never start with 1: not a landline
])  # fmt: skip
def test_examples(text: str, expected: str | None) -> None:
    assert detect_and_mask_text(text) == (text if expected is None else expected)


# --- connector outputs -----------------------------------------------------------------------

ORDER = {
    "order_no": "SO13800138000", "amount": 13800138000, "receiver_phone": "13912345678",
    "remark": "请联系13800138000，或发邮件 zhangsan@example.com",
    "address": {"note": "放门卫，电话021-62345678", "city": "上海市"},
    "events": [{"desc": "快递员王师傅 139-1234-5678 派送中", "code": "YT5974940606424"}],
}  # fmt: skip


def test_connector_output_free_text_and_declared_fields_are_masked_once() -> None:
    original = copy.deepcopy(ORDER)
    masked = mask_output([ORDER], {"receiver_phone": PiiKind.PHONE})[0]
    assert original == ORDER, "cached values are shared: never changed in place"
    assert masked["receiver_phone"] == "139****5678", "declared: masked by its kind, once"
    assert masked["remark"] == "请联系138****8000，或发邮件 z***n@example.com"
    assert masked["address"] == {"note": "放门卫，电话021-****5678", "city": "上海市"}
    assert masked["events"] == [{"desc": "快递员王师傅 139****5678 派送中",
                                 "code": "YT5974940606424"}]  # fmt: skip
    assert masked["order_no"] == "SO13800138000" and masked["amount"] == 13800138000
    assert mask_output(masked, {}) == masked, "free text: masking twice changes nothing"
    internal = mask_output(ORDER, {"receiver_phone": PiiKind.PHONE}, free_text=False)
    assert internal["remark"] == ORDER["remark"] and internal["receiver_phone"] == "139****5678"


@pytest.fixture
def system() -> FakeSystem:
    return FakeSystem()


@pytest.fixture
async def registry(system: FakeSystem) -> AsyncIterator[RuntimeRegistry]:
    registry = fake_registry(system, Sleeper())
    yield registry
    await registry.aclose()


@pytest.fixture
def app(app: FastAPI, registry: RuntimeRegistry) -> FastAPI:
    return mount(app, registry)


async def test_the_action_api_masks_free_text_unless_the_caller_may_see_personal_data(
    client: httpx.AsyncClient, org_a: Org, system: FakeSystem
) -> None:
    remark = "开票人电话13800138000，身份证11010119900307777X"
    invoice: dict[str, Any] = {"invoice_no": "INV13800138000", "amount": "12.00", "remark": remark}
    system.default = answer({"invoices": [invoice]})
    owner = await login(client, org_a, "owner")
    r = await client.post(f"{API}/connector-instances", headers=owner,
                          json=instance_body(spec=FINANCE_SPEC))  # fmt: skip
    assert r.status_code == 201, r.text
    run = f"{API}/connector-instances/{r.json()['id']}/actions/list_invoices/run"
    r = await client.post(f"{API}/roles", headers=owner, json={
        "name": "billing", "permissions": ["connector_action:finance.list_invoices"]})  # fmt: skip
    assert r.status_code == 201, r.text
    r = await client.patch(f"{API}/users/{org_a.users['supervisor']}", headers=owner,
                           json={"roles": ["supervisor", "billing"]})  # fmt: skip
    assert r.status_code == 200, r.text
    supervisor = await login(client, org_a, "supervisor")  # may reveal, may not view
    body = {"params": {"customer_id": "C1"}}
    shown = (await client.post(run, headers=supervisor, json=body)).json()
    assert shown["ok"] is True
    masked = "开票人电话138****8000，身份证110***********777X"
    assert shown["data"] == [{**invoice, "remark": masked}], "the invoice number is kept"
    clear = (await client.post(run, headers=owner, json=body)).json()
    assert clear["data"] == [invoice]
