"""Type coercions of the mapping language: what a source value becomes for a declared ``type``.

Every coercion either returns a JSON-ready value or raises :class:`CoercionError` with a
readable reason; none raises anything else, whatever the input (the property tests feed
arbitrary JSON). Outputs:

=========  ==========================================================================
string     str; numbers and booleans are written out (``12`` → ``"12"``)
integer    int; ``"12"``, ``12.0``, ``"12.0"`` accepted, ``12.5`` is an error
number     float (finite)
decimal    the exact digits as a string: ``"12.30"`` stays ``"12.30"``; ``"1,234.50"`` too
boolean    true/false, 1/0, yes/no, y/n, on/off, t/f, 是/否, 真/假, 对/错, 有/无
date       ``YYYY-MM-DD``
datetime   ISO 8601 with the offset of the time zone (naive inputs are read in it)
object     a dict
array      a list; one object or scalar becomes a one-element list (XML has no arrays of
           one), and an empty string an empty list
any        the value unchanged
=========  ==========================================================================

Date/time inputs: strptime patterns given in ``format`` (tried in order), ``iso``,
``epoch_s`` or ``epoch_ms`` (numbers or numeric strings). Without ``format`` strings are read
as ISO 8601 and numbers are refused (seconds or milliseconds would be a guess).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

__all__ = ["CoercionError", "coerce", "describe"]

_MAX_NUMBER_TEXT = 100  # longer numeric strings are refused (int() and Decimal() cost)
_MAX_EXPONENT = 60  # |adjusted exponent| of decimals we write out in full
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")
_TRUE = frozenset({"true", "t", "yes", "y", "1", "on", "是", "真", "对", "有"})
_FALSE = frozenset({"false", "f", "no", "n", "0", "off", "否", "假", "错", "无"})
_UTC = dt.UTC
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=_UTC)


class CoercionError(ValueError):
    """The value cannot become the declared type; the message says why."""


def describe(value: Any) -> str:
    """A short, safe rendering of a value for error messages."""
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    text = repr(value) if not isinstance(value, bool) else ("true" if value else "false")
    return text if len(text) <= 40 else text[:37] + "..."


def _number_text(value: str) -> str:
    text = value.strip()
    if len(text) > _MAX_NUMBER_TEXT:
        raise CoercionError(f"number text is longer than {_MAX_NUMBER_TEXT} characters")
    if _THOUSANDS.match(text):
        text = text.replace(",", "")
    return text


def _to_decimal(value: Any, target: str) -> Decimal:
    if isinstance(value, bool):
        raise CoercionError(f"expected {target}, got a boolean")
    try:
        if isinstance(value, Decimal):
            number = value
        elif isinstance(value, int):
            if abs(value) >= 10**_MAX_EXPONENT:
                raise CoercionError(f"{describe(value)} is out of range")
            number = Decimal(value)
        elif isinstance(value, float):
            number = Decimal(repr(value))
        elif isinstance(value, str):
            number = Decimal(_number_text(value))
        else:
            raise CoercionError(f"expected {target}, got {describe(value)}")
    except (InvalidOperation, ValueError) as exc:
        if isinstance(exc, CoercionError):
            raise
        raise CoercionError(f"expected {target}, got {describe(value)}") from None
    if not number.is_finite():
        raise CoercionError(f"expected {target}, got {describe(value)}")
    if number and abs(number.adjusted()) > _MAX_EXPONENT:
        raise CoercionError(f"{describe(value)} is out of range")
    return number


def _integer(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    number = _to_decimal(value, "an integer")
    if number != number.to_integral_value():
        raise CoercionError(f"expected an integer, got {describe(value)}")
    return int(number)


def _number(value: Any) -> float:
    if isinstance(value, float) and math.isfinite(value):
        return value
    result = float(_to_decimal(value, "a number"))
    if not math.isfinite(result):
        raise CoercionError(f"{describe(value)} is out of range")
    return result


def _decimal(value: Any) -> str:
    return format(_to_decimal(value, "a decimal number"), "f")


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float | Decimal) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise CoercionError(f"expected a boolean (true/false, 1/0, 是/否...), got {describe(value)}")


def _string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return str(int(value)) if value.is_integer() and abs(value) < 1e16 else repr(value)
    if isinstance(value, Decimal) and value.is_finite():
        return _decimal(value)
    raise CoercionError(f"expected text, got {describe(value)}")


def _from_epoch(value: Any, unit: str) -> dt.datetime:
    what = "a number of milliseconds" if unit == "epoch_ms" else "a number of seconds"
    number = _to_decimal(value, what)
    micros = number * (1000 if unit == "epoch_ms" else 1_000_000)
    try:
        return _EPOCH + dt.timedelta(microseconds=int(micros))
    except OverflowError:
        raise CoercionError(f"timestamp {describe(value)} is out of range") from None


def _parse_text(text: str, fmt: str) -> dt.datetime:
    if fmt == "iso":
        return dt.datetime.fromisoformat(text)
    if fmt in ("epoch_s", "epoch_ms"):
        return _from_epoch(text, fmt)
    return dt.datetime.strptime(text, fmt)


def _datetime(value: Any, formats: Sequence[str], zone: ZoneInfo) -> dt.datetime:
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime.combine(value, dt.time())
    elif isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        epoch = next((f for f in formats if f in ("epoch_s", "epoch_ms")), None)
        if epoch is None:
            raise CoercionError(
                f"got the number {describe(value)}: declare format epoch_s or epoch_ms"
            )
        moment = _from_epoch(value, epoch)
    elif isinstance(value, str):
        text = value.strip()
        tried = list(formats) or ["iso"]
        for fmt in tried:
            try:
                moment = _parse_text(text, fmt)
                break
            except (ValueError, OverflowError):
                continue
        else:
            expected = " or ".join(tried)
            raise CoercionError(f"{describe(value)} does not match format {expected}")
    else:
        raise CoercionError(f"expected a date/time, got {describe(value)}")
    try:
        if moment.tzinfo is None or moment.utcoffset() is None:
            return moment.replace(tzinfo=zone)
        return moment.astimezone(zone)
    except (OverflowError, ValueError):
        raise CoercionError(f"{describe(value)} is out of range") from None


def _date(value: Any, formats: Sequence[str], zone: ZoneInfo) -> str:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, str) and not formats:
        try:
            return dt.date.fromisoformat(value.strip()).isoformat()
        except ValueError:
            pass  # maybe a full timestamp
    return _datetime(value, formats, zone).date().isoformat()


def coerce(
    value: Any, type_: str, *, formats: Sequence[str] = (), zone: ZoneInfo | None = None
) -> Any:
    """``value`` as ``type_`` (see the module doc); raises :class:`CoercionError`."""
    zone = zone or ZoneInfo("Asia/Shanghai")
    if type_ == "any":
        return value
    if type_ == "string":
        return _string(value)
    if type_ == "integer":
        return _integer(value)
    if type_ == "number":
        return _number(value)
    if type_ == "decimal":
        return _decimal(value)
    if type_ == "boolean":
        return _boolean(value)
    if type_ == "datetime":
        return _datetime(value, formats, zone).isoformat()
    if type_ == "date":
        return _date(value, formats, zone)
    if type_ == "object":
        if not isinstance(value, dict):
            raise CoercionError(f"expected an object, got {describe(value)}")
        return value
    if type_ == "array":
        if isinstance(value, list):
            return value
        return [] if value == "" or value is None else [value]
    raise CoercionError(f"unknown type {type_!r}")
