"""Cross-field checks of a connector spec, beyond what each section's model checks alone.

They run even when pydantic rejected part of the spec: sections and actions that are valid
on their own are still checked, and template references are read from the raw document, so
one run lists every problem. Each problem is ``(loc, message)`` with a pydantic-style loc.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ValidationError

from relaydesk.integrations.coercion import CoercionError, coerce
from relaydesk.integrations.spec_models.action import ActionSpec
from relaydesk.integrations.spec_models.callback import CallbackSpec
from relaydesk.integrations.spec_models.mapping import FieldSpec, MappingSpec
from relaydesk.integrations.templating import TemplateError, template_references

Loc = tuple[str | int, ...]
Problem = tuple[Loc, str]

KINDS = ("http", "sql", "soap", "plugin")
#: the section each kind needs, and the sections it may also have
_SECTIONS: dict[str, tuple[str, frozenset[str]]] = {
    "http": ("http", frozenset({"http"})),
    "sql": ("sql", frozenset({"sql"})),
    "soap": ("soap", frozenset({"soap", "http"})),
    "plugin": ("plugin", frozenset({"plugin", "http", "sql", "soap"})),
}
_PERMISSION = re.compile(
    r"^([a-z][a-z0-9_]*(\.[a-z0-9_]+)+|connector_action:[a-z0-9_\-]+\.[a-z0-9_\-]+)$"
)
# SQLAlchemy's own rule for :name binds in text() (not ::casts, not \:escaped)
_SQL_BIND = re.compile(r"(?<![:\w\\]):(\w+)(?!:)")


def _model(cls: type[BaseModel], value: Any) -> Any:
    try:
        return cls.model_validate(value)
    except ValidationError:
        return None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _refs(
    value: Any, loc: Loc, roots: frozenset[str], params: set[str] | None, config: set[str] | None
) -> Iterator[Problem]:
    """Problems with the ``{{ }}`` references in ``value`` (strings, dicts, lists)."""
    try:
        references = template_references(value)
    except TemplateError as exc:
        yield loc, str(exc)
        return
    for ref in sorted(references):
        head, _, rest = ref.partition(".")
        name = rest.split(".", 1)[0]
        if head not in roots:
            yield loc, (
                f"{{{{ {ref} }}}}: unknown name {head!r} here; "
                f"templates may use {', '.join(sorted(roots))}"
            )
        elif head == "params" and name and params is not None and name not in params:
            yield loc, f"{{{{ {ref} }}}}: {name!r} is not a declared parameter of this action"
        elif head == "config" and name and config is not None and name not in config:
            yield loc, f"{{{{ {ref} }}}}: {name!r} is not declared under config"


def _per_key(
    value: Any, loc: Loc, roots: frozenset[str], params: set[str] | None, config: set[str] | None
) -> Iterator[Problem]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _refs(item, (*loc, key), roots, params, config)
    elif value is not None:
        yield from _refs(value, loc, roots, params, config)


_CONNECTOR_ROOTS = frozenset({"config", "now"})
_ACTION_ROOTS = frozenset({"params", "config", "now"})
_COMPENSATE_ROOTS = frozenset({"params", "config", "now", "result"})


def _field_defaults(fields: Mapping[str, FieldSpec], loc: Loc, zone: str) -> Iterator[Problem]:
    for name, spec in fields.items():
        here = (*loc, name)
        tz = ZoneInfo(spec.timezone or zone)
        if spec.default is not None:
            try:
                coerce(spec.default, spec.type, formats=spec.formats, zone=tz)
            except CoercionError as exc:
                yield (*here, "default"), f"default {exc}"
        if spec.fields:
            yield from _field_defaults(spec.fields, (*here, "fields"), spec.timezone or zone)


def _mapping(mapping: MappingSpec | None, loc: Loc) -> Iterator[Problem]:
    if mapping is not None:
        yield from _field_defaults(mapping.fields, (*loc, "mapping", "fields"), mapping.timezone)


def _action_semantics(
    kind: str | None, name: str, action: ActionSpec, actions: Mapping[str, ActionSpec]
) -> Iterator[Problem]:
    loc: Loc = ("actions", name)
    if kind in ("http", "sql", "soap"):
        needed = {"http": "request", "sql": "sql", "soap": "soap"}[kind]
        if getattr(action, needed) is None:
            yield (*loc, needed), f"kind {kind} actions need a {needed} section"
        for other in ("request", "sql", "soap"):
            if other != needed and getattr(action, other) is not None:
                yield (*loc, other), f"{other} does not apply to kind {kind} (use {needed})"
    if action.cache and action.effect != "read":
        yield (*loc, "cache"), "cache applies to read actions only"
    if action.permission is not None and not _PERMISSION.match(action.permission):
        yield (*loc, "permission"), (
            f"{action.permission!r} is not a permission name (dotted, e.g. finance.invoices.read)"
        )
    if action.sql is not None:
        statement = action.sql.statement
        if "{{" in statement:
            yield (*loc, "sql", "statement"), (
                "templates are not allowed in SQL; use :name binds (values are always bound)"
            )
        for bind in sorted(set(_SQL_BIND.findall(statement))):
            if bind not in action.params:
                yield (*loc, "sql", "statement"), f":{bind} is not a declared parameter"
    if action.mapping is not None:
        for key in action.pii:
            head = re.split(r"[.\[]", key, maxsplit=1)[0]
            if head not in action.mapping.fields:
                yield (*loc, "pii", key), f"{head!r} is not an output field of the mapping"
    yield from _mapping(action.mapping, loc)
    yield from _compensate(name, action, actions)


def _compensate(
    name: str, action: ActionSpec, actions: Mapping[str, ActionSpec]
) -> Iterator[Problem]:
    if action.compensate is None:
        return
    loc: Loc = ("actions", name, "compensate")
    if action.effect != "write":
        yield loc, "compensate applies to write actions only"
    target = actions.get(action.compensate.action)
    if action.compensate.action == name:
        yield (*loc, "action"), "an action cannot compensate itself"
    elif target is None:
        yield (*loc, "action"), f"no action named {action.compensate.action!r} in this spec"
    elif target.effect != "write":
        yield (*loc, "action"), f"{action.compensate.action!r} is not a write action"
    else:
        for param in action.compensate.params:
            if param not in target.params:
                yield (*loc, "params", param), (
                    f"{action.compensate.action!r} has no parameter {param!r}"
                )
        for param, spec in target.params.items():
            if spec.required and param not in action.compensate.params:
                yield (*loc, "params"), (
                    f"{action.compensate.action!r} needs its required parameter {param!r}"
                )


def _action_refs(name: str, raw: dict[str, Any], config: set[str] | None) -> Iterator[Problem]:
    loc: Loc = ("actions", name)
    raw_params = raw.get("params")
    params = set(raw_params) if isinstance(raw_params, dict) else set()
    request = _dict(raw.get("request"))
    for key in ("path", "query", "headers", "body"):
        if key in request:
            yield from _per_key(request[key], (*loc, "request", key), _ACTION_ROOTS, params, config)
    soap = _dict(raw.get("soap"))
    if "args" in soap:
        yield from _per_key(soap["args"], (*loc, "soap", "args"), _ACTION_ROOTS, params, config)
    compensate = _dict(raw.get("compensate"))
    if "params" in compensate:
        yield from _per_key(
            compensate["params"], (*loc, "compensate", "params"), _COMPENSATE_ROOTS, params, config
        )


def cross_check(raw: dict[str, Any]) -> list[Problem]:
    """Every cross-field problem of a spec document (parsed YAML/JSON, possibly invalid)."""
    problems: list[Problem] = []
    kind = raw.get("kind") if raw.get("kind") in KINDS else None
    raw_config = raw.get("config", {})
    config = set(raw_config) if isinstance(raw_config, dict) else None

    if kind is not None:
        needed, allowed = _SECTIONS[kind]
        if raw.get(needed) is None:
            problems.append(((needed,), f"kind {kind} needs a {needed} section"))
        for section in ("http", "sql", "soap", "plugin"):
            if raw.get(section) is not None and section not in allowed:
                problems.append(((section,), f"{section} does not apply to kind {kind}"))
        auth_type = _dict(raw.get("auth")).get("type", "none")
        if kind == "sql" and auth_type != "none":
            message = "auth applies to http and soap connectors; sql credentials go in sql.url"
            problems.append((("auth",), message))

    for section in ("http", "sql", "soap", "auth"):
        problems += _per_key(raw.get(section), (section,), _CONNECTOR_ROOTS, None, config)

    raw_actions = _dict(raw.get("actions"))
    actions: dict[str, ActionSpec] = {}
    for name, item in raw_actions.items():
        model = _model(ActionSpec, item)
        if model is not None:
            actions[str(name)] = model
        if isinstance(item, dict):
            problems += _action_refs(str(name), item, config)
    for name, action in actions.items():
        problems += _action_semantics(kind, name, action, actions)

    for name, item in _dict(raw.get("callbacks")).items():
        loc: Loc = ("callbacks", str(name))
        signature = _dict(_dict(item).get("signature"))
        for key in ("secret", "app_key"):
            if key in signature:
                problems += _refs(
                    signature[key], (*loc, "signature", key), _CONNECTOR_ROOTS, None, config
                )
        callback = _model(CallbackSpec, item)
        if callback is not None:
            problems += _mapping(callback.mapping, loc)
    return problems
