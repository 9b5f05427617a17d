"""Customer bodies: validated input, and the one serializer that masks personal data.

Every customer response is built by :meth:`CustomerOut.from_model`; it masks the personal
fields (:data:`PII_FIELDS`) unless the principal holds ``customers.pii.view``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, Field, field_validator

from relaydesk.auth.principal import Principal
from relaydesk.customers.models import Customer
from relaydesk.kit.masking import PiiKind, mask
from relaydesk.kit.schemas import RequestModel, ResponseModel

#: permission that lifts masking in every customer response
PII_VIEW: Final = "customers.pii.view"

PiiField = Literal["phone", "email", "id_number", "bank_card", "address"]

#: personal field -> masking rule
PII_FIELDS: Final[dict[str, PiiKind]] = {
    "phone": PiiKind.PHONE,
    "email": PiiKind.EMAIL,
    "id_number": PiiKind.ID_CARD,
    "bank_card": PiiKind.BANK_CARD,
    "address": PiiKind.ADDRESS,
}

DEFAULT_PHONE_REGION: Final = "CN"

# --------------------------------------------------------------------------------------
# Normalisers: each returns the stored form or raises ValueError (-> 422 at the field)
# --------------------------------------------------------------------------------------


def normalise_phone(value: str) -> str:
    """E.164 (``13812345678`` -> ``+8613812345678``); numbers without ``+`` are Chinese."""
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


def _normalise_tags(tags: list[str]) -> list[str]:
    seen: dict[str, None] = {}
    for tag in tags:
        seen.setdefault(tag, None)
    return list(seen)


Phone = Annotated[str, Field(min_length=3, max_length=40), AfterValidator(normalise_phone)]
Email = Annotated[str, Field(min_length=3, max_length=320), AfterValidator(normalise_email)]
IdNumber = Annotated[str, Field(min_length=1, max_length=32), AfterValidator(normalise_id_number)]
BankCard = Annotated[str, Field(min_length=1, max_length=40), AfterValidator(normalise_bank_card)]
Tag = Annotated[str, Field(min_length=1, max_length=50)]
Tags = Annotated[list[Tag], Field(max_length=50), AfterValidator(_normalise_tags)]
Attributes = Annotated[
    dict[str, Any],
    Field(max_length=100, description="Free-form fields from other systems (not masked)"),
]

# --------------------------------------------------------------------------------------
# Requests
# --------------------------------------------------------------------------------------


class CustomerIn(RequestModel):
    name: str = Field(min_length=1, max_length=200)
    phone: Phone | None = Field(default=None, description="Stored in E.164; default region CN")
    email: Email | None = None
    id_number: IdNumber | None = Field(
        default=None, description="Mainland resident ID number (GB 11643, 18 characters)"
    )
    bank_card: BankCard | None = Field(default=None, description="12-19 digits, Luhn-checked")
    address: str | None = Field(default=None, max_length=500)
    company: str | None = Field(default=None, max_length=200)
    tags: Tags = Field(default_factory=list)
    attributes: Attributes = Field(default_factory=dict)


class CustomerPatch(RequestModel):
    """Only the fields sent are changed; ``null`` clears an optional field."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    phone: Phone | None = None
    email: Email | None = None
    id_number: IdNumber | None = None
    bank_card: BankCard | None = None
    address: str | None = Field(default=None, max_length=500)
    company: str | None = Field(default=None, max_length=200)
    tags: Tags | None = None
    attributes: Attributes | None = None

    @field_validator("name")
    @classmethod
    def _name_not_null(cls, value: str | None) -> str:
        if value is None:
            raise ValueError("name cannot be null")
        return value

    def changes(self) -> dict[str, Any]:
        """The fields the client sent, with ``null`` lists and maps read as empty."""
        out = self.model_dump(include=self.model_fields_set)
        for key, empty in (("tags", []), ("attributes", {})):
            if key in out and out[key] is None:
                out[key] = empty
        return out


class RevealIn(RequestModel):
    field: PiiField


@dataclass(frozen=True)
class CustomerFilters:
    """List filters, already normalised (phone in E.164, e-mail lower-cased)."""

    q: str | None = None
    phone: str | None = None
    email: str | None = None
    tag: str | None = None


# --------------------------------------------------------------------------------------
# Responses
# --------------------------------------------------------------------------------------


class CustomerOut(ResponseModel):
    id: uuid.UUID
    name: str
    phone: str | None
    email: str | None
    id_number: str | None
    bank_card: str | None
    address: str | None
    company: str | None
    tags: list[str]
    attributes: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime
    masked: bool = Field(
        description="True when the personal fields are masked (no customers.pii.view)"
    )

    @classmethod
    def from_model(cls, customer: Customer, principal: Principal) -> CustomerOut:
        """THE way to turn a customer into a response: masks unless the caller may see."""
        clear = principal.has(PII_VIEW)
        personal = {
            name: getattr(customer, name) if clear else mask(getattr(customer, name), kind)
            for name, kind in PII_FIELDS.items()
        }
        return cls(
            id=customer.id,
            name=customer.name,
            company=customer.company,
            tags=list(customer.tags),
            attributes=dict(customer.attributes),
            created_at=customer.created_at,
            updated_at=customer.updated_at,
            masked=not clear,
            **personal,
        )


class RevealOut(ResponseModel):
    field: PiiField
    value: str | None = Field(description="The clear value; null when the field is empty")
