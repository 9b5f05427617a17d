"""The declarative connector spec: models, loading with located problems, JSON Schema, params.

A spec is YAML or JSON (``apiVersion: relaydesk.io/v1``). :func:`load_spec` parses it,
validates it with the pydantic models (unknown fields are errors), runs the cross-field
checks of :mod:`relaydesk.integrations.spec_checks`, and raises :class:`SpecInvalid` listing
**every** problem with its file, line (from the YAML node marks) and field path.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator

from relaydesk.auth.permissions import CONNECTOR_ACTION_PREFIX, register_permission
from relaydesk.errors import NotFound, ValidationFailed
from relaydesk.integrations.spec_checks import cross_check
from relaydesk.integrations.spec_models.action import (
    ActionSpec,
    CompensateSpec,
    OutputShape,
    ParamSpec,
    RequestSpec,
    ResponseSpec,
    SoapActionSpec,
    SqlActionSpec,
)
from relaydesk.integrations.spec_models.auth import (
    ApiKeyAuth,
    AuthSpec,
    BasicAuth,
    BearerAuth,
    NoAuth,
    OAuth2ClientCredentialsAuth,
    SigningAuth,
    SigningParams,
)
from relaydesk.integrations.spec_models.base import ActionName, ConnectorName, Identifier, SpecModel
from relaydesk.integrations.spec_models.callback import CallbackSpec, EventTypeMap, SignatureSpec
from relaydesk.integrations.spec_models.mapping import FieldSpec, MappingSpec
from relaydesk.integrations.spec_models.sections import (
    ConfigField,
    ErrorRule,
    HttpSettings,
    PluginSettings,
    ResilienceSpec,
    SoapSettings,
    SqlSettings,
)
from relaydesk.integrations.spec_yaml import compose_document, locate

__all__ = [
    "API_VERSION",
    "ActionParams",
    "ActionSpec",
    "ApiKeyAuth",
    "AuthSpec",
    "BasicAuth",
    "BearerAuth",
    "CallbackSpec",
    "CompensateSpec",
    "ConfigField",
    "ConnectorSpec",
    "ErrorRule",
    "EventTypeMap",
    "FieldSpec",
    "HttpSettings",
    "MappingSpec",
    "NoAuth",
    "OAuth2ClientCredentialsAuth",
    "OutputShape",
    "ParamSpec",
    "PluginSettings",
    "RequestSpec",
    "ResilienceSpec",
    "ResponseSpec",
    "SignatureSpec",
    "SigningAuth",
    "SigningParams",
    "SoapActionSpec",
    "SoapSettings",
    "SpecInvalid",
    "SpecProblem",
    "SqlActionSpec",
    "SqlSettings",
    "action_permission",
    "load_spec",
    "load_spec_file",
    "params_model",
    "register_permissions",
    "spec_json_schema",
    "validate_params",
]

API_VERSION = "relaydesk.io/v1"


class ConnectorSpec(SpecModel):
    """A connector: what it connects to, how it authenticates, its actions and callbacks."""

    api_version: Literal["relaydesk.io/v1"] = Field(alias="apiVersion")
    kind: Literal["http", "sql", "soap", "plugin"]
    name: ConnectorName
    title: str | None = None
    description: str | None = None
    config: dict[Identifier, ConfigField] = Field(default_factory=dict)
    http: HttpSettings | None = None
    sql: SqlSettings | None = None
    soap: SoapSettings | None = None
    plugin: PluginSettings | None = None
    auth: AuthSpec = Field(default_factory=NoAuth)
    resilience: ResilienceSpec = Field(default_factory=ResilienceSpec)
    errors: list[ErrorRule] = Field(default_factory=list)
    actions: dict[ActionName, ActionSpec] = Field(default_factory=dict)
    callbacks: dict[ActionName, CallbackSpec] = Field(default_factory=dict)

    @field_validator("api_version", mode="before")
    @classmethod
    def _supported_version(cls, value: Any) -> Any:
        if value != API_VERSION:
            raise ValueError(
                f"unsupported apiVersion {value!r}; this Relaydesk reads {API_VERSION}"
            )
        return value

    def to_document(self) -> dict[str, Any]:
        """The spec as JSON data that :func:`load_spec` (or model_validate) reads back as is.

        Only fields that were set are written, so "no default" stays distinct from
        ``default: null``.
        """
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)

    def action(self, name: str) -> ActionSpec:
        """The named action; :class:`~relaydesk.errors.NotFound` if the spec has none."""
        try:
            return self.actions[name]
        except KeyError:
            raise NotFound(f"connector {self.name!r} has no action {name!r}") from None


# --------------------------------------------------------------------------------------
# Problems
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SpecProblem:
    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.path or '(document)'}: {self.message}"


class SpecInvalid(ValidationFailed):
    """The spec has problems; ``problems`` lists all of them (422 with them as details)."""

    code = "spec_invalid"

    def __init__(self, problems: list[SpecProblem]) -> None:
        self.problems = problems
        count = len(problems)
        super().__init__(
            f"the connector spec has {count} problem{'s' if count != 1 else ''}",
            details=[asdict(problem) for problem in problems],
        )

    def __str__(self) -> str:
        return "\n".join(str(problem) for problem in self.problems)


def _path(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _message(error: Mapping[str, Any]) -> str:
    kind = error.get("type", "")
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "required field is missing"
    loc = error.get("loc") or ()
    if loc and loc[-1] == "[key]" and kind == "string_pattern_mismatch":
        pattern = (error.get("ctx") or {}).get("pattern", "")
        return f"invalid name {error.get('input')!r} (names must match {pattern})"
    message = str(error.get("msg", "invalid"))
    return message.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def _problems(text: str, filename: str) -> tuple[ConnectorSpec | None, list[SpecProblem]]:
    """(the spec if the models accept it, every problem): parse, validate, cross-check."""
    parsed = compose_document(text, filename)
    if parsed.problems:
        return None, [SpecProblem(filename, *problem) for problem in parsed.problems]
    data, node = parsed.data, parsed.node
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {type(data).__name__}"
        return None, [SpecProblem(filename, 1, "", f"a spec is a mapping of fields, got {kind}")]

    raw_problems: list[tuple[tuple[str | int, ...], str, bool]] = []
    spec: ConnectorSpec | None = None
    try:
        spec = ConnectorSpec.model_validate(data)
    except ValidationError as exc:
        raw_problems += [
            (tuple(err["loc"]), _message(err), err["type"] == "missing") for err in exc.errors()
        ]
    raw_problems += [(loc, message, True) for loc, message in cross_check(data)]

    problems = [SpecProblem(filename, *warning) for warning in parsed.warnings]
    seen: set[tuple[str, str]] = set()
    for loc, message, missing in raw_problems:
        line, kept = locate(node, loc, missing=missing)
        path = _path(kept)
        if (path, message) in seen:
            continue
        seen.add((path, message))
        problems.append(SpecProblem(filename, line, path, message))
    problems.sort(key=lambda p: (p.line if p.line is not None else 0, p.path))
    return spec, problems


def load_spec(text: str, filename: str = "<spec>") -> ConnectorSpec:
    """Parse and validate a YAML or JSON spec; :class:`SpecInvalid` lists every problem."""
    spec, problems = _problems(text, filename)
    if problems or spec is None:
        raise SpecInvalid(problems)
    return spec


def load_spec_file(path: str | Path) -> ConnectorSpec:
    """:func:`load_spec` on a UTF-8 file (a BOM is fine); the problems name the file."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        problem = SpecProblem(str(path), None, "", f"not UTF-8 text: {exc.reason}")
        raise SpecInvalid([problem]) from None
    return load_spec(text, str(path))


