"""Bodies of the attribute definitions API (``/customers/attribute-definitions``)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from pydantic import Field, ValidationInfo, field_validator

from relaydesk.customers.attributes import AttributeType
from relaydesk.kit.schemas import RequestModel, ResponseModel

AttributeKey = Annotated[
    str,
    Field(pattern=r"^[a-z][a-z0-9_]{0,63}$",
          description="Lower-case letters, digits and _; starts with a letter"),
]  # fmt: skip
Label = Annotated[str, Field(min_length=1, max_length=100)]
Option = Annotated[str, Field(min_length=1, max_length=100)]
Options = Annotated[list[Option], Field(max_length=100)]


def _unique(options: list[str] | None) -> list[str] | None:
    if options is not None and len(set(options)) != len(options):
        raise ValueError("options must be unique")
    return options


class AttributeDefinitionIn(RequestModel):
    key: AttributeKey
    label_zh: Label
    label_en: Label
    type: AttributeType
    options: Options = Field(
        default_factory=list, validate_default=True, description="The allowed values of an enum"
    )
    required: bool = Field(default=False, description="Customers created or updated by agents "
                           "and API clients must have a value")  # fmt: skip
    pii: bool = Field(default=False, description="Personal data: masked like phone numbers")
    description: str | None = Field(default=None, max_length=500)

    @field_validator("options")
    @classmethod
    def _options_match_type(cls, options: list[str], info: ValidationInfo) -> list[str]:
        _unique(options)
        kind = info.data.get("type")
        if kind is AttributeType.ENUM and not options:
            raise ValueError("an enum needs at least one option")
        if kind is not None and kind is not AttributeType.ENUM and options:
            raise ValueError("only an enum has options")
        return options


class AttributeDefinitionPatch(RequestModel):
    """The type and key cannot change; removing an enum option still in use is refused."""

    label_zh: Label | None = None
    label_en: Label | None = None
    options: Options | None = None
    required: bool | None = None
    pii: bool | None = None
    description: str | None = Field(default=None, max_length=500)

    _unique_options = field_validator("options")(_unique)

    @field_validator("label_zh", "label_en", "required", "pii")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("cannot be null")
        return value


class AttributeDefinitionOut(ResponseModel):
    id: uuid.UUID
    key: str
    label_zh: str
    label_en: str
    type: AttributeType
    options: list[str]
    required: bool
    pii: bool
    description: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


class AttributeDefinitionList(ResponseModel):
    items: list[AttributeDefinitionOut]
