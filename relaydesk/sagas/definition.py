"""The saga definition document: typed input, ordered connector steps, compensations.

A definition is data (JSON, or YAML through the API), validated in two passes:

* :func:`parse_document`: the structure (pydantic), then everything that needs no database:
  unique step names, valid ``{{ }}`` templates and ``when`` expressions, and that every
  template reads only what exists when it is rendered (declared inputs, *earlier* steps,
  ``saga.*``; compensations also ``result``, ``params`` and ``failure``);
* the service then checks the connector side against the tenant's instances (instance and
  action exist, parameters known and required ones given, compensations are writes).

Every problem is reported with its field path (``["steps", 1, "params", "amount"]``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator

from relaydesk.errors import ValidationFailed
from relaydesk.integrations.spec_models.action import ParamSpec
from relaydesk.integrations.spec_models.base import (
    ACTION_NAME,
    CONNECTOR_NAME,
    Identifier,
    JmesPath,
)
from relaydesk.integrations.spec_yaml import compose_document, locate
from relaydesk.integrations.templating import TemplateError, template_references

__all__ = [
    "SAGA_KEYS",
    "CompensationDef",
    "SagaDocument",
    "StepDef",
    "VerifyDef",
    "input_model",
    "parse_document",
    "validate_input",
]

#: what ``{{ saga.* }}`` offers in templates
SAGA_KEYS = frozenset({"id", "ref", "name", "step_key"})
#: what ``{{ failure.* }}`` offers in compensation templates
FAILURE_KEYS = frozenset({"step", "code", "message"})
STEP_NAME = r"^[a-z][a-z0-9_]{0,62}$"

Loc = tuple[str | int, ...]
Problem = tuple[Loc, str]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CompensationDef(_Model):
    """The connector action that undoes a step (templated; may read ``result``, the step's
    output, ``params``, its parameters, and ``failure``, why the saga is rolling back)."""

    instance: str | None = Field(
        None, pattern=CONNECTOR_NAME, description="Default: the step's instance"
    )
    action: str = Field(pattern=ACTION_NAME)
    params: dict[str, Any] = Field(default_factory=dict)
    done_codes: list[str] = Field(
        default_factory=list, max_length=20,
        description="Error codes that mean 'already undone' (e.g. ticket_closed): a retried "
        "compensation whose first attempt did reach the system counts as done",
    )  # fmt: skip


class VerifyDef(_Model):
    """How to find out whether a write whose outcome is unknown (the worker died during the
    call, or it timed out) did happen: a read action on the same instance whose answer is
    searched for a record matching every ``match`` field (the record's text contains the
    rendered value). Found: the record becomes the step's output. Not found: the step is
    sent again."""

    action: str = Field(pattern=ACTION_NAME)
    params: dict[str, Any] = Field(default_factory=dict)
    match: dict[str, str] = Field(min_length=1, max_length=10)


class StepDef(_Model):
    name: str = Field(
        pattern=STEP_NAME, description="Unique in the saga; steps.<name> in templates"
    )
    title: str | None = Field(None, max_length=200)
    instance: str = Field(pattern=CONNECTOR_NAME, description="Connector instance name")
    action: str = Field(pattern=ACTION_NAME)
    params: dict[str, Any] = Field(default_factory=dict)
    when: JmesPath | None = Field(
        None, description="JMESPath over {input, steps, saga}: the step runs only when truthy"
    )
    compensate: CompensationDef | Literal["none"] | None = Field(
        None, description="Omitted: the action's own compensate from its connector spec (if "
        "any); 'none': this step is never undone",
    )  # fmt: skip
    verify: VerifyDef | None = None
    on_unknown: Literal["compensate", "retry"] = Field(
        "compensate",
        description="A non-idempotent write whose outcome is unknown and that has no verify: "
        "compensate the earlier steps and stop (default), or send it again (may duplicate)",
    )
    max_attempts: int = Field(5, ge=1, le=20, description="Calls before the step fails")


class SagaDocument(_Model):
    name: str = Field(pattern=CONNECTOR_NAME, description="Unique in the organisation")
    title: str | None = Field(None, max_length=200)
    description: str | None = Field(None, max_length=2000)
    input: dict[Identifier, ParamSpec] = Field(default_factory=dict, max_length=50)
    steps: list[StepDef] = Field(min_length=1, max_length=20)

    @field_validator("steps")
    @classmethod
    def _unique_names(cls, steps: list[StepDef]) -> list[StepDef]:
        seen: set[str] = set()
        for step in steps:
            if step.name in seen:
                raise ValueError(f"two steps are named {step.name!r}")
            seen.add(step.name)
        return steps


# --------------------------------------------------------------------------------------
# Template references
# --------------------------------------------------------------------------------------


def _ref_problem(
    ref: str, doc: SagaDocument, visible: Sequence[str], roots: frozenset[str]
) -> str | None:
    parts = ref.split(".")
    root = parts[0]
    if root not in roots:
        allowed = ", ".join(sorted(roots))
        return f"{{{{ {ref} }}}}: {root!r} is not available here (use {allowed})"
    second = parts[1] if len(parts) > 1 else None
    if root == "input" and second is not None and second not in doc.input:
        return f"{{{{ {ref} }}}}: the input has no field {second!r}"
    if root == "steps" and second is not None and second not in visible:
        return f"{{{{ {ref} }}}}: {second!r} is not an earlier step"
    if root == "saga" and second is not None and second not in SAGA_KEYS:
        return f"{{{{ {ref} }}}}: saga has no {second!r} (use {', '.join(sorted(SAGA_KEYS))})"
    if root == "failure" and second is not None and second not in FAILURE_KEYS:
        return f"{{{{ {ref} }}}}: failure has no {second!r} (use step, code, message)"
    return None


def _check_templates(
    value: Any, loc: Loc, doc: SagaDocument, visible: Sequence[str], roots: frozenset[str]
) -> Iterator[Problem]:
    """Each top-level key is checked on its own, so a problem names the parameter."""
    items: list[tuple[Loc, Any]]
    if isinstance(value, Mapping):
        items = [((*loc, key), item) for key, item in value.items()]
    else:
        items = [(loc, value)]
    for where, item in items:
        try:
            refs = template_references(item)
        except TemplateError as exc:
            yield where, str(exc)
            continue
        for ref in sorted(refs):
            problem = _ref_problem(ref, doc, visible, roots)
            if problem is not None:
                yield where, problem


STEP_ROOTS = frozenset({"input", "steps", "saga"})
COMPENSATION_ROOTS = STEP_ROOTS | {"result", "params", "failure"}


def document_problems(doc: SagaDocument) -> list[Problem]:
    """The template and expression problems of a structurally valid document."""
    problems: list[Problem] = []
    for index, step in enumerate(doc.steps):
        earlier = [s.name for s in doc.steps[:index]]
        upto = [*earlier, step.name]
        loc: Loc = ("steps", index)
        problems += _check_templates(step.params, (*loc, "params"), doc, earlier, STEP_ROOTS)
        if step.when is not None:
            problems += _check_templates(
                "{{ " + step.when + " }}", (*loc, "when"), doc, earlier, STEP_ROOTS
            )
        if isinstance(step.compensate, CompensationDef):
            problems += _check_templates(
                step.compensate.params,
                (*loc, "compensate", "params"),
                doc,
                upto,
                COMPENSATION_ROOTS,
            )
        if step.verify is not None:
            vloc = (*loc, "verify")
            problems += _check_templates(step.verify.params, (*vloc, "params"), doc, earlier,
                                         STEP_ROOTS)  # fmt: skip
            problems += _check_templates(step.verify.match, (*vloc, "match"), doc, earlier,
                                         STEP_ROOTS)  # fmt: skip
    return problems


# --------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------


def _detail(loc: Sequence[str | int], msg: str, kind: str, line: int | None) -> dict[str, Any]:
    detail: dict[str, Any] = {"loc": list(loc), "msg": msg, "type": kind}
    if line is not None:
        detail["line"] = line
    return detail


def _raise(details: list[dict[str, Any]]) -> None:
    first = details[0]
    where = ".".join(str(p) for p in first["loc"])
    more = f" (and {len(details) - 1} more)" if len(details) > 1 else ""
    raise ValidationFailed(f"{where}: {first['msg']}{more}", details=details)


def parse_document(
    value: str | Mapping[str, Any], prefix: Loc = ("body", "definition")
) -> SagaDocument:
    """The validated document from a mapping or YAML/JSON text; :class:`ValidationFailed`
    lists every problem with its path under ``prefix`` (and its line, for text)."""
    node = None
    if isinstance(value, str):
        parsed = compose_document(value, "definition")
        if parsed.problems:
            _raise([_detail(prefix, msg, "value_error", line) for line, _, msg in parsed.problems])
        data, node = parsed.data, parsed.node
        if not isinstance(data, dict):
            _raise([_detail(prefix, "the definition must be a mapping", "type_error", None)])
    else:
        data = dict(value)
    try:
        doc = SagaDocument.model_validate(data)
    except ValidationError as exc:
        details = []
        for err in exc.errors():
            line, loc = locate(node, tuple(err["loc"]), missing=err["type"] == "missing")
            msg = str(err["msg"]).removeprefix("Value error, ")
            details.append(_detail((*prefix, *loc), msg, err["type"], line))
        _raise(details)
        raise  # unreachable: _raise always raises
    problems = document_problems(doc)
    if problems:
        _raise([
            _detail((*prefix, *loc), msg, "value_error", locate(node, loc)[0] if node else None)
            for loc, msg in problems
        ])  # fmt: skip
    return doc


# --------------------------------------------------------------------------------------
# Input
# --------------------------------------------------------------------------------------


class SagaInput(BaseModel):
    model_config = ConfigDict(extra="forbid")


def input_model(doc: SagaDocument) -> type[SagaInput]:
    """A pydantic model of the document's input (unknown fields forbidden)."""
    fields: dict[str, Any] = {}
    for name, param in doc.input.items():
        annotation = param.annotation()
        if param.required:
            fields[f"p_{name}"] = (annotation, Field(alias=name))
        else:
            fields[f"p_{name}"] = (annotation | None, Field(param.default, alias=name))
    return create_model("SagaInputOf" + doc.name.replace("-", "_"), __base__=SagaInput, **fields)


def validate_input(
    doc: SagaDocument, raw: Mapping[str, Any], prefix: Loc = ("body", "input")
) -> dict[str, Any]:
    """The input, validated and JSON-ready; :class:`ValidationFailed` names each bad field."""
    try:
        model = input_model(doc).model_validate(dict(raw))
    except ValidationError as exc:
        _raise([
            _detail((*prefix, *err["loc"]), str(err["msg"]).removeprefix("Value error, "),
                    err["type"], None)
            for err in exc.errors()
        ])  # fmt: skip
        raise
    return model.model_dump(mode="json", by_alias=True)
