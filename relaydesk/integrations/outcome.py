"""What an action call answers (:class:`ActionOutcome`), and the masking applied on the way out.

An outcome is always a 200 for the API: ``ok`` says whether ``data`` is usable, ``error``
carries the classified reason when the external system failed (or when a stale cached value
was served instead: then ``ok`` is true, ``stale`` is true and ``error`` says why).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field

from relaydesk.integrations.spec_models.action import ParamSpec
from relaydesk.kit.masking import PiiKind, detect_and_mask_text, mask

__all__ = [
    "PII_VIEW",
    "ActionOutcome",
    "OutcomeError",
    "OutcomeProblem",
    "jsonable",
    "mask_output",
    "mask_params",
    "redact_secrets",
]

#: the permission that lifts masking of connector outputs (as for customers)
PII_VIEW: Final = "customers.pii.view"
#: error messages longer than this are cut (the call log column holds 500)
MESSAGE_LIMIT: Final = 480


class OutcomeProblem(BaseModel):
    """A mapping or shape problem, located by output field path (values masked)."""

    path: str
    message: str


class OutcomeError(BaseModel):
    """Why a call failed, classified: see docs/design/integration-hub.md (error taxonomy)."""

    model_config = ConfigDict(populate_by_name=True)

    cls: str = Field(
        alias="class",
        description="retry | rate_limited | refresh_token | fail: what the answer was classified "
        "as (after retries)",
    )
    kind: str | None = Field(
        None, description="config (fix the instance/spec) | transient (try later) | system "
        "(the external system misbehaves)"
    )
    code: str = Field(description="Stable machine-readable code, e.g. circuit_open")
    message: str
    status: int | None = Field(None, description="HTTP status of the last answer, if any")
    retry_after: float | None = Field(None, description="Seconds the system asked us to wait")
    problems: list[OutcomeProblem] | None = Field(
        None, description="mapping_failed / shape_mismatch: every problem by field path"
    )


class ActionOutcome(BaseModel):
    """The result of running one connector action."""

    ok: bool = Field(description="data is usable (possibly stale: see stale)")
    data: Any = Field(None, description="Mapped output, personal fields masked by role")
    error: OutcomeError | None = None
    fetched_at: dt.datetime = Field(
        description="When the data was fetched from the system (for a failure: when it failed)"
    )
    cached: bool = Field(False, description="Served from the read cache")
    stale: bool = Field(False, description="Served from cache past its TTL: the system failed")
    sandbox: bool = Field(False, description="The instance points at a test environment")
    call_id: uuid.UUID = Field(description="The call-log entry of this call")
    latency_ms: float
    attempts: int = Field(0, description="Requests sent to the system (0: cache, breaker)")


# --------------------------------------------------------------------------------------
# JSON-ready values
# --------------------------------------------------------------------------------------


def jsonable(value: Any) -> Any:
    """Dates/times as ISO strings, decimals as exact digits, UUIDs and bytes as text."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f") if value.is_finite() else str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    return str(value)


# --------------------------------------------------------------------------------------
# Masking
# --------------------------------------------------------------------------------------


def _mask_value(value: Any, kind: PiiKind) -> Any:
    if value is None or value == "":
        return value
    if isinstance(value, list):
        return [_mask_value(item, kind) for item in value]
    if isinstance(value, dict):
        return {k: _mask_value(v, kind) for k, v in value.items()}
    return mask(value if isinstance(value, str) else str(value), kind)


def _mask_walk(value: Any, path: tuple[str, ...], pii: Mapping[tuple[str, ...], PiiKind],
               free_text: bool) -> Any:  # fmt: skip
    """A copy of ``value`` (at ``path``): declared fields masked by kind, other strings by
    free-text detection when ``free_text``; lists keep their record's path."""
    kind = pii.get(path) if path else None
    if kind is not None:
        return _mask_value(value, kind)
    if isinstance(value, dict):
        return {k: _mask_walk(v, (*path, str(k)), pii, free_text) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_walk(item, path, pii, free_text) for item in value]
    if free_text and isinstance(value, str):
        return detect_and_mask_text(value)
    return value


def mask_output(value: Any, pii: Mapping[str, PiiKind], *, free_text: bool = True) -> Any:
    """``value`` (a record or a list of records) as a caller without ``customers.pii.view``
    sees it: every ``pii`` field masked by its kind and, with ``free_text``, personal data
    inside every other string (an order's remark "请联系13800138000", an address note) masked
    by free-text detection (:func:`relaydesk.kit.masking.detect_and_mask_text`: mobile
    numbers, landlines, ID numbers, bank cards, e-mail addresses; identifiers such as
    ``SO13800138000`` kept). Free text is for what people are shown; code that reads the
    output itself (a seat looked up by e-mail) passes ``free_text=False``.

    Field names may be dotted (``receiver.mobile``); lists on the way are walked. Numbers,
    booleans and keys are kept. The input is never changed (cached values are shared): masked
    records are copies. Free-text masking of an already masked output changes nothing.
    """
    if value is None or (not pii and not free_text):
        return value
    paths = {tuple(field.split(".")): PiiKind(kind) for field, kind in pii.items()}
    return _mask_walk(value, (), paths, free_text)


def mask_params(params: Mapping[str, Any], specs: Mapping[str, ParamSpec]) -> dict[str, Any]:
    """Parameters as the call log and the audit row keep them: ``pii`` ones masked."""
    out: dict[str, Any] = {}
    for name, value in params.items():
        spec = specs.get(name)
        if spec is not None and spec.pii is not None:
            out[name] = _mask_value(value, PiiKind(spec.pii))
        elif isinstance(value, str):
            out[name] = detect_and_mask_text(value)
        else:
            out[name] = value
    return out


def redact_secrets(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret value replaced, personal data masked and the length capped."""
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, "********")
    text = detect_and_mask_text(text)
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 1] + "…"
