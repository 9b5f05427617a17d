"""Checking a connector action's parameters as an administrator configures them (a Customer 360
panel, a priority rule): each parameter is either a literal, validated against the action's
parameter schema now, or a template that may read only the given roots (``customer``...).
Every problem is a 422 located under ``body.params.<name>``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from relaydesk.errors import ValidationFailed
from relaydesk.integrations.spec import ConnectorSpec, validate_params
from relaydesk.integrations.templating import TemplateError, has_template, template_references

__all__ = ["check_action_params", "invalid"]


def invalid(loc: Sequence[str | int], message: str) -> ValidationFailed:
    """A 422 about the request body's field at ``loc``."""
    where = ".".join(str(p) for p in loc)
    return ValidationFailed(
        f"{where}: {message}",
        details=[{"loc": ["body", *loc], "msg": message, "type": "value_error"}],
    )


def check_action_params(
    spec: ConnectorSpec, action_name: str, params: dict[str, Any], roots: Collection[str]
) -> None:
    """Unknown or missing parameters, bad literals, templates reading outside ``roots``."""
    action = spec.action(action_name)
    literals: dict[str, Any] = {}
    for name, value in params.items():
        if name not in action.params:
            raise invalid(["params", name], f"not a parameter of {spec.name}.{action_name} "
                          f"(one of {', '.join(action.params) or 'none'})")  # fmt: skip
        if not has_template(value):
            literals[name] = value
            continue
        try:
            references = template_references(value)
        except TemplateError as exc:
            raise invalid(["params", name], str(exc)) from None
        for ref in sorted(references):
            if ref.split(".", 1)[0] not in roots:
                allowed = " or ".join(sorted(roots))
                raise invalid(["params", name], f"a template may read {allowed} only, "
                              f"not {ref!r}")  # fmt: skip
    for name, param in action.params.items():
        if param.required and name not in params:
            raise invalid(["params", name], f"required by {spec.name}.{action_name}")
    try:
        validate_params(spec, action_name, literals)
    except ValidationFailed as exc:
        for detail in exc.details or []:
            loc = detail.get("loc") or []
            if len(loc) > 1 and loc[1] in literals:
                raise invalid(["params", *loc[1:]], str(detail.get("msg"))) from None
