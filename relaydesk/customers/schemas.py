"""Customer bodies: validated input, and the one serializer that masks personal data.

Every customer response is built by :meth:`CustomerOut.from_model`; it masks the personal
fields (:data:`PII_FIELDS`) unless the principal holds ``customers.pii.view``; personal data
written into the free-text fields (name, company, tags, attributes) is masked where found.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal

from pydantic import AfterValidator, Field, field_validator

from relaydesk.auth.principal import Principal
from relaydesk.customers.attributes import mask_attributes
from relaydesk.customers.identity_schemas import PII_VIEW, IdentityIn, IdentityOut
from relaydesk.customers.models import Customer, CustomerIdentity
from relaydesk.customers.normalise import (
    DEFAULT_PHONE_REGION,
    id_number_check_char,
    luhn_valid,
    normalise_bank_card,
    normalise_email,
    normalise_id_number,
    normalise_phone,
)
from relaydesk.kit.masking import PiiKind, detect_and_mask_text, mask
from relaydesk.kit.schemas import RequestModel, ResponseModel

__all__ = [
    "DEFAULT_PHONE_REGION",
    "PII_FIELDS",
    "PII_VIEW",
    "CustomerFilters",
    "CustomerIn",
    "CustomerOut",
    "CustomerPatch",
    "RevealIn",
    "RevealOut",
    "id_number_check_char",
    "luhn_valid",
    "normalise_bank_card",
    "normalise_email",
    "normalise_id_number",
    "normalise_phone",
]


PiiField = Literal["phone", "email", "id_number", "bank_card", "address"]
#: a personal profile field, or ``attributes.<key>`` of an attribute defined with ``pii``
RevealField = Annotated[
    str,
    Field(
        pattern=r"^(phone|email|id_number|bank_card|address|attributes\.[a-z][a-z0-9_]{0,63})$",
        description="phone, email, id_number, bank_card, address, or attributes.<key> of a "
        "personal attribute",
    ),
]

#: personal field -> masking rule
PII_FIELDS: Final[dict[str, PiiKind]] = {
    "phone": PiiKind.PHONE,
    "email": PiiKind.EMAIL,
    "id_number": PiiKind.ID_CARD,
    "bank_card": PiiKind.BANK_CARD,
    "address": PiiKind.ADDRESS,
}


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
    Field(
        max_length=100,
        description="Custom attributes: keys with a definition (GET /customers/attribute-"
        "definitions) are typed and validated; other keys are free-form data from other systems",
    ),
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
    identities: list[IdentityIn] = Field(
        default_factory=list,
        max_length=20,
        description="Identities to attach (phone and email above are attached as well)",
    )


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
    field: RevealField


@dataclass(frozen=True)
class CustomerFilters:
    """List filters, already normalised (phone in E.164, e-mail lower-cased)."""

    q: str | None = None
    phone: str | None = None
    email: str | None = None
    tag: str | None = None
    #: customers holding any of these identities (kind, namespace, value); "*" = any
    identity_keys: tuple[tuple[str, str, str], ...] = ()


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
    attributes: dict[str, Any] = Field(
        description="Personal attributes (defined with pii) are masked like the other fields"
    )
    identities: list[IdentityOut] = Field(default_factory=list)
    created_at: dt.datetime
    updated_at: dt.datetime
    masked: bool = Field(
        description="True when the personal fields are masked (no customers.pii.view)"
    )

    @classmethod
    def from_model(
        cls,
        customer: Customer,
        principal: Principal,
        *,
        identities: Sequence[CustomerIdentity] = (),
        pii_attributes: frozenset[str] = frozenset(),
    ) -> CustomerOut:
        """THE way to turn a customer into a response: masks unless the caller may see."""
        clear = principal.has(PII_VIEW)
        personal = {
            name: getattr(customer, name) if clear else mask(getattr(customer, name), kind)
            for name, kind in PII_FIELDS.items()
        }
        attributes = dict(customer.attributes)
        # free text can hold personal data too (a visitor who typed a mobile number as the
        # name, a note in a tag): masked where found, like messages are for log lines
        text: Callable[[str], str] = (lambda v: v) if clear else detect_and_mask_text
        return cls(
            id=customer.id,
            name=text(customer.name),
            company=None if customer.company is None else text(customer.company),
            tags=[text(tag) for tag in customer.tags],
            attributes=attributes if clear else mask_attributes(attributes, pii_attributes),
            identities=[IdentityOut.from_model(i, principal) for i in identities],
            created_at=customer.created_at,
            updated_at=customer.updated_at,
            masked=not clear,
            **personal,
        )


class RevealOut(ResponseModel):
    field: str
    value: str | int | float | bool | None = Field(
        description="The clear value; null when the field is empty"
    )
