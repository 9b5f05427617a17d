"""OpenAPI helpers for the customer routes: every body and answer also as XML.

The customer resource is negotiated (relaydesk.kit.xml_negotiation): XML bodies have the root
``<request>`` (any name is accepted), answers ``<response>`` or ``<error>``, lists ``<item>``.
"""

from __future__ import annotations

from typing import Any

from relaydesk.kit.schemas import COMMON_ERRORS, error_responses
from relaydesk.kit.xmlio import XML_MEDIA_TYPE

_XML_TYPES = (XML_MEDIA_TYPE, "text/xml")


def xml_content(component: str, root: str) -> dict[str, Any]:
    schema = {"$ref": f"#/components/schemas/{component}", "xml": {"name": root}}
    return {media: {"schema": schema} for media in _XML_TYPES}


def responses(
    success: int | None, component: str | None = None, *, conflict: bool = False
) -> dict[int | str, Any]:
    """The error answers (JSON and XML), plus the success answer's XML form."""
    errors = {**COMMON_ERRORS, **(error_responses(409) if conflict else {})}
    out: dict[int | str, Any] = {
        code: {**spec, "content": xml_content("ErrorBody", "error")}
        for code, spec in errors.items()
    }
    if success is not None and component is not None:
        out[success] = {"content": xml_content(component, "response")}
    return out


def xml_body(component: str) -> dict[str, Any]:
    return {"requestBody": {"content": xml_content(component, "request")}}
