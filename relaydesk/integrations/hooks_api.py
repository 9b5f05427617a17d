"""``POST /hooks/{tenant_slug}/{instance_name}/{callback}``: inbound callbacks from existing
systems. No user authentication: the callback's signature is the authentication.

Find tenant + instance (unknown, disabled or inactive -> 404, one message for all, so the URL
space cannot be probed) -> read the body (size-limited by the request middleware: 413) ->
verify the signature and timestamp (:mod:`relaydesk.integrations.callbacks`: 401, nothing
stored) -> parse JSON, XML or a form (400 with the reason) -> event id, type, entity key and
version from the spec's JMESPath expressions (400 when the id is missing) -> store in the inbox
(:class:`~relaydesk.integrations.inbox.InboxWriter`) -> 202 ``accepted``, or 200 ``duplicate``
when the event id was already stored. An event type the spec maps to nothing is acknowledged
with 200 ``ignored`` and not stored. Processing happens later, in the
:class:`~relaydesk.integrations.inbox.InboxProcessor`.

The route is served by :class:`HooksBranch`, ahead of the platform middleware, when the
application adds it (``create_app`` does); otherwise by the router like any other route.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Awaitable, Callable, Mapping
from json.encoder import encode_basestring as _json_string  # = json.dumps(ensure_ascii=False)
from typing import Any, Literal

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute
from prometheus_client import Counter
from pydantic import BaseModel
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

from relaydesk.config import Settings
from relaydesk.errors import AppError, NotFound
from relaydesk.integrations.callbacks import IncomingCallback
from relaydesk.integrations.hooks_events import (
    CallbackEvent,
    event_field,
    parse_body,
    read_event,
)
from relaydesk.integrations.hooks_targets import HookTargets, hook_state
from relaydesk.integrations.inbox import InboxEntry
from relaydesk.kit.errorhandlers import app_error_handler, http_error_handler
from relaydesk.kit.metrics import REGISTRY
from relaydesk.kit.middleware import RequestContextMiddleware
from relaydesk.kit.ratelimit import RateLimiter
from relaydesk.kit.schemas import error_responses

__all__ = [
    "CallbackAck",
    "CallbackEvent",
    "HookTargets",
    "HooksBranch",
    "is_mounted",
    "mount",
    "parse_body",
    "read_event",
    "router",
]

RECEIVED = Counter(
    "relaydesk_callbacks_received_total",
    "Inbound callbacks by outcome (accepted, duplicate, ignored, rejected)",
    ["outcome"],
    registry=REGISTRY,
)
_COUNTERS = {name: RECEIVED.labels(name) for name in ("accepted", "duplicate", "ignored")}
_REJECTED = RECEIVED.labels("rejected")


class CallbackAck(BaseModel):
    status: Literal["accepted", "duplicate", "ignored"]
    event_id: str
    #: the inbox row (accepted only)
    id: uuid.UUID | None = None


# --- the endpoint ----------------------------------------------------------------------------

SCHEMES_DOC = """
Inbound callback from an existing system, for the connector instance `instance_name` of the
tenant `tenant_slug`. The connector spec's `callbacks.<callback>.signature` says how it is
signed; the signature is the only authentication. Schemes:

* `hmac_sha256_hex`, `hmac_sha256_base64`: HMAC-SHA256 of `signature.payload` in the header
  `signature.header`. Payload placeholders: `{timestamp}` (the raw `timestamp_header` value),
  `{body}` (the raw body), `{id}` (the event id); e.g. `{timestamp}.{body}`.
* `github`: `X-Hub-Signature-256: sha256=<hex>`, HMAC-SHA256 of the body.
* `stripe`: `Stripe-Signature: t=<unix s>,v1=<hex>[,v1=...]` over `{t}.{body}`; any `v1`.
* `standard_webhooks`: `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64> ...`
  over `{id}.{timestamp}.{body}`, keyed with the base64 part of the `whsec_` secret; any `v1`.
* `app_key_sign`: appKey, timestamp, nonce and sign in the query, headers or body, signed like
  the connector's outgoing requests (canonical string; MD5, SHA-256 or HMAC-SHA256).
* `none`: no verification (only when the spec says so explicitly).

