"""``{{ expr }}`` templates in connector specs: JMESPath over ``{params, config, result, now}``.

* A string that is exactly one ``{{ expr }}`` yields the raw value, so ``"{{ params.page }}"``
  stays the integer 2 and ``"{{ params.items }}"`` stays a list. Dates, times, decimals and
  UUIDs become strings (ISO 8601, exact digits), so every result is JSON-ready.
* In a longer string each ``{{ expr }}`` is replaced by its text: null is ``""``, booleans
  ``true``/``false``, lists and objects compact JSON (non-ASCII kept as is).
* Dicts and lists are rendered recursively (values only, keys are literal); other values are
  returned unchanged.
* ``url_encode=True`` (request paths) percent-encodes every interpolated value, so ``/`` or
  ``?`` in a parameter cannot change the path; the result is then always a string.

Templates are data, never code: JMESPath has no side effects, loops or attribute access.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from jmespath.exceptions import JMESPathError

from relaydesk.integrations.spec_models.base import compile_jmespath, jmespath_reason

__all__ = ["TemplateError", "has_template", "render", "template_references", "to_text"]

_TEMPLATE = re.compile(r"\{\{\s*(.+?)\s*\}\}", re.DOTALL)


class TemplateError(ValueError):
    """A ``{{ }}`` holds an invalid JMESPath expression, or evaluating it failed."""


def has_template(value: Any) -> bool:
    """Whether a string (or any string inside a dict/list) contains ``{{ }}``."""
    if isinstance(value, str):
        return _TEMPLATE.search(value) is not None
    if isinstance(value, Mapping):
        return any(has_template(item) for item in value.values())
    if isinstance(value, list | tuple):
        return any(has_template(item) for item in value)
    return False


def _evaluate(expression: str, context: Mapping[str, Any]) -> Any:
    try:
        return compile_jmespath(expression).search(dict(context))
    except JMESPathError as exc:
        raise TemplateError(f"{{{{ {expression} }}}}: {jmespath_reason(exc)}") from None


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.date | dt.time):  # datetime is a date
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f") if value.is_finite() else str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Mapping):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    return value


def to_text(value: Any) -> str:
    """How a value reads inside a longer string."""
    value = _jsonable(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def _render_string(template: str, context: Mapping[str, Any], url_encode: bool) -> Any:
    if not url_encode:
        matches = list(_TEMPLATE.finditer(template))
        if len(matches) == 1 and matches[0].span() == (0, len(template)):
            return _jsonable(_evaluate(matches[0].group(1), context))

    def replace(match: re.Match[str]) -> str:
        text = to_text(_evaluate(match.group(1), context))
        return quote(text, safe="") if url_encode else text

    return _TEMPLATE.sub(replace, template)


def render(template: Any, context: Mapping[str, Any], *, url_encode: bool = False) -> Any:
    """``template`` with every ``{{ expr }}`` evaluated against ``context`` (see module doc).

    Raises :class:`TemplateError` when an expression is invalid or fails to evaluate.
    """
    if isinstance(template, str):
        if "{{" not in template:
            return template
        return _render_string(template, context, url_encode)
    if isinstance(template, Mapping):
        return {key: render(item, context, url_encode=url_encode) for key, item in template.items()}
    if isinstance(template, list | tuple):
        return [render(item, context, url_encode=url_encode) for item in template]
    return template


# --------------------------------------------------------------------------------------
# References, for the spec's cross-checks
# --------------------------------------------------------------------------------------

_CHAINS = frozenset(
    {"index_expression", "projection", "value_projection", "filter_projection", "flatten"}
)


def _lead(node: Mapping[str, Any]) -> list[str]:
    """The field names a root-evaluated node starts with (``params.items[0]`` → params, items)."""
    kind = node.get("type")
    if kind == "field":
        return [str(node["value"])]
    children = node.get("children") or []
    if kind == "subexpression":
        path: list[str] = []
        for child in children:
            part = _lead(child)
            if not part:
                break
            path += part
            if child.get("type") != "field":
                break
        return path
    if kind in _CHAINS and children:
        return _lead(children[0])
    return []


def _collect(node: Mapping[str, Any], out: set[str]) -> None:
    kind = node.get("type")
    children = node.get("children") or []
    if kind == "field" or kind == "subexpression" or kind in _CHAINS:
        path = _lead(node)
        if path:
            out.add(".".join(path))
        elif children:
            _collect(children[0], out)  # e.g. length(params.x).y: the call is root-evaluated
        return
    if kind == "pipe":
        if children:
            _collect(children[0], out)  # the right side reads the left side's result
        return
    if kind == "expref":
        return  # &expr is evaluated against elements, not the root
    for child in children:
        if isinstance(child, Mapping):
            _collect(child, out)


def template_references(template: Any) -> set[str]:
    """Dotted paths the templates in ``template`` read from the context.

    ``"/orders/{{ params.order_no }}?{{ config.shop }}"`` → ``{"params.order_no",
    "config.shop"}``. Raises :class:`TemplateError` for an invalid expression.
    """
    out: set[str] = set()
    if isinstance(template, str):
        for match in _TEMPLATE.finditer(template):
            expression = match.group(1)
            try:
                parsed = compile_jmespath(expression).parsed
            except JMESPathError as exc:
                raise TemplateError(f"{{{{ {expression} }}}}: {jmespath_reason(exc)}") from None
            _collect(parsed, out)
    elif isinstance(template, Mapping):
        for item in template.values():
            out |= template_references(item)
    elif isinstance(template, list | tuple):
        for item in template:
            out |= template_references(item)
    return out
