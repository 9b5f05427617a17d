"""The ``mapping:`` section: JMESPath expressions plus declared coercions, per output field."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from relaydesk.integrations.spec_models.base import (
    Identifier,
    JmesPath,
    SpecModel,
    TimeZoneName,
    value_key,
)

FieldType = Literal[
    "any", "string", "integer", "number", "decimal", "boolean", "date", "datetime", "object",
    "array",
]
#: ``format:`` names that are not strptime patterns
NAMED_FORMATS = frozenset({"iso", "epoch_s", "epoch_ms"})
DEFAULT_TIMEZONE = "Asia/Shanghai"


class FieldSpec(SpecModel):
    """One output field: where it comes from (JMESPath) and what it must become."""

    expr: JmesPath = Field(description="JMESPath into the record, e.g. `receiver.mobile`")
    type: FieldType = Field(
        "any", description="Coercion applied to the selected value; `any` keeps it as is"
    )
    format: str | list[str] | None = Field(
        None,
        description="date/datetime only: strptime pattern(s) tried in order, or iso, "
        "epoch_s, epoch_ms",
    )
    timezone: TimeZoneName | None = Field(
        None, description="Overrides the mapping's time zone for this field"
    )
    values: dict[str, Any] | None = Field(
        None, description="Value map applied before coercion; unmapped values are errors"
    )
    default: Any = Field(None, description="Used when the value is null/missing or unmapped")
    required: bool = Field(False, description="A null/missing value (without default) is an error")
    fields: dict[Identifier, FieldSpec] | None = Field(
        None, description="object/array only: mapping applied to the object or each element"
    )
    description: str | None = None

    @field_validator("values", mode="before")
    @classmethod
    def _string_keys(cls, value: Any) -> Any:
        # YAML reads `{1: paid, yes: ok}` with int/bool keys; lookups use the same key form.
        if isinstance(value, dict):
            return {
                (key if isinstance(key, str) else value_key(key) or str(key)): item
                for key, item in value.items()
            }
        return value

    @model_validator(mode="after")
    def _consistent(self) -> FieldSpec:
        if self.format is not None:
            if self.type not in ("date", "datetime"):
                raise ValueError("format applies to date and datetime fields only")
            formats = [self.format] if isinstance(self.format, str) else self.format
            if not formats:
                raise ValueError("format must name at least one pattern")
            for fmt in formats:
                if fmt not in NAMED_FORMATS and "%" not in fmt:
                    raise ValueError(
                        f"format {fmt!r} is neither a strptime pattern (with % directives) "
                        "nor one of iso, epoch_s, epoch_ms"
                    )
        if self.fields is not None and self.type not in ("object", "array"):
            raise ValueError("nested fields apply to object and array fields only")
        return self

    @property
    def has_default(self) -> bool:
        return "default" in self.model_fields_set

    @property
    def formats(self) -> list[str]:
        if self.format is None:
            return []
        return [self.format] if isinstance(self.format, str) else list(self.format)


class MappingSpec(SpecModel):
    """Maps one selected record (or each of a list, with ``many``) to output fields."""

    timezone: TimeZoneName = Field(
        DEFAULT_TIMEZONE, description="Naive dates/times are read, and all are written, in it"
    )
    fields: dict[Identifier, FieldSpec] = Field(min_length=1)
