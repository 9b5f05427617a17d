"""What a callback says: its body parsed (JSON, XML or a form) and its event id, type,
entity key and version read with the spec's JMESPath expressions (see hooks_api.py, which
re-exports the public names)."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

from jmespath.exceptions import JMESPathError

from relaydesk.errors import BadRequest
from relaydesk.integrations.inbox import version_order
from relaydesk.integrations.mapping import BodyDecodeError, decode_body
from relaydesk.integrations.spec import CallbackSpec
from relaydesk.integrations.spec_models.base import compile_jmespath, value_key
from relaydesk.integrations.spec_models.mapping import DEFAULT_TIMEZONE

__all__ = ["CallbackEvent", "event_field", "parse_body", "read_event"]

_LIMITS = {"event_id": 200, "event_type": 100, "entity_key": 200, "entity_version": 64}


def _malformed(message: str) -> BadRequest:
    return BadRequest(message, code="malformed_body")


# --- body and event fields -------------------------------------------------------------------


def parse_body(body: bytes, content_type: str) -> dict[str, Any]:
    """The callback body as a dict: JSON object, XML (root's children) or a urlencoded form."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/x-www-form-urlencoded":
        try:
            return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError as exc:
            raise _malformed(f"form body is not UTF-8 (byte {exc.start})") from None
    xml = media in ("application/xml", "text/xml") or media.endswith("+xml")
    if not xml and media in ("", "text/plain", "application/octet-stream"):
        xml = body.lstrip()[:1] == b"<"  # no useful content type: sniff
    try:
        data = decode_body(body, "xml" if xml else "json")
    except BodyDecodeError as exc:
        raise _malformed(f"callback body: {exc}") from None
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a JSON {type(data).__name__}"
        raise _malformed(f"callback body must be a JSON object or XML document, got {kind}")
    return data


@dataclass(frozen=True, slots=True)
class CallbackEvent:
    event_id: str
    event_type: str | None  # None: the spec maps this event to nothing (ignored)
    entity_key: str | None
    entity_version: str | None


_PLAIN_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


@functools.lru_cache(maxsize=1024)
def _reader(expression: str) -> Callable[[Any], Any]:
    """``expression``'s search function; plain dotted field paths skip the JMESPath
    interpreter (same result: a missing field or a non-object on the way gives None)."""
    if not _PLAIN_PATH.fullmatch(expression):
        search: Callable[[Any], Any] = compile_jmespath(expression).search
        return search
    names = expression.split(".")

    def read(data: Any) -> Any:
        for name in names:
            if not isinstance(data, dict):
                return None
            data = data.get(name)
        return data

    return read


def event_field(expression: str | None, data: Mapping[str, Any], name: str) -> str | None:
    """The value at ``expression`` as trimmed text (None when missing or blank); 400 when
    it is an object or a list, or too long for its column."""
    if not expression:
        return None
    try:
        value = _reader(expression)(data)
    except JMESPathError as exc:
        raise _malformed(f"{name} ({expression!r}) could not be read: {exc}") from None
    if isinstance(value, dict | list):
        raise _malformed(f"{name} ({expression!r}) must be a single value, not an object or list")
    text = value_key(value)
    if text is None or not text.strip():
        return None
    text = text.strip()
    if len(text) > _LIMITS[name]:
        raise _malformed(f"{name} is longer than {_LIMITS[name]} characters")
    return text


def read_event(
    callback: CallbackSpec, data: Mapping[str, Any], *, fallback_id: str | None = None
) -> CallbackEvent:
    """Event id, canonical type, entity key and version, per the callback's spec."""
    event_id = event_field(callback.event_id, data, "event_id") or fallback_id
    if not event_id:
        raise BadRequest(
            f"the callback has no event id at {callback.event_id!r}", code="missing_event_id"
        )
    if isinstance(callback.event_type, str):
        event_type: str | None = callback.event_type
    else:
        raw = event_field(callback.event_type.expr, data, "event_type")
        event_type = callback.event_type.values.get(raw or "", callback.event_type.default)
    key = event_field(callback.entity_key, data, "entity_key")
    version = event_field(callback.entity_version, data, "entity_version")
    if version is not None:
        zone = callback.mapping.timezone if callback.mapping else DEFAULT_TIMEZONE
        try:
            version_order(version, ZoneInfo(zone))
        except ValueError as exc:
            raise _malformed(f"entity_version: {exc}") from None
    return CallbackEvent(event_id, event_type, key, version)
