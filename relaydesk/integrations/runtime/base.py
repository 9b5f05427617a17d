"""What every executor shares: the call context, the raw result, the error, the HTTP client.

An executor makes **one attempt** at one action: no retries, no classification, no mapping
(the service does those). It raises ``httpx`` errors as they are (including
:class:`~relaydesk.kit.safehttp.BlockedDestination` and
:class:`~relaydesk.kit.safehttp.ResponseTooLarge`), and :class:`ExecutorError` for problems
that are not HTTP (SQL, SOAP faults, a spec that cannot be rendered, a missing plugin).
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable
from zoneinfo import ZoneInfo

import httpx
from pydantic import TypeAdapter, ValidationError

from relaydesk.integrations.auth import AuthHandler, make_auth
from relaydesk.integrations.resilience import ErrorClass, ErrorKind, Verdict
from relaydesk.integrations.spec import ActionSpec, AuthSpec, ConnectorSpec
from relaydesk.integrations.templating import TemplateError, has_template, render, to_text
from relaydesk.kit.safehttp import OutboundPolicy, make_client

__all__ = [
    "MAX_RESPONSE_BYTES",
    "CallContext",
    "Executor",
    "ExecutorError",
    "RawResult",
    "json_safe",
    "make_auth_handler",
    "make_http_client",
    "outbound_policy",
    "render_config_template",
    "result_zone",
    "template_context",
]

#: the largest answer an executor reads (HTTP bodies, SOAP envelopes, WSDL documents)
MAX_RESPONSE_BYTES = 5 * 1024 * 1024


@dataclass
class CallContext:
    """Everything one call needs besides the action and its parameters."""

    tenant_id: uuid.UUID
    instance_id: uuid.UUID
    spec: ConnectorSpec
    config: Mapping[str, Any]  # decrypted
    http: httpx.AsyncClient  # the instance's SSRF-safe client (make_http_client)
    auth: AuthHandler  # make_auth_handler(...)
    timeout: float


@dataclass
class RawResult:
    """One attempt's answer, before classification, selection and mapping."""

    status: int | None  # HTTP status; None for sql/soap
    headers: Mapping[str, str]
    data: Any  # decoded body (json/xml→dict/text), sql rows, soap result; None if undecodable
    body_json: Any  # what error rules' JMESPath run on (= data for json and xml)
    request_line: str  # "GET /api/orders/YQ…": no secrets, no query values
    extra: dict[str, Any] = field(default_factory=dict)  # executor-specific facts (optional)


class ExecutorError(Exception):
    """A non-HTTP failure of one attempt: ``kind`` is the error kind of the taxonomy.

    ``retryable`` defaults to ``kind == transient``: transient problems (connection refused,
    timeouts, deadlocks) are retried like HTTP 503s; the rest fail at once. ``message`` never
    holds secrets, SQL with values, or personal data. ``details`` are safe extra facts (e.g. a
    SOAP fault's detail element).
    """

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        code: str | None = None,
        *,
        retryable: bool | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = ErrorKind(kind)
        self.message = message
        self.code = code
        self.retryable = self.kind is ErrorKind.transient if retryable is None else retryable
        self.details = dict(details or {})

    @property
    def error_class(self) -> ErrorClass:
        return ErrorClass.retry if self.retryable else ErrorClass.fail

    def verdict(self) -> Verdict:
        """The verdict the service acts on (like ``classify_exception`` for httpx errors)."""
        return Verdict(self.error_class, self.kind, None, self.message, self.code)

    def __repr__(self) -> str:
        return f"ExecutorError({self.kind.value!r}, {self.message!r}, code={self.code!r})"


@runtime_checkable
class Executor(Protocol):
    """Runs one attempt of an action of one connector instance."""

    async def execute(
        self, action: str, params: Mapping[str, Any], ctx: CallContext
    ) -> RawResult: ...

    async def aclose(self) -> None: ...


