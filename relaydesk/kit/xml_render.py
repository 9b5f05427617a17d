"""Rendering XML response bodies and negotiating XML vs JSON (``Accept``).

The conventions are those of :mod:`relaydesk.kit.xmlio` (which re-exports what is public
here), so that a rendered document parses back to the same fields.
"""

from __future__ import annotations

import base64
import datetime as dt
import enum
import math
import re
import uuid
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

__all__ = ["render_xml", "wants_xml"]

# --------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------

_NAME_START = (
    "A-Z_a-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u02ff\u0370-\u037d\u037f-\u1fff\u200c-\u200d"
    "\u2070-\u218f\u2c00-\u2fef\u3001-\ud7ff\uf900-\ufdcf\ufdf0-\ufffd\U00010000-\U000effff"
)
_NAME_CHAR = _NAME_START + r"\-.0-9\u00b7\u0300-\u036f\u203f-\u2040"
_NOT_NAME_CHAR = re.compile(f"[^{_NAME_CHAR}]")
_NAME_START_RE = re.compile(f"[{_NAME_START}]")
# Characters XML 1.0 cannot carry at all, even escaped.
_INVALID_CHAR = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_TEXT_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})
_ATTR_ESCAPES = str.maketrans(
    {
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        '"': "&quot;",
        "\r": "&#13;",
        "\n": "&#10;",
        "\t": "&#9;",
    }
)


def _xml_name(key: Any) -> str:
    """A valid XML element name for a dict key (no colons: we use no namespaces)."""
    name = _NOT_NAME_CHAR.sub("_", str(key))
    if not name or not _NAME_START_RE.match(name):
        name = "_" + name
    return name


def _text(value: str) -> str:
    return _INVALID_CHAR.sub("\ufffd", value).translate(_TEXT_ESCAPES)


def _attr(value: str) -> str:
    return _INVALID_CHAR.sub("\ufffd", value).translate(_ATTR_ESCAPES)


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "INF" if value > 0 else "-INF"
        return repr(value)
    if isinstance(value, int | Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, dt.date | dt.time):  # datetime is a date
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return _scalar(value.value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    return str(value)


def _is_sequence(value: Any) -> bool:
    return isinstance(value, list | tuple | set | frozenset) or (
        isinstance(value, Iterable)
        and not isinstance(value, str | bytes | bytearray | memoryview | Mapping)
        and not isinstance(value, enum.Enum)
    )


def _render(out: list[str], name: str, value: Any) -> None:
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    if value is None:
        out.append(f'<{name} nil="true"/>')
    elif isinstance(value, Mapping):
        attrs = "".join(
            f' {_xml_name(key[1:])}="{_attr(_scalar(item))}"'
            for key, item in value.items()
            if isinstance(key, str) and key.startswith("@") and item is not None
        )
        out.append(f"<{name}{attrs}>")
        for key, item in value.items():
            if key == "#text":
                if item is not None:
                    out.append(_text(_scalar(item)))
            elif not (isinstance(key, str) and key.startswith("@")):
                _render(out, _xml_name(key), item)
        out.append(f"</{name}>")
    elif _is_sequence(value):
        items = list(value)
        if not items:
            out.append(f'<{name} type="array"/>')
            return
        out.append(f"<{name}>")
        for item in items:
            _render(out, "item", item)
        out.append(f"</{name}>")
    else:
        out.append(f"<{name}>{_text(_scalar(value))}</{name}>")


def render_xml(data: Any, root: str = "response") -> bytes:
    """``data`` (dicts, lists, scalars, pydantic models) as a UTF-8 XML document."""
    out = ['<?xml version="1.0" encoding="UTF-8"?>\n']
    _render(out, _xml_name(root), data)
    return "".join(out).encode("utf-8")


# --------------------------------------------------------------------------------------
# Content negotiation
# --------------------------------------------------------------------------------------

_XML_TYPES = (("application", "xml"), ("text", "xml"))
_JSON_TYPE = ("application", "json")


def _accept_ranges(header: str) -> list[tuple[str, str, float]]:
    ranges: list[tuple[str, str, float]] = []
    for part in header.split(","):
        media, *params = part.split(";")
        media = media.strip().lower()
        if media == "*":  # seen from old clients; means */*
            media = "*/*"
        kind, slash, subtype = media.partition("/")
        if not slash or not kind or not subtype:
            continue
        quality = 1.0
        for param in params:
            pname, _, pvalue = param.partition("=")
            if pname.strip().lower() == "q":
                try:
                    quality = float(pvalue.strip())
                except ValueError:
                    quality = 0.0  # unreadable weight: ignore the range
                if not 0.0 <= quality <= 1.0:  # also false for NaN
                    quality = 0.0
        ranges.append((kind, subtype.strip(), quality))
    return ranges


def _preference(ranges: list[tuple[str, str, float]], media: tuple[str, str]) -> tuple[float, int]:
    """(quality, specificity) the client gives ``media``: the most specific range decides."""
    best: tuple[int, float] | None = None
    for kind, subtype, quality in ranges:
        if (kind, subtype) == media:
            specificity = 2
        elif kind == media[0] and subtype == "*":
            specificity = 1
        elif kind == "*" and subtype == "*":
            specificity = 0
        else:
            continue
        if best is None or specificity > best[0] or (specificity == best[0] and quality > best[1]):
            best = (specificity, quality)
    return (0.0, -1) if best is None else (best[1], best[0])


def wants_xml(accept_header: str | None) -> bool:
    """True when the client prefers application/xml or text/xml to JSON.

    Higher q wins; at equal q a range naming the type beats a wildcard (``application/xml,
    */*`` is XML); a tie otherwise, ``*/*`` and a missing header mean JSON. A browser's
    page request (one accepting text/html) gets JSON, although browsers rank
    application/xml above ``*/*``.
    """
    if not accept_header or not accept_header.strip():
        return False
    ranges = _accept_ranges(accept_header)
    html_quality, html_specificity = _preference(ranges, ("text", "html"))
    if html_specificity == 2 and html_quality > 0:
        return False
    xml = max(_preference(ranges, media) for media in _XML_TYPES)
    json = _preference(ranges, _JSON_TYPE)
    return xml[0] > 0 and xml > json
