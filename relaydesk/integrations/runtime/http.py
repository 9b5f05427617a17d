"""The ``http`` kind: render the action's request, sign/authenticate it, send it, decode it.

One attempt per call: the request template is rendered against ``{params, config, now}``
(path values URL-encoded, so ``/`` or ``?`` in a value cannot change the path), headers are
the spec's ``http.headers`` then the request's, the body is JSON, XML
(:func:`relaydesk.kit.xmlio.render_xml` under ``xml_root``) or a form, and the instance's
auth handler sees the final request (signing needs the final query and body). The answer is
read with a size cap and decoded per ``response.format``; a body that does not decode gives
``data=None`` and ``body_json=None`` with the status, and the service classifies it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import httpx

from relaydesk.integrations.mapping import BodyDecodeError, decode_body
from relaydesk.integrations.resilience import ErrorKind
from relaydesk.integrations.runtime.base import (
    MAX_RESPONSE_BYTES,
    CallContext,
    ExecutorError,
    RawResult,
    template_context,
)
from relaydesk.integrations.spec import ActionSpec, ConnectorSpec, RequestSpec
from relaydesk.integrations.templating import TemplateError, render, to_text
from relaydesk.kit.masking import mask
from relaydesk.kit.safehttp import read_capped
from relaydesk.kit.xmlio import render_xml

__all__ = ["HttpExecutor", "build_request"]

_CONTENT_TYPES = {
    "json": "application/json",
    "xml": "application/xml; charset=utf-8",
    "form": "application/x-www-form-urlencoded",
}


def _config_error(message: str, code: str = "invalid_request") -> ExecutorError:
    return ExecutorError(ErrorKind.config, message, code)


def _query(rendered: Any) -> list[tuple[str, str | int | float | bool | None]]:
    """Query pairs: null values are left out, lists repeat the parameter."""
    pairs: list[tuple[str, str | int | float | bool | None]] = []
    for name, value in (rendered or {}).items():
        items = value if isinstance(value, list) else [value]
        pairs += [(str(name), to_text(item)) for item in items if item is not None]
    return pairs


def _headers(
    spec: ConnectorSpec, request: RequestSpec, context: Mapping[str, Any]
) -> httpx.Headers:
    headers = httpx.Headers()
    base = spec.http.headers if spec.http is not None else {}
    for source in (base, request.headers):
        for name, value in render(source, context).items():
            if value is None or value == "":
                headers.pop(name, None)
            else:
                headers[name] = to_text(value)
    return headers


def _form(body: Any) -> bytes:
    if not isinstance(body, Mapping):
        raise _config_error("a form body must be an object of fields")
    pairs: list[tuple[str, str]] = []
    for name, value in body.items():
        items = value if isinstance(value, list) else [value]
        pairs += [(str(name), to_text(item)) for item in items if item is not None]
    return urlencode(pairs).encode("ascii")


def _body(request: RequestSpec, context: Mapping[str, Any]) -> bytes | None:
    if request.body is None:
        return None
    body = render(request.body, context)
    if request.body_format == "form":
        return _form(body)
    if request.body_format == "xml":
        return render_xml(body, request.xml_root)
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _masked_path(
    request: RequestSpec, action: ActionSpec, context: Mapping[str, Any], path: str
) -> str:
    """The path as logs show it: values of parameters declared ``pii`` masked."""
    params = context["params"]
    masked = {
        name: mask(to_text(params[name]), param.pii)
        for name, param in action.params.items()
        if param.pii is not None and params.get(name) is not None
    }
    if not masked:
        return path
    shown = {**context, "params": {**params, **masked}}
    return str(render(request.path, shown, url_encode=True))


def build_request(
    http: httpx.AsyncClient,
    spec: ConnectorSpec,
    action: ActionSpec,
    params: Mapping[str, Any],
    config: Mapping[str, Any],
    *,
    timeout: float | None = None,
) -> tuple[httpx.Request, str]:
    """The action's request, rendered, before auth is applied; and its request line
    ``METHOD /path?name&name`` for logs (``pii`` parameters masked in the path, no query
    values, nothing that auth adds later)."""
    request = action.request
    if request is None:
        raise _config_error("the action has no request section", "invalid_spec")
    context = template_context(config, params)
    try:
        path = str(render(request.path, context, url_encode=True))
        query = _query(render(request.query, context))
        headers = _headers(spec, request, context)
        content = _body(request, context)
        shown = _masked_path(request, action, context, path)
    except TemplateError as exc:
        raise _config_error(str(exc), "template_error") from None
    if content is not None and "content-type" not in headers:
        headers["Content-Type"] = _CONTENT_TYPES[request.body_format]
    built = http.build_request(
        request.method,
        path,
        params=query,
        headers=headers,
        content=content,
        timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
    )
    names = "&".join(dict.fromkeys(name for name, _ in query))
    return built, f"{request.method} {shown}" + (f"?{names}" if names else "")


class HttpExecutor:
    """Executor of ``kind: http`` connectors (stateless: the client belongs to the instance)."""

    def __init__(
        self,
        spec: ConnectorSpec,
        config: Mapping[str, Any],
        *,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        self.spec = spec
        self.config = config
        self.max_response_bytes = max_response_bytes

    async def execute(self, action: str, params: Mapping[str, Any], ctx: CallContext) -> RawResult:
        spec = ctx.spec
        act = spec.action(action)
        request, line = build_request(ctx.http, spec, act, params, ctx.config, timeout=ctx.timeout)
        request = await ctx.auth.apply(request)
        response = await ctx.http.send(request, stream=True)
        body = await read_capped(response, self.max_response_bytes)
        try:
            data = decode_body(body, act.response.format)
        except BodyDecodeError:
            data = None
        body_json = data if act.response.format in ("json", "xml") else None
        return RawResult(
            status=response.status_code,
            headers=response.headers,
            data=data,
            body_json=body_json,
            request_line=line,
            extra={"bytes": len(body)},
        )

    async def aclose(self) -> None:
        """Nothing to release: the HTTP client is the instance's."""
