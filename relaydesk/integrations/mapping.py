"""Field mapping: from an external system's payload to Relaydesk's fields.

An action's response goes through three steps, each reporting problems instead of raising:

1. :func:`decode_body` turns the raw body into data (JSON; XML through
   :func:`relaydesk.kit.xmlio.parse_xml`, so XML and JSON payloads map the same way; text);
2. ``response.select`` (JMESPath) picks the record, or the list of records with ``many``;
3. :func:`apply_mapping` evaluates each field's JMESPath expression, applies its ``values``
   map, default and required rules, and coerces it (:mod:`relaydesk.integrations.coercion`).

Every error is located by output field path: ``paid_at``, ``items[3].price``, or
``[2].paid_at`` for the third record of a list. A field in error is null in the output, so
the rest of the record stays usable (and previewable).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal
from zoneinfo import ZoneInfo

from jmespath.exceptions import JMESPathError

from relaydesk.errors import BadRequest
from relaydesk.integrations.coercion import CoercionError, coerce, describe
from relaydesk.integrations.spec_models.action import ActionSpec
from relaydesk.integrations.spec_models.base import compile_jmespath, jmespath_reason, value_key
from relaydesk.integrations.spec_models.mapping import FieldSpec, MappingSpec
from relaydesk.kit.xmlio import parse_xml

__all__ = [
    "BodyDecodeError",
    "MappingError",
    "MappingResult",
    "apply_mapping",
    "apply_response",
    "decode_body",
    "select",
]

BodyFormat = Literal["json", "xml", "text"]


@dataclass(frozen=True, slots=True)
class MappingError:
    """One problem, at an output field path (``""`` is the selected value as a whole)."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path or '(root)'}: {self.message}"


@dataclass(slots=True)
class MappingResult:
    value: Any
    errors: list[MappingError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


class BodyDecodeError(ValueError):
    """The body is not valid JSON/XML; the message says where."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


_JSON = json.JSONDecoder(parse_constant=_reject_constant)  # one decoder, not one per body


def decode_body(body: bytes, fmt: BodyFormat) -> Any:
    """The response body as data: JSON, XML (as a dict, see :mod:`relaydesk.kit.xmlio`) or text.

    An empty JSON body is null. Raises :class:`BodyDecodeError` with the reason.
    """
    if fmt == "text":
        return body.decode("utf-8", errors="replace")
    if fmt == "xml":
        try:
            return parse_xml(body)
        except BadRequest as exc:
            raise BodyDecodeError(exc.message) from None
    if not body.strip():
        return None
    try:
        return _JSON.decode(body.decode(json.detect_encoding(body), "surrogatepass"))
    except json.JSONDecodeError as exc:
        raise BodyDecodeError(
            f"not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise BodyDecodeError(f"not valid JSON: {exc}") from None
    except RecursionError:
        raise BodyDecodeError("JSON is nested too deeply") from None


def select(expression: str | None, data: Any) -> Any:
    """``data`` narrowed by a JMESPath expression (or unchanged without one).

    Raises :class:`jmespath.exceptions.JMESPathError` when evaluation fails (e.g. a function
    applied to the wrong type).
    """
    if not expression:
        return data
    return compile_jmespath(expression).search(data)


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _is_missing(raw: Any, spec: FieldSpec) -> bool:
    if raw is None:
        return True
    # XML gives "" for an empty element: for typed fields that means "no value".
    return raw == "" and spec.type not in ("string", "any", "array")


class _Mapper:
    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone
        self.errors: list[MappingError] = []

    def error(self, path: str, message: str) -> None:
        self.errors.append(MappingError(path, message))

    def record(self, fields: dict[str, FieldSpec], data: Any, prefix: str, zone: ZoneInfo) -> Any:
        return {
            name: self.field(spec, data, _join(prefix, name), zone) for name, spec in fields.items()
        }

    def field(self, spec: FieldSpec, data: Any, path: str, zone: ZoneInfo) -> Any:
        try:
            raw = compile_jmespath(spec.expr).search(data)
        except JMESPathError as exc:
            self.error(path, f"expression {spec.expr!r} failed: {jmespath_reason(exc)}")
            return None
        return self.convert(spec, raw, path, ZoneInfo(spec.timezone) if spec.timezone else zone)

    def default(self, spec: FieldSpec, path: str, zone: ZoneInfo) -> Any:
        if spec.default is None:
            return None
        try:
            return coerce(spec.default, spec.type, formats=spec.formats, zone=zone)
        except CoercionError as exc:
            self.error(path, f"default: {exc}")
            return None

    def convert(self, spec: FieldSpec, raw: Any, path: str, zone: ZoneInfo) -> Any:
        if _is_missing(raw, spec):
            if spec.has_default:
                return self.default(spec, path, zone)
            if spec.required:
                self.error(path, f"required, but {spec.expr!r} gave no value")
            return None
        if spec.values is not None:
            key = value_key(raw)
            if key is not None and key in spec.values:
                raw = spec.values[key]
                if raw is None:
                    return None
            elif spec.has_default:
                return self.default(spec, path, zone)
            else:
                known = ", ".join(repr(k) for k in list(spec.values)[:10])
                more = ", ..." if len(spec.values) > 10 else ""
                self.error(path, f"unmapped value {describe(raw)} (expected one of {known}{more})")
                return None
        try:
            value = coerce(raw, spec.type, formats=spec.formats, zone=zone)
        except CoercionError as exc:
            self.error(path, str(exc))
            return None
        if spec.fields is not None:
            if spec.type == "object":
                return self.record(spec.fields, value, path, zone)
            return [
                self.record(spec.fields, item, f"{path}[{index}]", zone)
                for index, item in enumerate(value)
            ]
        return value


def apply_mapping(mapping: MappingSpec, data: Any, *, many: bool) -> MappingResult:
    """Map one record (``many=False``) or each record of a list; never raises on bad data.

    With ``many``, null is an empty list and a single object a list of one (XML). Without
    it, null (nothing selected) maps to null and a list is an error.
    """
    zone = ZoneInfo(mapping.timezone)
    mapper = _Mapper(zone)
    if many:
        if data is None or data == "":
            records: list[Any] = []
        elif isinstance(data, list):
            records = data
        elif isinstance(data, dict):
            records = [data]
        else:
            mapper.error("", f"expected a list of records, got {describe(data)}")
            return MappingResult(None, mapper.errors)
        value: Any = [
            mapper.record(mapping.fields, record, f"[{index}]", zone)
            for index, record in enumerate(records)
        ]
    elif data is None:
        value = None
    elif isinstance(data, list):
        mapper.error("", "expected one record, got a list (declare many: true for lists)")
        return MappingResult(None, mapper.errors)
    else:
        value = mapper.record(mapping.fields, data, "", zone)
    return MappingResult(value, mapper.errors)


def apply_response(action: ActionSpec, data: Any) -> MappingResult:
    """An action's ``response.select`` and ``mapping`` applied to decoded response data."""
    try:
        selected = select(action.response.select, data)
    except JMESPathError as exc:
        message = f"select {action.response.select!r} failed: {jmespath_reason(exc)}"
        return MappingResult(None, [MappingError("", message)])
    if action.mapping is not None:
        return apply_mapping(action.mapping, selected, many=action.many)
    if action.many:
        if selected is None:
            return MappingResult([])
        if isinstance(selected, dict):
            return MappingResult([selected])
        if not isinstance(selected, list):
            return MappingResult(
                None, [MappingError("", f"expected a list of records, got {describe(selected)}")]
            )
    return MappingResult(selected)