def json_safe(value: Any, zone: dt.tzinfo = dt.UTC) -> Any:
    """A database or SOAP value as JSON data: decimals as exact strings, dates and times ISO
    8601 (a naive datetime is taken to be in ``zone`` and written with its offset), binary as
    base64, UUIDs and anything unknown as text."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        return format(value, "f") if value.is_finite() else str(value)
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=zone)).isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Mapping):
        return {str(key): json_safe(item, zone) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item, zone) for item in value]
    if isinstance(value, uuid.UUID):
        return str(value)
    return str(value)


def result_zone(action: ActionSpec) -> dt.tzinfo:
    """The zone naive datetimes of an action's result are read in: its mapping's, else UTC."""
    return ZoneInfo(action.mapping.timezone) if action.mapping is not None else dt.UTC


def template_context(
    config: Mapping[str, Any], params: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The ``{{ }}`` context of a request: ``{params, config, now}`` (now: aware UTC)."""
    return {"params": dict(params or {}), "config": dict(config), "now": dt.datetime.now(dt.UTC)}


def render_config_template(template: Any, config: Mapping[str, Any], what: str) -> Any:
    """``template`` rendered against the instance config; :class:`ExecutorError` (config) if
    it cannot be."""
    try:
        return render(template, template_context(config))
    except TemplateError as exc:
        raise ExecutorError(ErrorKind.config, f"{what}: {exc}", "template_error") from None


def outbound_policy(allow_network: Sequence[str]) -> OutboundPolicy:
    """The instance's allow-list as a policy: networks (CIDRs, bare IPs) and host names.

    Raises ``ValueError`` for a malformed network such as ``10.0.0.1/8`` (host bits set).
    """
    cidrs: list[str] = []
    hosts: list[str] = []
    for raw in allow_network:
        entry = raw.strip()
        if not entry:
            continue
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            hosts.append(entry)
        else:
            cidrs.append(entry)
    return OutboundPolicy(allow_cidrs=cidrs, allow_hosts=hosts)


def _timeout(spec: ConnectorSpec) -> float:
    if spec.http is not None and spec.http.timeout_seconds is not None:
        return spec.http.timeout_seconds
    return spec.resilience.timeout_seconds


def make_http_client(
    spec: ConnectorSpec, config: Mapping[str, Any], allow_network: Sequence[str]
) -> httpx.AsyncClient:
    """The instance's SSRF-safe client: ``kit.safehttp.make_client`` with the instance's
    allow-list, ``base_url`` rendered from ``spec.http.base_url`` (none without an ``http``
    section) and the spec's timeout (``http.timeout_seconds``, else ``resilience``)."""
    base_url = ""
    if spec.http is not None:
        rendered = render_config_template(spec.http.base_url, config, "http.base_url")
        base_url = "" if rendered is None else str(rendered)
        if base_url and not base_url.startswith(("http://", "https://")):
            raise ExecutorError(
                ErrorKind.config,
                "http.base_url must be an http:// or https:// URL",
                "invalid_base_url",
            )
    return make_client(outbound_policy(allow_network), timeout=_timeout(spec), base_url=base_url)


_AUTH_ADAPTER: TypeAdapter[Any] = TypeAdapter(AuthSpec)


def _render_text(document: Any, context: Mapping[str, Any]) -> Any:
    """Auth values are text: every templated string renders to a string, even when it is
    exactly one ``{{ config.x }}`` holding a number."""
    if isinstance(document, str):
        return to_text(render(document, context)) if has_template(document) else document
    if isinstance(document, dict):
        return {key: _render_text(value, context) for key, value in document.items()}
    if isinstance(document, list):
        return [_render_text(value, context) for value in document]
    return document


def make_auth_handler(
    spec: ConnectorSpec, config: Mapping[str, Any], http: httpx.AsyncClient
) -> AuthHandler:
    """``integrations.auth.make_auth`` with the spec's ``auth`` section rendered against the
    config first (``{{ config.app_secret }}`` → the secret)."""
    document = spec.auth.model_dump(mode="json", by_alias=True)
    try:
        rendered = _render_text(document, template_context(config))
    except TemplateError as exc:
        raise ExecutorError(ErrorKind.config, f"auth: {exc}", "template_error") from None
    try:
        auth_spec = _AUTH_ADAPTER.validate_python(rendered)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ExecutorError(
            ErrorKind.config, f"auth.{where}: {first['msg']} after rendering", "invalid_auth"
        ) from None
    return make_auth(auth_spec, config, http)