Timestamps must lie within `tolerance_seconds` (default 300) of the server's clock, in both
directions. Bodies: a JSON object, XML (`application/xml`, `text/xml`; no DTDs or entities) or
`application/x-www-form-urlencoded`. The event id (the spec's `event_id` JMESPath; for Standard
Webhooks the `webhook-id` when the body has none) de-duplicates: a repeat is answered 200
`duplicate`. Verified events are stored and answered 202 at once, then processed
asynchronously in arrival order; an event not newer than its entity's stored version
(`entity_version`) is kept as `stale` and not applied.
"""


class _PlainRoute(APIRoute):
    """An :class:`APIRoute` (documented in OpenAPI like any other) whose endpoint is called
    with the request as is: ``endpoint(request) -> Response``. FastAPI's request handler
    (dependency solving, body and response handling) was a measurable share of this path;
    the endpoint reads what it needs from the request itself."""

    def get_route_handler(self) -> Any:
        return self.endpoint


router = APIRouter(tags=["callbacks"], route_class=_PlainRoute)
_PATH_PARAMETERS = [
    {"name": name, "in": "path", "required": True, "schema": {"type": "string"},
     "description": description}
    for name, description in (
        ("tenant_slug", "The tenant's slug"),
        ("instance_name", "The connector instance's name"),
        ("callback", "The callback's name in the connector spec"),
    )
]  # fmt: skip
_REQUEST_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": {"type": "object"}},
        "application/xml": {"schema": {"type": "string"}},
        "application/x-www-form-urlencoded": {"schema": {"type": "object"}},
    },
}
_NOT_FOUND = "No callback endpoint here (unknown tenant, connector instance or callback)"


_JSON_HEADERS = {"content-type": "application/json"}
_ROUTE_PATH = "/hooks/{tenant_slug}/{instance_name}/{callback}"
_PARAMETER_NAMES = ("tenant_slug", "instance_name", "callback")


def _ack(
    status: int, outcome: str, event_id: str, row_id: uuid.UUID | None = None
) -> tuple[int, bytes]:
    """(status, the :class:`CallbackAck` JSON), written directly (this path is hot)."""
    _COUNTERS[outcome].inc()
    tail = "}" if row_id is None else f',"id":"{row_id}"}}'
    content = f'{{"status":"{outcome}","event_id":{_json_string(event_id)}{tail}'
    return status, content.encode()


@router.post(
    _ROUTE_PATH,
    summary="Receive a signed callback from an existing system",
    description=SCHEMES_DOC,
    status_code=202,
    response_model=CallbackAck,
    responses={
        200: {"model": CallbackAck, "description": "Duplicate (already stored) or ignored event"},
        202: {"model": CallbackAck, "description": "Verified and stored; processed later"},
        **error_responses(400, 401, 404, 413, 500),
    },
    openapi_extra={"parameters": _PATH_PARAMETERS, "requestBody": _REQUEST_BODY},
)
async def receive_callback(request: Request) -> Response:
    # the path parameters are read from the request, not declared (documented through
    # openapi_extra), and FastAPI's request handler is skipped (:class:`_PlainRoute`)
    status, content = await _receive(request.app, request.scope, request.headers, request.body)
    return Response(content, status, headers=_JSON_HEADERS)


async def _receive(
    app: Any, scope: Scope, headers: Mapping[str, str], read_body: Callable[[], Awaitable[bytes]]
) -> tuple[int, bytes]:
    """The callback at ``scope["path_params"]``: (status, JSON answer); an AppError otherwise."""
    try:
        return await _accept(app, scope, headers, read_body)
    except AppError:
        _REJECTED.inc()
        raise


async def _accept(
    app: Any, scope: Scope, headers: Mapping[str, str], read_body: Callable[[], Awaitable[bytes]]
) -> tuple[int, bytes]:
    params = scope["path_params"]
    callback_name = params["callback"]
    targets, writer = hook_state(app)
    target = await targets.get(params["tenant_slug"], params["instance_name"])
    callback = target.spec.callbacks.get(callback_name) if target is not None else None
    if target is None or not target.active or callback is None:
        raise NotFound(_NOT_FOUND)
    verifier = target.verifier(callback_name, callback)
    body = await read_body()
    incoming = IncomingCallback(
        scope["method"], scope["path"], headers, scope["query_string"].decode("latin-1"), body,
        headers.get("content-type", ""),
    )  # fmt: skip
    data = None
    event_id = None
    if verifier.needs_event_id:  # the id is part of what is signed
        data = parse_body(body, incoming.content_type)
        event_id = event_field(callback.event_id, data, "event_id")
    verified = verifier.verify(incoming, event_id=event_id)
    if data is None:
        data = parse_body(body, incoming.content_type)
    event = read_event(callback, data, fallback_id=verified.message_id)
    if event.event_type is None:
        return _ack(200, "ignored", event.event_id)
    entry = InboxEntry(
        target.tenant_id, target.instance_id, callback_name, event.event_id, event.event_type,
        event.entity_key, event.entity_version, data,
    )  # fmt: skip
    row_id = await writer.store(entry)
    if row_id is None:
        return _ack(200, "duplicate", event.event_id)
    processor = getattr(app.state, "inbox_processor", None)
    if processor is not None:
        processor.wake()
    return _ack(202, "accepted", event.event_id, row_id)


# --- the lean branch ahead of the platform middleware ----------------------------------------


class HooksBranch:
    """ASGI middleware (add it last: outermost) that serves ``POST /hooks/{tenant}/{instance}/
    {callback}`` itself, so a callback skips the platform's other middleware (idempotency, XML
    negotiation, web-chat CORS, frame-src), routing and FastAPI's request handling, none of
    which applies to it. It keeps what they did for callbacks: the callback still runs inside
    :class:`RequestContextMiddleware` (request id, body limit and 413, security headers,
    metrics under the route's template, the access line for errors, the 500 answer), and an
    :class:`AppError` (or the body limit's HTTPException) is answered by the application's own
    handler, as when routed (same error body). Other
    requests, and other methods or paths under ``/hooks/``, go down the stack unchanged.
    """

    def __init__(self, app: ASGIApp, settings: Settings, rate_limiter: RateLimiter) -> None:
        self.app = app
        self.hooks = RequestContextMiddleware(_serve, settings=settings, rate_limiter=rate_limiter)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            path: str = scope["path"]
            if path.startswith("/hooks/"):
                parts = path[7:].split("/")
                if len(parts) == 3 and all(parts):
                    scope["path_params"] = dict(zip(_PARAMETER_NAMES, parts, strict=True))
                    await self.hooks(scope, receive, send)
                    return
        await self.app(scope, receive, send)


async def _serve(scope: Scope, receive: Receive, send: Send) -> None:
    scope["route"] = _ROUTE  # matched, as the router would have: the metrics' route label
    try:
        status, content = await _receive(
            scope["app"], scope, Headers(scope=scope), functools.partial(_read_body, receive)
        )
    except (AppError, HTTPException) as exc:  # answered as the application's handlers do
        handler = app_error_handler if isinstance(exc, AppError) else http_error_handler
        response = await handler(Request(scope, receive), exc)
        await response(scope, receive, send)
        return
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(content))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": content})


async def _read_body(receive: Receive) -> bytes:
    """The whole request body (as ``Request.body``: a disconnect raises ClientDisconnect)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


_ROUTE = next(route for route in router.routes if getattr(route, "path", "") == _ROUTE_PATH)


def _holds_hooks(route: Any) -> bool:
    if getattr(route, "path", "").startswith("/hooks/"):
        return True
    included = getattr(route, "original_router", None)  # FastAPI's included-router entry
    return included is router or (
        included is not None and any(_holds_hooks(child) for child in included.routes)
    )


def is_mounted(app: FastAPI) -> bool:
    return any(_holds_hooks(route) for route in app.router.routes)


def mount(app: FastAPI) -> None:
    """Include :data:`router` in ``app`` **ahead of every other route** (idempotent).

    Routes are matched in order: behind the API router, every callback would first be
    compared with each ``/api/v1`` route, which cost about a tenth of this path's CPU.
    """
    if is_mounted(app):
        return
    app.include_router(router)
    routes = app.router.routes
    routes.insert(0, routes.pop())
    changed = getattr(app.router, "_mark_routes_changed", None)
    if callable(changed):
        changed()
