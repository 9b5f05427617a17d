"""Building blocks shared by every section of a connector spec."""

from __future__ import annotations

import functools
import re
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jmespath
from jmespath.exceptions import (
    IncompleteExpressionError,
    JMESPathError,
    LexerError,
    ParseError,
)
from jmespath.functions import Functions
from jmespath.parser import ParsedResult
from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints

#: connector names: they appear in permissions (``connector_action:<name>.<action>``) and URLs
CONNECTOR_NAME = r"^[a-z][a-z0-9_-]{0,62}$"
#: action and callback names
ACTION_NAME = r"^[a-z][a-z0-9_]{0,62}$"
#: parameter and config names: plain JMESPath identifiers, so ``params.order_no`` works unquoted
IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_]{0,62}$"

ConnectorName = Annotated[str, StringConstraints(pattern=CONNECTOR_NAME)]
ActionName = Annotated[str, StringConstraints(pattern=ACTION_NAME)]
Identifier = Annotated[str, StringConstraints(pattern=IDENTIFIER)]


class SpecModel(BaseModel):
    """Every spec section refuses unknown fields: a typo is an error, not a silent no-op."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=False)


@functools.lru_cache(maxsize=4096)
def compile_jmespath(expression: str) -> ParsedResult:
    """A compiled JMESPath expression, cached (specs reuse the same few hundred)."""
    return jmespath.compile(expression)


_FUNCTIONS: frozenset[str] = frozenset(Functions().FUNCTION_TABLE)


def jmespath_reason(exc: Exception) -> str:
    """A one-line reason for a JMESPath compile or evaluation error."""
    if isinstance(exc, IncompleteExpressionError):
        return "incomplete expression"
    if isinstance(exc, ParseError):
        return f"{exc.msg} (at position {exc.lex_position})"
    if isinstance(exc, LexerError):
        return f"{exc.message} (at position {exc.lexer_position})"
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _unknown_functions(node: Any) -> set[str]:
    if not isinstance(node, dict):
        return set()
    found = set()
    if node.get("type") == "function_expression" and node.get("value") not in _FUNCTIONS:
        found.add(str(node.get("value")))
    for child in node.get("children") or []:
        found |= _unknown_functions(child)
    return found


def _check_jmespath(value: str) -> str:
    if not value.strip():
        raise ValueError("empty JMESPath expression")
    try:
        parsed = compile_jmespath(value)
    except JMESPathError as exc:
        raise ValueError(f"invalid JMESPath expression {value!r}: {jmespath_reason(exc)}") from None
    unknown = _unknown_functions(parsed.parsed)
    if unknown:
        names = ", ".join(f"{name}()" for name in sorted(unknown))
        raise ValueError(f"JMESPath expression {value!r} calls unknown function(s) {names}")
    return value


def _check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        message = f"unknown time zone {value!r} (use an IANA name such as Asia/Shanghai)"
        raise ValueError(message) from None
    return value


def _check_regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"invalid regular expression {value!r}: {exc}") from None
    return value


#: a JMESPath expression, checked when the spec is loaded
JmesPath = Annotated[str, AfterValidator(_check_jmespath)]
#: an IANA time zone name
TimeZoneName = Annotated[str, AfterValidator(_check_timezone)]
#: a Python regular expression
Regex = Annotated[str, AfterValidator(_check_regex)]


def value_key(value: Any) -> str | None:
    """The string a scalar is looked up by in a ``values:`` map (``1`` and ``"1"`` match).

    Booleans are ``"true"``/``"false"``; integral floats lose their ``.0``; containers and
    null have no key.
    """
    if value is None or isinstance(value, dict | list):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
