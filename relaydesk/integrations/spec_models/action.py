"""Actions: typed parameters, the request (http, sql or soap), response selection and mapping."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    Field,
    PrivateAttr,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from relaydesk.integrations.spec_models.base import (
    ActionName,
    Identifier,
    JmesPath,
    Regex,
    SpecModel,
)
from relaydesk.integrations.spec_models.mapping import MappingSpec
from relaydesk.kit.masking import PiiKind

ParamType = Literal["string", "integer", "number", "boolean", "date", "datetime", "array", "object"]
#: the canonical shapes an action's output may declare (see integrations/canonical.py)
OutputShape = Literal[
    "customer", "order", "order_item", "shipment", "tracking_event", "member",
    "points_transaction", "ticket", "invoice",
]

_PYTHON_TYPES: dict[str, Any] = {
    "string": str,
    "integer": int,
    "number": float,
    "boolean": bool,
    "date": dt.date,
    "datetime": dt.datetime,
    "array": list[Any],
    "object": dict[str, Any],
}


class ParamSpec(SpecModel):
    """One input parameter of an action, validated before anything is sent."""

    type: ParamType = "string"
    required: bool = False
    default: Any = None
    description: str | None = None
    pattern: Regex | None = Field(None, description="string only: a regular expression to match")
    min_length: int | None = Field(None, ge=0)
    max_length: int | None = Field(None, ge=0)
    minimum: float | None = Field(None, description="integer/number only")
    maximum: float | None = Field(None, description="integer/number only")
    enum: list[Any] | None = Field(None, min_length=1)
    pii: PiiKind | None = Field(None, description="Masked in audit rows and call logs")

    @model_validator(mode="after")
    def _consistent(self) -> ParamSpec:
        lengths = self.min_length is not None or self.max_length is not None
        if (self.pattern is not None and self.type != "string") or (
            lengths and self.type not in ("string", "array")
        ):
            raise ValueError(f"pattern/min_length/max_length do not apply to {self.type}")
        if self.type not in ("integer", "number") and (
            self.minimum is not None or self.maximum is not None
        ):
            raise ValueError(f"minimum/maximum do not apply to {self.type}")
        if self.required and self.default is not None:
            raise ValueError("a required parameter cannot have a default")
        if self.enum is not None:
            if self.type in ("array", "object"):
                raise ValueError(f"enum does not apply to {self.type}")
            base = TypeAdapter(_PYTHON_TYPES[self.type])
            for item in self.enum:
                try:
                    base.validate_python(item, strict=self.type != "date")
                except ValidationError:
                    raise ValueError(f"enum value {item!r} is not a {self.type}") from None
        if self.default is not None:
            try:
                TypeAdapter(self.annotation()).validate_python(self.default)
            except ValidationError as exc:
                reason = exc.errors()[0]["msg"]
                raise ValueError(f"default {self.default!r} is invalid: {reason}") from None
        return self

    def annotation(self) -> Any:
        """The Python type (with constraints) a pydantic model uses for this parameter."""
        base: Any = _PYTHON_TYPES[self.type]
        extra: dict[str, Any] | None = None
        if self.enum is not None:
            allowed = tuple(self.enum)
            extra = {"enum": list(allowed)}

            def _one_of(value: Any) -> Any:
                if value not in allowed:
                    choices = ", ".join(repr(item) for item in allowed)
                    raise ValueError(f"must be one of {choices}")
                return value

            base = Annotated[base, AfterValidator(_one_of)]
        constraints = Field(
            description=self.description,
            pattern=self.pattern,
            min_length=self.min_length,
            max_length=self.max_length,
            ge=self.minimum,
            le=self.maximum,
            json_schema_extra=extra,
        )
        return Annotated[base, constraints]


class RequestSpec(SpecModel):
    """kind http: the request template. ``{{ }}`` in path segments is URL-encoded."""

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    path: str = Field(description="Starts with /, appended to http.base_url")
    query: dict[str, Any] = Field(default_factory=dict)
    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = Field(None, description="Any JSON value with {{ }} templates")
    body_format: Literal["json", "xml", "form"] = "json"
    xml_root: str = Field("request", description="body_format xml: the root element's name")

    @model_validator(mode="after")
    def _relative_path(self) -> RequestSpec:
        if not self.path.startswith("/"):
            raise ValueError("path must start with / (it is appended to http.base_url)")
        return self


class SqlActionSpec(SpecModel):
    """kind sql: a parameterised statement; ``:name`` binds are the action's params."""

    statement: str = Field(min_length=1)
    result: Literal["rows", "one", "rowcount"] = "rows"


class SoapActionSpec(SpecModel):
    operation: str = Field(min_length=1)
    args: dict[str, Any] = Field(default_factory=dict)


class ResponseSpec(SpecModel):
    format: Literal["json", "xml", "text"] = "json"
    select: JmesPath | None = Field(None, description="JMESPath to the record(s)")


class CompensateSpec(SpecModel):
    """The write action that undoes this one; params may use ``{{ result.x }}``."""

    action: ActionName
    params: dict[str, Any] = Field(default_factory=dict)


class ActionSpec(SpecModel):
    title: str | None = None
    description: str | None = None
    effect: Literal["read", "write"]
    permission: str | None = Field(
        None, description="Default connector_action:<connector>.<action>"
    )
    params: dict[Identifier, ParamSpec] = Field(default_factory=dict)
    request: RequestSpec | None = None
    sql: SqlActionSpec | None = None
    soap: SoapActionSpec | None = None
    response: ResponseSpec = Field(default_factory=ResponseSpec)
    output: OutputShape | None = None
    many: bool = False
    mapping: MappingSpec | None = None
    pii: dict[str, PiiKind] = Field(default_factory=dict, description="output field → kind")
    idempotent: bool = Field(False, description="Writes are retried only when true")
    cache: bool = Field(False, description="Read actions only")
    compensate: CompensateSpec | None = None

    _params_model: Any = PrivateAttr(default=None)
