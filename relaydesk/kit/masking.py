"""Personal-data masking used by every serializer and by the log redactor.

Every function takes the raw value and returns a display-safe form. None of them raise on
odd input: anything that is not recognised as the expected kind of value is masked with
:func:`mask_generic`, which never reveals more than the first and last character.

All regular expressions are compiled once at import time and use ASCII digit classes
(``[0-9]``), so masking a single value costs a few microseconds.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from enum import StrEnum
from typing import Final

import phonenumbers

__all__ = [
    "PiiKind",
    "detect_and_mask_text",
    "mask",
    "mask_address",
    "mask_bank_card",
    "mask_email",
    "mask_generic",
    "mask_id_card",
    "mask_name",
    "mask_phone",
]


class PiiKind(StrEnum):
    """The kinds of personal data a field can hold; selects the masking rule."""

    PHONE = "phone"
    ID_CARD = "id_card"
    EMAIL = "email"
    BANK_CARD = "bank_card"
    ADDRESS = "address"
    NAME = "name"
    GENERIC = "generic"


_NON_DIGIT: Final = re.compile(r"[^0-9]")
_FIRST_DIGIT: Final = re.compile(r"[0-9]")
_CJK: Final = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")

# Mainland mobile: optional +86 / 86 / 0086 prefix, then 1[3-9] and nine more digits,
# with optional spaces or dashes anywhere between the digits.
_CN_MOBILE: Final = re.compile(
    r"(?P<prefix>(?:\+|00)?86[\s\-]*)?(?P<number>1[3-9](?:[\s\-]*[0-9]){9})"
)
# Mainland landline: area code 010, 02x or 0xxx (the leading 0 is dropped after +86), an
# optional separator, then a 7 or 8 digit local number.
_CN_LANDLINE: Final = re.compile(
    r"(?P<head>(?:(?:\+|00)86[\s\-]*\(?0?|\(?0)(?:10|2[0-9]|[3-9][0-9]{2})\)?[\s\-]*)"
    r"(?P<local>[0-9](?:[\s\-]?[0-9]){6,7})"
)
_ID_CARD: Final = re.compile(r"[0-9]{17}[0-9Xx]|[0-9]{15}")
_BANK_CARD: Final = re.compile(r"[0-9](?:[ \-]?[0-9]){11,18}")

# Chinese administrative prefix: province, prefecture-level city, district/county.
# Each unit excludes the level markers themselves, digits, whitespace and the characters
# that typically start the street-level detail, so a unit never runs into the detail part.
_ADMIN_UNIT: Final = r"[^省市区县0-9\s,，路街巷弄号栋楼室村镇乡]"
_CN_ADMIN_PREFIX: Final = re.compile(
    rf"(?P<province>{_ADMIN_UNIT}{{2,7}}?(?:省|自治区|特别行政区))?"
    rf"(?P<city>{_ADMIN_UNIT}{{1,9}}?(?:市|自治州|地区|盟))?"
    rf"(?P<district>{_ADMIN_UNIT}{{1,12}}?(?:区|县|市|旗))?"
)
#: capital letters right before a number that make it an identifier (``SO13800138000``)...
_ID_PREFIX: Final = re.compile(r"(?<![A-Za-z])([A-Z]{2,8})[-_]?\Z")
#: ...unless they contain one of these contact labels (``TEL13800138000``, ``TELNO1380...``)
_CONTACT_LABELS: Final = ("tel", "phone", "mobile", "mob", "cell", "fax", "contact", "id",
                          "card", "qq", "wx", "vx", "wechat", "sfz")  # fmt: skip
_ADDRESS_FALLBACK_KEEP: Final = 6
_MASK_FILL: Final = "****"

# Free-text detection. Every numeric pattern is anchored with digit lookarounds so that it
# only ever matches a complete run of digits: a 20-digit order number is never partly masked.
# E-mail addresses are handled in a separate pass (only when the text contains "@") so the
# common case, text without personal data, costs a single cheap scan. At any position the
# numeric alternatives are tried in order: ID card, mobile, landline, bank card. Digits inside
# a whole UUID are skipped, and so are numbers glued to a code of two to eight capital
# letters (the identifier rule: ``SO13800138000``, ``SF_1234...``), unless the code holds a
# contact label.
_TEXT_EMAIL: Final = re.compile(
    r"(?<![A-Za-z0-9._%+\-*@])[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}"
)
_NUM_END: Final = r"(?![0-9])"
_UUID: Final = re.compile(
    r"(?<![0-9A-Fa-f])[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}(?![0-9A-Fa-f])"
)
_TEXT_NUMBER: Final = re.compile(
    r"(?<![0-9])(?=[+0-9])(?:"
    rf"(?P<id18>[0-9]{{17}}[0-9Xx]{_NUM_END})"
    r"|(?P<id15>[1-9][0-9]{7}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[0-9]{3}"
    rf"{_NUM_END})"
    rf"|(?P<phone>(?:(?:\+|00)?86[ \-]?)?1[3-9][0-9](?:[ \-]?[0-9]{{4}}){{2}}{_NUM_END})"
    # landline: 0 + area code (010, 02x, 0xxx; the 0 is optional after +86, the area code may
    # be in brackets), then a 7-8 digit local number that starts with 2-9; an extension
    # (-801, 转801) is kept as written
    r"|(?P<landline>(?:(?:\+|00)86[ \-]?\(?0?|0)(?:10|2[0-9]|[3-9][0-9]{2})\)?[ \-]?"
    r"[2-9][0-9]{2,3}[ \-]?[0-9]{4})"
    rf"(?P<ext>(?:-|转|ext\.? ?)[0-9]{{1,6}})?{_NUM_END}"
    rf"|(?P<card>[0-9]{{4}}(?:[ \-]?[0-9]{{4}}){{3}}(?:[ \-]?[0-9]{{1,3}})?{_NUM_END})"
    r")"
)


def mask_generic(value: str) -> str:
    """Keep the first and last character of values of length >= 4, else mask everything.

    Surrounding whitespace is stripped first. ``"secret-value"`` -> ``"s**********e"``.
    """
    v = value.strip()
    n = len(v)
    if n >= 4:
        return v[0] + "*" * (n - 2) + v[-1]
    return "*" * n


def _keep_last_four(digits: str) -> str:
    return "*" * (len(digits) - 4) + digits[-4:]


def _mask_international(value: str) -> str | None:
    candidate = "+" + value[2:] if value.startswith("00") else value
    if not candidate.startswith("+"):
        return None
    try:
        number = phonenumbers.parse(candidate, None)
    except phonenumbers.NumberParseException:
        return None
    nsn = phonenumbers.national_significant_number(number)
    if len(nsn) < 6 or not nsn.isdigit():
        return None
    return f"+{number.country_code} {_keep_last_four(nsn)}"


def mask_phone(value: str) -> str:
    """Mask a telephone number.

    * Mainland mobile: keep the first 3 and last 4 digits, drop inner separators and keep
      any ``+86`` / ``86`` / ``0086`` prefix as written:
      ``13812341234`` -> ``138****1234``, ``+86 138-1234-1234`` -> ``+86 138****1234``.
    * Mainland landline: keep the area code (as written) and the last 4 digits:
      ``010-12345678`` -> ``010-****5678``, ``0755-1234567`` -> ``0755-***4567``.
    * International E.164 numbers: keep the country code and the last 4 digits of the
      national number: ``+44 20 7946 0958`` -> ``+44 ******0958``.
    * Anything else is masked with :func:`mask_generic`.
    """
    v = value.strip()
    if not v:
        return v
    m = _CN_MOBILE.fullmatch(v)
    if m is not None:
        digits = _NON_DIGIT.sub("", m.group("number"))
        return f"{m.group('prefix') or ''}{digits[:3]}****{digits[-4:]}"
    m = _CN_LANDLINE.fullmatch(v)
    if m is not None:
        return m.group("head") + _keep_last_four(_NON_DIGIT.sub("", m.group("local")))
    international = _mask_international(v)
    if international is not None:
        return international
    return mask_generic(v)


def _mask_id_digits(value: str) -> str:
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def mask_id_card(value: str) -> str:
    """Mask a mainland resident ID number, keeping the first 3 and last 4 characters.

    Accepts the 18-character form (last character may be ``X``/``x``) and the legacy
    15-digit form; the output has the same length:
    ``110101199003077777`` -> ``110***********7777``. The checksum is not verified: masking
    a mistyped number is still the right thing to do. Other documents (Hong Kong ID,
    passports, ...) are masked with :func:`mask_generic`.
    """
    v = value.strip()
    if _ID_CARD.fullmatch(v):
        return _mask_id_digits(v)
    return mask_generic(v)


def mask_email(value: str) -> str:
    """Mask the local part of an e-mail address and keep the domain.

    ``zhangsan@example.com`` -> ``z***n@example.com`` (always three stars, so the length of
    the local part is not revealed); a 1-character local part becomes ``*`` and a
    2-character one keeps its first character (``ab@x.cn`` -> ``a*@x.cn``). A value
    without ``@`` is masked with :func:`mask_generic`.
    """
    v = value.strip()
    local, at, domain = v.rpartition("@")
    if not at or not local or not domain:
        return mask_generic(v)
    n = len(local)
    if n == 1:
        masked = "*"
    elif n == 2:
        masked = local[0] + "*"
    else:
        masked = local[0] + "***" + local[-1]
    return f"{masked}@{domain}"


def mask_bank_card(value: str) -> str:
    """Mask a bank card number, keeping only the last 4 digits.

    Accepts 12-19 digits, optionally grouped with spaces or dashes. Separators are dropped
    and every other digit becomes ``*``, so the number of digits is preserved:
    ``6222 0212 3456 7890 123`` -> ``***************0123``. Anything else is masked with
    :func:`mask_generic`.
    """
    v = value.strip()
    if _BANK_CARD.fullmatch(v):
        return _keep_last_four(_NON_DIGIT.sub("", v))
    return mask_generic(v)


def _mask_chinese_address(v: str) -> str:
    m = _CN_ADMIN_PREFIX.match(v)
    prefix = m.group(0) if m is not None else ""
    if not prefix:
        if len(v) > _ADDRESS_FALLBACK_KEEP:
            # Never keep more than half of an unrecognised address, nor any digit of it.
            kept = v[: min(_ADDRESS_FALLBACK_KEEP, len(v) // 2)]
            digit = _FIRST_DIGIT.search(kept)
            if digit is not None:
                kept = kept[: digit.start()]
            return kept + _MASK_FILL
        return mask_generic(v)
    if len(prefix) == len(v):
        return v  # only administrative divisions, nothing personal to hide
    return prefix + _MASK_FILL


def mask_address(value: str) -> str:
    """Mask the street-level detail of an address.

    * Chinese addresses keep the administrative prefix (province, city, district/county)
      and replace the rest with ``****``:
      ``广东省深圳市南山区科技园南路88号`` -> ``广东省深圳市南山区****``. Without any
      recognisable marker the first 6 characters are kept (at most half of the value, and
      never a digit).
    * Other addresses are split on commas: the last two parts (city, country) are kept and
      everything before them becomes a single ``****``:
      ``221B Baker Street, London, UK`` -> ``****, London, UK``. A one-part address is
      masked with :func:`mask_generic`.
    """
    v = value.strip()
    if not v:
        return v
    if _CJK.search(v):
        return _mask_chinese_address(v)
    parts = [p.strip() for p in v.split(",")]
    if len(parts) < 2:
        return mask_generic(v)
    kept = parts[-2:] if len(parts) >= 3 else parts[-1:]
    return ", ".join([_MASK_FILL, *kept])


def mask_name(value: str) -> str:
    """Mask a person's name.

    Chinese names keep the first character (the surname): ``张三丰`` -> ``张**``,
    ``张三`` -> ``张*``, ``张`` -> ``*``. Latin names keep the initial of every word:
    ``John Smith`` -> ``J*** S****``.
    """
    v = value.strip()
    if not v:
        return v
    if _CJK.search(v):
        return v[0] + "*" * (len(v) - 1) if len(v) > 1 else "*"
    return " ".join(word[0] + "*" * (len(word) - 1) for word in v.split())


_MASKERS: Final[dict[PiiKind, Callable[[str], str]]] = {
    PiiKind.PHONE: mask_phone,
    PiiKind.ID_CARD: mask_id_card,
    PiiKind.EMAIL: mask_email,
    PiiKind.BANK_CARD: mask_bank_card,
    PiiKind.ADDRESS: mask_address,
    PiiKind.NAME: mask_name,
    PiiKind.GENERIC: mask_generic,
}


def mask(value: str | None, kind: PiiKind) -> str | None:
    """Mask *value* according to *kind*; ``None`` stays ``None`` and ``""`` stays ``""``."""
    if value is None or value == "":
        return value
    return _MASKERS[PiiKind(kind)](value)


def _mask_email_match(m: re.Match[str]) -> str:
    return mask_email(m.group(0))


def _is_identifier(m: re.Match[str]) -> bool:
    """The number is glued to a code of 2-8 capital letters that holds no contact label
    (``+86...`` is never part of a code)."""
    start = m.start()
    if m.string.startswith("+", start):
        return False
    prefix = _ID_PREFIX.search(m.string, max(0, start - 24), start)
    if prefix is None:
        return False
    code = prefix.group(1).lower()
    return not any(label in code for label in _CONTACT_LABELS)


def _in_uuid(m: re.Match[str], spans: list[tuple[int, int]]) -> bool:
    return any(a <= m.start() < b or a < m.end() <= b for a, b in spans)


def _mask_number_match(m: re.Match[str], uuids: list[tuple[int, int]] | None = None) -> str:
    found = m.group(0)
    if _is_identifier(m) or (uuids and _in_uuid(m, uuids)):
        return found
    if m.group("id18") is not None or m.group("id15") is not None:
        return _mask_id_digits(found)
    if m.group("phone") is not None:
        return mask_phone(found)
    if m.group("landline") is not None:
        return mask_phone(m.group("landline")) + (m.group("ext") or "")
    return mask_bank_card(found)


def detect_and_mask_text(text: str) -> str:
    """Mask personal data found anywhere inside free text.

    Detects e-mail addresses, mainland ID numbers (18 characters, or 15 digits with a
    plausible birth date), mainland mobile numbers (optionally ``+86``-prefixed or grouped
    3-4-4 with spaces or dashes), mainland landlines (``010-62345678``, ``(0755) 2345 6789``,
    ``+86 21 6234 5678``, ``02162345678``) and 16-19 digit bank cards, also when glued to
    Chinese text: ``我的手机号是13812341234请回电`` -> ``我的手机号是138****1234请回电``.

    What is *not* personal data (no false positives on order numbers):

    * numbers are only matched as whole digit runs, so longer numbers (order numbers,
      timestamps) are left untouched rather than partly masked;
    * a number glued to a code of two to eight capital letters, optionally joined by ``-`` or
      ``_``, is an identifier (order, waybill, ticket number): ``SO13800138000``,
      ``SF-13800138000``, ``JD_110101199003077777`` stay as they are, unless the code holds
      a contact label (``tel``, ``phone``, ``mobile``, ``mob``, ``cell``, ``fax``,
      ``contact``, ``id``, ``card``, ``qq``, ``wx``, ``vx``, ``wechat``, ``sfz``):
      ``TEL13800138000`` is masked. Words are not codes: ``Tel13800138000``, ``call me
      at13800138000``, ``PhoneNumber13800138000`` and ``x13800138000`` are masked, and so is
      ``whatsapp+8613800138000`` (a ``+`` starts a number, not a code's tail);
    * digits inside a whole UUID (``01234567-1234-1234-1234-123456789012``); a number next
      to a dash is otherwise still a number (``13800138000-1234``: an extension is kept).

    An 18-character run is always treated as an ID number, never as a phone or bank card; a
    bare 11-digit run starting ``13``-``19`` is a mobile number, whatever the system meant.
    Full-width digits are not detected.
    """
    if not text:
        return text
    if "@" in text:
        text = _TEXT_EMAIL.sub(_mask_email_match, text)
    if "-" in text and (uuids := [u.span() for u in _UUID.finditer(text)]):
        return _TEXT_NUMBER.sub(lambda m: _mask_number_match(m, uuids), text)
    return _TEXT_NUMBER.sub(_mask_number_match, text)
