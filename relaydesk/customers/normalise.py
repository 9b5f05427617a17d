"""Normalisers of personal fields: each returns the stored form or raises ``ValueError``.

The message of the ``ValueError`` is shown to the client at the field (422).
"""

from __future__ import annotations

import datetime as dt
from typing import Final

import phonenumbers
from email_validator import EmailNotValidError, validate_email

__all__ = [
    "DEFAULT_PHONE_REGION",
    "id_number_check_char",
    "luhn_valid",
    "normalise_bank_card",
    "normalise_email",
    "normalise_id_number",
    "normalise_phone",
]

DEFAULT_PHONE_REGION: Final = "CN"


def normalise_phone(value: str) -> str:
    """E.164 (``139 1234 5678`` -> ``+8613912345678``).

    Numbers without ``+`` are read as mainland Chinese: mobiles in any grouping, ``86`` or
    ``0086`` prefixes, landlines with their area code (``010-12345678``, ``(0755) 1234 5678``);
    other countries need ``+`` and the country code (or ``00``).
    """
    try:
        number = phonenumbers.parse(value, DEFAULT_PHONE_REGION)
    except phonenumbers.NumberParseException:
        raise ValueError("not a phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError("not a valid phone number (mainland numbers need 11 digits)")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_email(value: str) -> str:
    """Syntax check only (no DNS); stored lower-cased, as user e-mails are."""
    try:
        checked = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(f"not a valid e-mail address: {exc}") from None
    return checked.normalized.lower()


_ID_WEIGHTS: Final = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK_CHARS: Final = "10X98765432"


def id_number_check_char(first17: str) -> str:
    """The GB 11643-1999 check character for the first 17 digits of an ID number."""
    total = sum(int(digit) * weight for digit, weight in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK_CHARS[total % 11]


def normalise_id_number(value: str) -> str:
    """A mainland resident ID number: 18 characters, valid birth date and checksum."""
    v = value.upper()
    if len(v) != 18 or not v.isascii() or not v[:17].isdigit() or v[17] not in "0123456789X":
        raise ValueError("must be 18 characters: 17 digits and a digit or X")
    try:
        dt.date(int(v[6:10]), int(v[10:12]), int(v[12:14]))
    except ValueError:
        raise ValueError("characters 7-14 are not a valid birth date") from None
    if id_number_check_char(v[:17]) != v[17]:
        raise ValueError("checksum does not match (GB 11643); check for a typing mistake")
    return v


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        digit = int(char)
        if index % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def normalise_bank_card(value: str) -> str:
    """12-19 digits (spaces and dashes dropped) passing the Luhn check."""
    digits = value.replace(" ", "").replace("-", "")
    if not (digits.isascii() and digits.isdigit() and 12 <= len(digits) <= 19):
        raise ValueError("must be 12-19 digits")
    if not luhn_valid(digits):
        raise ValueError("checksum does not match (Luhn); check for a typing mistake")
    return digits
