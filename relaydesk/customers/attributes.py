"""Typed custom attributes: checking values against the tenant's definitions.

A key with a definition must hold a value of its type (``null`` clears it unless it is
required); keys without a definition stay free-form JSON, as data mapped from other systems
always was. Values arrive as JSON or, from XML bodies, as strings: numbers and booleans
written as text are accepted and stored typed.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, Final, Protocol

from relaydesk.errors import ValidationFailed
from relaydesk.kit.masking import detect_and_mask_text, mask_generic

__all__ = [
    "KEY_RE",
    "AttributeType",
    "Definition",
    "check_attributes",
    "coerce_value",
    "mask_attributes",
    "mask_free_text",
]

KEY_RE: Final = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_STRING: Final = 1000
_TRUE: Final = frozenset({"true", "1", "yes"})
_FALSE: Final = frozenset({"false", "0", "no"})


class AttributeType(StrEnum):
    STRING = "string"
    NUMBER = "number"
    BOOLEAN = "boolean"
    DATE = "date"  #: ISO ``YYYY-MM-DD``
    ENUM = "enum"  #: one of ``options``


class Definition(Protocol):
    key: str
    type: str
    options: list[str]
    required: bool
    pii: bool


def coerce_value(definition: Definition, value: Any) -> Any:
    """The stored form of ``value`` for this definition; ``ValueError`` says what is wrong."""
    kind = AttributeType(definition.type)
    if kind is AttributeType.STRING:
        if not isinstance(value, str):
            raise ValueError("must be a string")
        if len(value) > MAX_STRING:
            raise ValueError(f"at most {MAX_STRING} characters")
        return value
    if kind is AttributeType.NUMBER:
        return _number(value)
    if kind is AttributeType.BOOLEAN:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise ValueError("must be true or false")
    if kind is AttributeType.DATE:
        text = value.strip() if isinstance(value, str) else ""
        try:
            if len(text) != 10:
                raise ValueError
            return dt.date.fromisoformat(text).isoformat()
        except ValueError:
            raise ValueError("must be a date as YYYY-MM-DD") from None
    if not isinstance(value, str) or value not in definition.options:
        raise ValueError(f"must be one of: {', '.join(definition.options)}")
    return value


def _number(value: Any) -> int | float:
    if isinstance(value, bool):
        raise ValueError("must be a number")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("must be a finite number")
        return value
    if isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError("must be a number") from None
        if not number.is_finite():
            raise ValueError("must be a finite number")
        return int(number) if number == number.to_integral_value() else float(number)
    raise ValueError("must be a number")


def check_attributes(
    values: Mapping[str, Any],
    definitions: Mapping[str, Definition],
    *,
    loc: tuple[str | int, ...] = ("body", "attributes"),
    require: bool = True,
) -> dict[str, Any]:
    """Validate and coerce; raises one :class:`ValidationFailed` listing every bad key.

    ``require`` checks that every required definition has a non-null value (on creation and
    whenever the attributes are replaced). ``null`` values of optional keys are dropped.
    """
    out: dict[str, Any] = {}
    details: list[dict[str, Any]] = []
    for key, value in values.items():
        definition = definitions.get(key)
        if definition is None:
            out[key] = value
            continue
        if value is None:
            continue  # checked below when required
        try:
            out[key] = coerce_value(definition, value)
        except ValueError as exc:
            details.append({"loc": [*loc, key], "msg": str(exc), "type": "value_error"})
    if require:
        for key, definition in definitions.items():
            if definition.required and out.get(key) is None and key not in _keys(details):
                details.append({"loc": [*loc, key], "msg": "required attribute",
                                "type": "missing"})  # fmt: skip
    if details:
        first = details[0]
        where = ".".join(str(p) for p in first["loc"][1:] if p != "body") or "attributes"
        raise ValidationFailed(f"{where}: {first['msg']}", details=details)
    return out


def _keys(details: Iterable[dict[str, Any]]) -> set[str]:
    return {str(d["loc"][-1]) for d in details}


def mask_free_text(value: Any) -> Any:
    """Personal data found inside a free-form value (strings, lists, maps) masked.

    Strings go through :func:`detect_and_mask_text` (mobiles, landlines, ID numbers, bank
    cards, e-mail addresses); an integer that reads as such a number (``13812345678``)
    becomes its masked string. Other values are returned unchanged.
    """
    if isinstance(value, str):
        return detect_and_mask_text(value)
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        text = str(value)
        masked = detect_and_mask_text(text)
        return value if masked == text else masked
    if isinstance(value, Mapping):
        return {key: mask_free_text(item) for key, item in value.items()}
    if isinstance(value, list):
        return [mask_free_text(item) for item in value]
    return value


def mask_attributes(values: Mapping[str, Any], pii_keys: frozenset[str]) -> dict[str, Any]:
    """Personal attributes masked (as strings); personal data inside the others masked too.

    An attribute not defined as personal is still free text (a note, data mapped from another
    system): a mobile number or e-mail address written into it is masked where found.
    """
    return {
        key: mask_generic(str(value))
        if key in pii_keys and value is not None
        else mask_free_text(value)
        for key, value in values.items()
    }
