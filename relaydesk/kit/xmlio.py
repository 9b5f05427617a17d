"""XML request and response bodies for integration resources (ERP, CRM, messaging gateways).

Conventions, shared by :func:`parse_xml` and :func:`render_xml` so that a document survives a
round trip (values come back as strings; pydantic validates and converts later):

* the root element's children are the fields: ``<request><name>x</name></request>``
  is ``{"name": "x"}``; repeated elements become a list;
* a list is an element holding ``<item>`` elements: ``<tags><item>a</item></tags>``;
  an empty list is rendered ``<tags type="array"/>``;
* null is ``nil="true"`` (``xsi:nil="true"`` is accepted too); an empty element is ``""``;
* attributes appear as ``"@name"`` keys, and the text of an element with attributes as
  ``"#text"`` (xmltodict's convention); ``xmlns`` declarations are dropped.

Parsing refuses DTDs, entity declarations and external references (the defences of
defusedxml, whose exception types are raised) and limits nesting depth, so billion-laughs,
XXE and stack-exhaustion payloads fail fast with :class:`~relaydesk.errors.BadRequest`.
"""

from __future__ import annotations

import base64
import codecs
import datetime as dt
import enum
import math
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any
from xml.parsers import expat

import xmltodict
from defusedxml import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden
from pydantic import BaseModel

from relaydesk.errors import BadRequest

__all__ = ["XML_MEDIA_TYPE", "parse_xml", "render_xml", "wants_xml"]

XML_MEDIA_TYPE = "application/xml"

# --------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------


class _TooDeep(Exception):
    def __init__(self, line: int) -> None:
        super().__init__(line)
        self.line = line


def _forbid_dtd(name: str, sysid: str | None, pubid: str | None, _subset: bool) -> None:
    raise DTDForbidden(name, sysid, pubid)


def _forbid_entity(
    name: str,
    _is_parameter: bool,
    value: str | None,
    base: str | None,
    sysid: str | None,
    pubid: str | None,
    notation: str | None,
) -> None:
    raise EntitiesForbidden(name, value, base, sysid, pubid, notation)


def _forbid_unparsed_entity(
    name: str, base: str | None, sysid: str | None, pubid: str | None, notation: str | None
) -> None:
    raise EntitiesForbidden(name, None, base, sysid, pubid, notation)


def _forbid_external(context: str, base: str | None, sysid: str | None, pubid: str | None) -> int:
    raise ExternalReferenceForbidden(context, base, sysid, pubid)


class _GuardedParser:
    """A pyexpat parser as xmltodict sees it: our guards stay put and depth is counted."""

    _GUARDS = frozenset(
        {
            "StartDoctypeDeclHandler",
            "EntityDeclHandler",
            "UnparsedEntityDeclHandler",
            "ExternalEntityRefHandler",
        }
    )

    def __init__(self, parser: Any, max_depth: int) -> None:
        parser.StartDoctypeDeclHandler = _forbid_dtd
        parser.EntityDeclHandler = _forbid_entity
        parser.UnparsedEntityDeclHandler = _forbid_unparsed_entity
        parser.ExternalEntityRefHandler = _forbid_external
        object.__setattr__(self, "_parser", parser)
        object.__setattr__(self, "_max_depth", max_depth)
        object.__setattr__(self, "_depth", 0)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._parser, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self._GUARDS:
            return  # xmltodict installs a laxer entity handler; ours refuses outright
        if name == "StartElementHandler":
            value = self._counting_start(value)
        elif name == "EndElementHandler":
            value = self._counting_end(value)
        setattr(self._parser, name, value)

    def _counting_start(self, inner: Callable[..., Any]) -> Callable[..., Any]:
        def start(name: str, attrs: Any) -> Any:
            depth = self._depth + 1
            if depth > self._max_depth:
                raise _TooDeep(self._parser.CurrentLineNumber)
            object.__setattr__(self, "_depth", depth)
            return inner(name, attrs)

        return start

    def _counting_end(self, inner: Callable[..., Any]) -> Callable[..., Any]:
        def end(name: str) -> Any:
            object.__setattr__(self, "_depth", self._depth - 1)
            return inner(name)

        return end


class _GuardedExpat:
    """Stands in for the ``expat`` module that xmltodict.parse() accepts."""

    def __init__(self, max_depth: int) -> None:
        self._max_depth = max_depth

    def ParserCreate(  # the name xmltodict calls
        self, encoding: str | None = None, namespace_separator: str | None = None
    ) -> _GuardedParser:
        return _GuardedParser(expat.ParserCreate(encoding, namespace_separator), self._max_depth)


# Encodings expat decodes itself; anything else declared is transcoded to UTF-8 first
# (Chinese systems often send GBK or GB18030, which expat cannot read).
_EXPAT_ENCODINGS = frozenset({"utf-8", "utf-16", "iso8859-1", "ascii"})
_DECLARED_ENCODING = re.compile(
    rb"""\A(\xef\xbb\xbf)?\s*<\?xml[^>]*?\bencoding\s*=\s*(["'])([A-Za-z][A-Za-z0-9._-]*)\2"""
)


