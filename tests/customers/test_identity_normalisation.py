"""Identity normalisation: every common way of writing a number gives the same E.164 form."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from relaydesk.customers.identities import IdentityError, guess_keys, normalise_identity
from relaydesk.customers.normalise import normalise_phone

MOBILE_PREFIXES = ["130", "135", "138", "139", "150", "166", "177", "182", "188", "191", "199"]

mobiles = st.builds(lambda p, rest: p + rest, st.sampled_from(MOBILE_PREFIXES),
                    st.text("0123456789", min_size=8, max_size=8))  # fmt: skip
separators = st.sampled_from(["", " ", "-", "  ", " - "])
country_prefixes = st.sampled_from(["", "+86", "+86 ", "0086", "0086 ", "86", "86-", "+86-"])


def _grouped(digits: str, sep: str, groups: tuple[int, ...]) -> str:
    out, i = [], 0
    for size in groups:
        out.append(digits[i : i + size])
        i += size
    return sep.join(out)


@given(mobiles, country_prefixes, separators, st.sampled_from([(3, 4, 4), (3, 8), (11,), (4, 7)]))
def test_mainland_mobiles_in_any_grouping_normalise_to_e164(
    mobile: str, prefix: str, sep: str, groups: tuple[int, ...]
) -> None:
    written = prefix + _grouped(mobile, sep, groups)
    assert normalise_phone(written) == "+86" + mobile
    assert normalise_identity("phone", f"  {written} ").value == "+86" + mobile


@given(mobiles)
def test_normalising_is_idempotent_and_search_finds_dashed_numbers(mobile: str) -> None:
    e164 = normalise_phone(mobile)
    assert normalise_phone(e164) == e164
    dashed = f"{mobile[:3]}-{mobile[3:7]}-{mobile[7:]}"
    assert ("phone", "", e164) in [(k.kind, k.namespace, k.value) for k in guess_keys(dashed)]


LANDLINE_AREAS = ["10", "20", "21", "755", "571", "28"]


@given(st.sampled_from(LANDLINE_AREAS), st.text("0123456789", min_size=7, max_size=7),
       st.sampled_from(["0{a}-{n}", "(0{a}) {n}", "0{a} {n}", "+86 {a} {n}", "0086-{a}-{n}",
                        "+86 (0){a} {n}"]))  # fmt: skip
def test_landlines_with_area_codes(area: str, local7: str, template: str) -> None:
    local = "6" + local7  # 8-digit local numbers starting with 6 exist in every area above
    written = template.format(a=area, n=local)
    assert normalise_phone(written) == "+86" + area + local


@given(st.sampled_from(["GB", "US", "DE", "JP", "SG", "HK", "TW", "AU", "FR", "KR"]),
       st.sampled_from([phonenumbers.PhoneNumberFormat.INTERNATIONAL,
                        phonenumbers.PhoneNumberFormat.E164]))  # fmt: skip
def test_other_countries_round_trip_through_e164(
    region: str, fmt: phonenumbers.PhoneNumberFormat
) -> None:
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    assert example is not None
    e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
    written = phonenumbers.format_number(example, fmt)
    assert normalise_phone(written) == e164
    assert normalise_phone("00" + e164[1:]) == e164  # the international dialling prefix


@pytest.mark.parametrize("bad", ["12345", "1381234567", "138123456789", "abc", "+999 1234",
                                 "95588"])  # fmt: skip
def test_invalid_numbers_are_refused(bad: str) -> None:
    with pytest.raises(IdentityError) as caught:
        normalise_identity("phone", bad)
    assert caught.value.field == "value"


@pytest.mark.parametrize(
    ("kind", "value", "namespace", "expected"),
    [
        ("email", " Zhang.Wei@Example.COM ", None, ("email", "", "zhang.wei@example.com")),
        ("visitor", "v_3f2a9c", "", ("visitor", "", "v_3f2a9c")),
        (
            "openid",
            "oWx-12AbCd",
            "wx1234567890abcdef",
            ("openid", "wx1234567890abcdef", "oWx-12AbCd"),
        ),
        (
            "unionid",
            "o6_bmasdasdsad6_2sgVt7hMZOPfL",
            None,
            ("unionid", "", "o6_bmasdasdsad6_2sgVt7hMZOPfL"),
        ),
        ("external", "C010001", "crm:contact", ("external", "crm:contact", "C010001")),
        ("app_user", "10086", "shop-app", ("app_user", "shop-app", "10086")),
    ],
)
def test_other_kinds(
    kind: str, value: str, namespace: str | None, expected: tuple[str, str, str]
) -> None:
    key = normalise_identity(kind, value, namespace)
    assert (key.kind, key.namespace, key.value) == expected


@pytest.mark.parametrize(
    ("kind", "value", "namespace", "field"),
    [
        ("fax", "1", None, "kind"),
        ("openid", "oWx", None, "namespace"),  # which app?
        ("external", "C1", "", "namespace"),
        ("external", "C1", "crm contact", "namespace"),
        ("phone", "13912345678", "sms", "namespace"),
        ("visitor", "has space", None, "value"),
        ("email", "zhang@", None, "value"),
    ],
)
def test_bad_identities_name_the_field(
    kind: str, value: str, namespace: str | None, field: str
) -> None:
    with pytest.raises(IdentityError) as caught:
        normalise_identity(kind, value, namespace)
    assert caught.value.field == field
