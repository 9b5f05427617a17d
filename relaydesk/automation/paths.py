"""Paths into a rule's context: ``event.payload.order_no``, ``customer.attributes.tier``,
``lookup.order.status``, ``steps.find.output.items[0].sku``.

A path is a JMESPath expression (docs/decisions/0005-mapping-language.md) whose first field
names a root of the context. Plain dotted paths (the common case) are walked directly, which
is several times faster than a JMESPath search; anything else is compiled once and searched.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jmespath.exceptions import JMESPathError

from relaydesk.integrations.spec_models.base import compile_jmespath, jmespath_reason

__all__ = ["Path", "PathError", "compile_path"]

_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_ROOT = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)")
MAX_PATH = 300


class PathError(ValueError):
    pass


@dataclass(frozen=True)
class Path:
    text: str
    root: str
    parts: tuple[str, ...] | None  # set for plain dotted paths
    compiled: Any = None  # a jmespath ParsedResult otherwise

    def get(self, context: Mapping[str, Any]) -> Any:
        if self.parts is not None:
            value: Any = context
            for part in self.parts:
                if type(value) is not dict and not isinstance(value, Mapping):
                    return None
                value = value.get(part)
                if value is None:
                    return None
            return value
        try:
            return self.compiled.search(dict(context))
        except JMESPathError:
            return None


def compile_path(text: str, roots: frozenset[str]) -> Path:
    """Check and compile ``text``; :class:`PathError` says why it is refused."""
    if not isinstance(text, str) or not text.strip():
        raise PathError("a path is required, e.g. event.payload.order_no")
    text = text.strip()
    if len(text) > MAX_PATH:
        raise PathError(f"at most {MAX_PATH} characters")
    lead = _ROOT.match(text)
    root = lead.group(1) if lead else ""
    if root not in roots:
        raise PathError(f"must start with one of {', '.join(sorted(roots))} (got {text!r})")
    if _DOTTED.match(text):
        return Path(text, root, tuple(text.split(".")))
    try:
        compiled = compile_jmespath(text)
    except JMESPathError as exc:
        raise PathError(f"not a valid path: {jmespath_reason(exc)}") from None
    return Path(text, root, None, compiled)
