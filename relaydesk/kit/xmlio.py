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

import codecs
import re
from collections.abc import Callable
from typing import Any
from xml.parsers import expat

import xmltodict
from defusedxml import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden

from relaydesk.errors import BadRequest
from relaydesk.kit.xml_render import render_xml, wants_xml  # rendering, negotiation

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
