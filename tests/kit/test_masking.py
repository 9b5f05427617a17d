"""Tests for relaydesk.kit.masking."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relaydesk.kit.masking import (
    PiiKind,
    detect_and_mask_text,
    mask,
    mask_address,
    mask_bank_card,
    mask_email,
    mask_generic,
    mask_id_card,
    mask_name,
    mask_phone,
)

# --- strategies ---------------------------------------------------------------------------

mobiles = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


@st.composite
def id_cards(draw: st.DrawFn) -> str:
    """Valid 18-character mainland ID numbers (region, birth date, sequence, checksum)."""
    region = draw(st.from_regex(r"[1-8][0-9]{5}", fullmatch=True))
    birth = draw(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2024, 12, 31)))
    seq = draw(st.from_regex(r"[0-9]{3}", fullmatch=True))
    body = f"{region}{birth:%Y%m%d}{seq}"
    check = _ID_CHECK[sum(int(c) * w for c, w in zip(body, _ID_WEIGHTS, strict=True)) % 11]
    return body + check


@st.composite
def legacy_id_cards(draw: st.DrawFn) -> str:
    region = draw(st.from_regex(r"[1-8][0-9]{5}", fullmatch=True))
    birth = draw(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(1999, 12, 31)))
    seq = draw(st.from_regex(r"[0-9]{3}", fullmatch=True))
    return f"{region}{birth:%y%m%d}{seq}"


# Chinese text around a number: CJK ideographs only, so no digit touches the number.
cjk_text = st.text(alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), max_size=8)


def assert_keeps_3_4(original: str, masked: str) -> None:
    assert len(masked) == len(original)
    assert masked[:3] == original[:3]
    assert masked[-4:] == original[-4:]
    middle = masked[3:-4]
    assert middle == "*" * len(middle)
    assert not any(c.isdigit() for c in middle)
    hidden = original[3:-4]
    # The hidden digits can only show up where they coincide with the kept parts.
    if hidden not in original[:3] + original[-4:]:
        assert hidden not in masked


# --- phone --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13812341234", "138****1234"),
        ("+86 138-1234-1234", "+86 138****1234"),
        ("+8613812341234", "+86138****1234"),
        ("0086 13812341234", "0086 138****1234"),
        ("138 1234 1234", "138****1234"),
        ("  13812341234  ", "138****1234"),
        ("010-12345678", "010-****5678"),
        ("0755-1234567", "0755-***4567"),
        ("02112345678", "021****5678"),
        ("(021)12345678", "(021)****5678"),
        ("+86 10 12345678", "+86 10 ****5678"),
        ("+44 20 7946 0958", "+44 ******0958"),
        ("+1 415 555 2671", "+1 ******2671"),
        ("0044 20 7946 0958", "+44 ******0958"),
        ("not a phone", "n*********e"),
        ("123", "***"),
        ("", ""),
    ],
)
def test_mask_phone(raw: str, expected: str) -> None:
    assert mask_phone(raw) == expected


@given(mobiles)
def test_mask_phone_hides_middle_digits(number: str) -> None:
    masked = mask_phone(number)
    assert masked == f"{number[:3]}****{number[-4:]}"
    assert_keeps_3_4(number, masked)


@given(mobiles, st.sampled_from(["+86 ", "+86-", "86", "0086 "]))
def test_mask_phone_with_country_prefix(number: str, prefix: str) -> None:
    assert mask_phone(prefix + number) == f"{prefix}{number[:3]}****{number[-4:]}"


@given(st.text(max_size=40))
def test_maskers_never_raise(value: str) -> None:
    for fn in (
        mask_phone,
        mask_id_card,
        mask_email,
        mask_bank_card,
        mask_address,
        mask_name,
        mask_generic,
        detect_and_mask_text,
    ):
        assert isinstance(fn(value), str)


@given(st.from_regex(r"\+[0-9 ()\-]{1,25}", fullmatch=True))
def test_mask_phone_never_raises_on_phone_like_garbage(value: str) -> None:
    masked = mask_phone(value)
    assert isinstance(masked, str)
    digits = "".join(c for c in value if c.isdigit())
    if len(digits) >= 9:
        assert digits not in masked


# --- ID card ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("110101199003077777", "110***********7777"),
        ("11010119900307777X", "110***********777X"),
        ("11010119900307777x", "110***********777x"),
        ("110101900307777", "110********7777"),
        ("A123456(7)", "A********)"),
        ("E12345678", "E*******8"),
    ],
)
def test_mask_id_card(raw: str, expected: str) -> None:
    assert mask_id_card(raw) == expected


@given(id_cards())
def test_mask_id_card_hides_middle_digits(number: str) -> None:
    assert_keeps_3_4(number, mask_id_card(number))


@given(legacy_id_cards())
def test_mask_legacy_id_card_hides_middle_digits(number: str) -> None:
    assert_keeps_3_4(number, mask_id_card(number))


# --- e-mail, bank card, address, name, generic ----------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("zhangsan@example.com", "z***n@example.com"),
        ("ab@example.com", "a*@example.com"),
        ("a@example.com", "*@example.com"),
        ("abc@mail.example.cn", "a***c@mail.example.cn"),
        ("no-at-sign", "n********n"),
    ],
)
def test_mask_email(raw: str, expected: str) -> None:
    assert mask_email(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("6222 0212 3456 7890 123", "***************0123"),
        ("6222021234567890", "************7890"),
        ("6222-0212-3456-7890", "************7890"),
        ("622202123456", "********3456"),
        ("12345", "1***5"),
    ],
)
def test_mask_bank_card(raw: str, expected: str) -> None:
    assert mask_bank_card(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("广东省深圳市南山区科技园南路88号", "广东省深圳市南山区****"),
        ("北京市朝阳区建国路88号", "北京市朝阳区****"),
        ("上海市浦东新区世纪大道100号", "上海市浦东新区****"),
        ("广东省广州市天河区天河路1号", "广东省广州市天河区****"),
        ("浙江省温州市乐清市柳市镇", "浙江省温州市乐清市****"),
        ("内蒙古自治区呼和浩特市新城区新华大街1号", "内蒙古自治区呼和浩特市新城区****"),
        ("江苏省昆山市玉山镇阳光小区5栋", "江苏省昆山市****"),
        ("科技园南路88号阳光花园小区", "科技园南路****"),
        ("广东省深圳市南山区", "广东省深圳市南山区"),
        ("221B Baker Street, London, UK", "****, London, UK"),
        ("Flat 2, 221B Baker Street, London, UK", "****, London, UK"),
        ("10 Downing St, London", "****, London"),
    ],
)
def test_mask_address(raw: str, expected: str) -> None:
    assert mask_address(raw) == expected


def test_mask_address_never_keeps_street_detail() -> None:
    masked = mask_address("广东省深圳市南山区科技园南路88号")
    assert "科技园" not in masked
    assert "88" not in masked


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("张三丰", "张**"),
        ("张三", "张*"),
        ("张", "*"),
        ("欧阳娜娜", "欧***"),
        ("John Smith", "J*** S****"),
        ("Madonna", "M******"),
    ],
)
def test_mask_name(raw: str, expected: str) -> None:
    assert mask_name(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("abcd", "a**d"), ("secret-value", "s**********e"), ("abc", "***"), ("a", "*"), ("", "")],
)
def test_mask_generic(raw: str, expected: str) -> None:
    assert mask_generic(raw) == expected


# --- dispatcher ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "raw", "expected"),
    [
        (PiiKind.PHONE, "13812341234", "138****1234"),
        (PiiKind.ID_CARD, "110101199003077777", "110***********7777"),
        (PiiKind.EMAIL, "zhangsan@example.com", "z***n@example.com"),
        (PiiKind.BANK_CARD, "6222021234567890", "************7890"),
        (PiiKind.ADDRESS, "广东省深圳市南山区科技园南路88号", "广东省深圳市南山区****"),
        (PiiKind.NAME, "张三丰", "张**"),
        (PiiKind.GENERIC, "abcdef", "a****f"),
    ],
)
def test_mask_dispatch(kind: PiiKind, raw: str, expected: str) -> None:
    assert mask(raw, kind) == expected


@pytest.mark.parametrize("kind", list(PiiKind))
def test_mask_keeps_none_and_empty(kind: PiiKind) -> None:
    assert mask(None, kind) is None
    assert mask("", kind) == ""


def test_pii_kind_values() -> None:
    assert {k.value for k in PiiKind} == {
        "phone",
        "id_card",
        "email",
        "bank_card",
        "address",
        "name",
        "generic",
    }
    assert mask("13812341234", PiiKind("phone")) == "138****1234"


# --- free text ----------------------------------------------------------------------------


def test_detect_phone_in_chinese_text() -> None:
    assert detect_and_mask_text("我的手机号是13812341234请回电") == "我的手机号是138****1234请回电"


def test_detect_leaves_long_order_number_untouched() -> None:
    text = "订单号20240101123456789012已发货"
    assert detect_and_mask_text(text) == text
    assert detect_and_mask_text("order 20240101123456789012") == "order 20240101123456789012"


@given(st.from_regex(r"[0-9]{20,40}", fullmatch=True), cjk_text, cjk_text)
def test_detect_never_touches_long_digit_runs(number: str, before: str, after: str) -> None:
    text = before + number + after
    assert detect_and_mask_text(text) == text


def test_detect_mixed_text() -> None:
    text = (
        "客户张三, 身份证110101199003077777, 电话+86 13912345678, "
        "邮箱zhangsan@example.com谢谢, 卡号6222 0212 3456 7890 123, 旧证110101900307777"
    )
    assert detect_and_mask_text(text) == (
        "客户张三, 身份证110***********7777, 电话+86 139****5678, "
        "邮箱z***n@example.com谢谢, 卡号***************0123, 旧证110********7777"
    )


def test_detect_id_card_wins_over_phone_and_card() -> None:
    # An 18-digit run starting like a mobile number is an ID number, not a phone.
    assert detect_and_mask_text("x138123412341234567y") == "x138***********4567y"


def test_detect_skips_uuid_segments() -> None:
    text = "request 01234567-1234-1234-1234-123456789012 done"
    assert detect_and_mask_text(text) == text


def test_detect_email_local_part_with_digits() -> None:
    assert detect_and_mask_text("qq: 13812341234@qq.com") == "qq: 1***4@qq.com"


def test_detect_plain_text_unchanged() -> None:
    text = "Customer asked about invoice #12345 on 2024-05-01 at 10:30."
    assert detect_and_mask_text(text) == text
    assert detect_and_mask_text("") == ""


@given(mobiles, cjk_text, cjk_text)
def test_detect_masks_phone_embedded_in_chinese(number: str, before: str, after: str) -> None:
    masked = detect_and_mask_text(before + number + after)
    assert masked == before + f"{number[:3]}****{number[-4:]}" + after
    assert number not in masked


@given(id_cards(), cjk_text, cjk_text)
def test_detect_masks_id_card_embedded_in_chinese(number: str, before: str, after: str) -> None:
    masked = detect_and_mask_text(before + number + after)
    core = masked[len(before) : len(masked) - len(after)]
    assert masked.startswith(before)
    assert masked.endswith(after)
    assert_keeps_3_4(number, core)


@given(
    st.lists(
        st.one_of(mobiles, id_cards(), cjk_text, st.just("zhangsan@example.com"), st.just(" ")),
        max_size=6,
    )
)
def test_detect_is_idempotent(parts: list[str]) -> None:
    once = detect_and_mask_text("".join(parts))
    assert detect_and_mask_text(once) == once


def test_masking_is_fast() -> None:
    n = 20_000
    start = time.perf_counter()
    for _ in range(n):
        mask_phone("13812341234")
        mask_id_card("110101199003077777")
        mask_email("zhangsan@example.com")
    per_call = (time.perf_counter() - start) / (3 * n)
    assert per_call < 20e-6  # a few microseconds in practice; generous for slow CI