def _to_expat_encoding(body: bytes) -> bytes:
    match = _DECLARED_ENCODING.match(body)
    if match is None:
        return body
    declared = match.group(3).decode("ascii")
    try:
        codec = codecs.lookup(declared).name
    except LookupError:
        raise BadRequest(
            f"XML declares an unsupported encoding {declared!r}",
            details={"encoding": declared},
        ) from None
    if codec in _EXPAT_ENCODINGS or codec.startswith("utf-16"):
        return body
    try:
        text = body[match.end() :].decode(codec)
    except UnicodeDecodeError as exc:
        raise BadRequest(
            f"XML body is not valid {declared} (byte {match.end() + exc.start})",
            details={"encoding": declared},
        ) from None
    # Same declaration, now saying UTF-8; the BOM (if any) is dropped with the old bytes.
    start = len(match.group(1) or b"")
    declaration = body[start : match.start(3)] + b"UTF-8" + body[match.end(3) : match.end()]
    return declaration + text.encode("utf-8")


def _malformed(exc: expat.ExpatError) -> BadRequest:
    line, column = exc.lineno, exc.offset + 1  # expat's column is 0-based
    reason = expat.ErrorString(exc.code) if exc.code is not None else str(exc)
    return BadRequest(
        f"Malformed XML at line {line}, column {column}: {reason}",
        details={"line": line, "column": column, "reason": reason},
    )


def parse_xml(body: bytes, *, max_depth: int = 32) -> dict[str, Any]:
    """The fields of an XML document: its root element's children as a dict of strings.

    Raises :class:`BadRequest` on malformed XML (with line and column), on any DTD, entity
    declaration or external reference, on nesting deeper than ``max_depth`` elements (the
    root counts as one), and when the root holds text or a bare list instead of fields.
    """
    source = _to_expat_encoding(body)
    try:
        parsed = xmltodict.parse(
            source,
            expat=_GuardedExpat(max_depth),
            strip_whitespace=False,
            disable_entities=True,
        )
    except DTDForbidden:
        raise BadRequest("XML document type declarations (DTDs) are not allowed") from None
    except EntitiesForbidden:
        raise BadRequest("XML entity declarations are not allowed") from None
    except ExternalReferenceForbidden:
        raise BadRequest("XML external references are not allowed") from None
    except _TooDeep as exc:
        raise BadRequest(
            f"XML is nested deeper than {max_depth} elements (at line {exc.line})",
            details={"max_depth": max_depth, "line": exc.line},
        ) from None
    except expat.ExpatError as exc:
        raise _malformed(exc) from None
    except ValueError as exc:  # e.g. an encoding expat cannot handle
        raise BadRequest(f"XML could not be parsed: {exc}") from None

    if not isinstance(parsed, dict) or len(parsed) != 1:
        raise BadRequest("XML must have exactly one root element")
    ((root, content),) = parsed.items()
    fields = _normalise(content)
    if fields is None or fields == "" or (isinstance(fields, str) and not fields.strip()):
        return {}
    if isinstance(fields, dict):
        return fields
    if isinstance(fields, list):
        raise BadRequest(
            f"XML root <{root}> must contain named fields, not a list of <item> elements"
        )
    raise BadRequest(f"XML root <{root}> must contain child elements, not text")


def _is_blank(text: Any) -> bool:
    return text is None or (isinstance(text, str) and not text.strip())


def _normalise(value: Any) -> Any:
    """xmltodict's output -> our conventions (lists, nil, empty strings, no xmlns noise)."""
    if value is None:
        return ""  # <a/> or <a></a>
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return [_normalise(item) for item in value]

    attrs: dict[str, Any] = {}
    children: dict[str, Any] = {}
    text: Any = None
    for key, item in value.items():
        if key == "#text":
            text = item
        elif key.startswith("@"):
            if key != "@xmlns" and not key.startswith("@xmlns:"):
                attrs[key] = item
        elif not key.startswith("#"):
            children[key] = item

    nil = attrs.pop("@nil", None) or attrs.pop("@xsi:nil", None)
    attrs.pop("@xsi:nil", None)
    if isinstance(nil, str) and nil.strip() in ("true", "1"):
        return None
    is_array = attrs.get("@type") == "array"
    if is_array:
        del attrs["@type"]
    if (children or attrs) and _is_blank(text):
        text = None  # indentation between child elements

    if is_array or (set(children) == {"item"} and not attrs and text is None):
        items = children.get("item", [])
        if not isinstance(items, list):
            items = [items]
        return [_normalise(item) for item in items]
    if not children and not attrs:
        return "" if text is None else text
    result: dict[str, Any] = dict(attrs)
    result.update((key, _normalise(item)) for key, item in children.items())
    if text is not None:
        result["#text"] = text
    return result


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