@functools.cache
def _schema_text() -> str:
    schema = ConnectorSpec.model_json_schema(by_alias=True, mode="validation")
    document = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://relaydesk.io/schemas/connector-spec-v1.json",
        **schema,
        "title": "Relaydesk connector spec (relaydesk.io/v1)",
    }
    return json.dumps(document, ensure_ascii=False)


def spec_json_schema() -> dict[str, Any]:
    """The JSON Schema (2020-12) of a connector spec, for editors and ``connectors schema``.

    A fresh dict on every call (built once, then copied), so callers may change it.
    """
    schema: dict[str, Any] = json.loads(_schema_text())
    return schema


# --------------------------------------------------------------------------------------
# Permissions and parameters
# --------------------------------------------------------------------------------------


def action_permission(spec: ConnectorSpec, action_name: str) -> str:
    """The permission guarding an action: its ``permission`` or connector_action:<c>.<a>."""
    action = spec.action(action_name)
    return action.permission or f"{CONNECTOR_ACTION_PREFIX}{spec.name}.{action_name}"


def register_permissions(spec: ConnectorSpec) -> list[str]:
    """Register every action's permission (idempotent); returns them, in action order."""
    names = []
    for action_name, action in spec.actions.items():
        name = action_permission(spec, action_name)
        label = action.title or action_name
        register_permission(name, f"Run {label} on the {spec.title or spec.name} connector")
        names.append(name)
    return names


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", name) if part)


class ActionParams(BaseModel):
    """Base of the generated parameter models. Python attribute names are ``p_<name>`` (so
    a parameter may be called ``schema`` or ``model_id``); inputs, errors, JSON Schema and
    dumps use the declared names."""

    model_config = ConfigDict(extra="forbid")


def params_model(spec: ConnectorSpec, action_name: str) -> type[ActionParams]:
    """A pydantic model of the action's parameters (unknown ones forbidden); built once."""
    action = spec.action(action_name)
    cached = action._params_model
    if isinstance(cached, type) and issubclass(cached, ActionParams):
        return cached
    fields: dict[str, Any] = {}
    for name, param in action.params.items():
        annotation = param.annotation()
        if param.required:
            fields[f"p_{name}"] = (annotation, Field(alias=name))
        else:
            fields[f"p_{name}"] = (annotation | None, Field(param.default, alias=name))
    model: type[ActionParams] = create_model(
        f"{_camel(spec.name)}{_camel(action_name)}Params", __base__=ActionParams, **fields
    )
    action._params_model = model
    return model


def validate_params(
    spec: ConnectorSpec,
    action_name: str,
    raw: Mapping[str, Any],
    *,
    mode: Literal["python", "json"] = "python",
) -> dict[str, Any]:
    """The action's parameters, validated; :class:`ValidationFailed` (422) names each bad one.

    Details are ``[{"loc": ["params", name, ...], "msg", "type"}]`` like FastAPI's.
    ``mode="json"`` gives JSON-ready values (dates as ISO strings) for templates and logs;
    ``"python"`` keeps dates and datetimes as objects (SQL binds).
    """
    model = params_model(spec, action_name)
    try:
        validated = model.model_validate(dict(raw))
    except ValidationError as exc:
        details = [
            {"loc": ["params", *err["loc"]], "msg": _message(err), "type": err["type"]}
            for err in exc.errors()
        ]
        first = details[0]
        path = ".".join(str(part) for part in first["loc"])
        more = f" (and {len(details) - 1} more)" if len(details) > 1 else ""
        raise ValidationFailed(f"{path}: {first['msg']}{more}", details=details) from None
    return validated.model_dump(mode=mode, by_alias=True)
