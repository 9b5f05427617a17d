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
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Literal

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute
from prometheus_client import Counter
from pydantic import BaseModel

from relaydesk.errors import AppError, NotFound
from relaydesk.integrations.callbacks import (
    CallbackMisconfigured,
    IncomingCallback,
    Verifier,
    make_verifier,
)
from relaydesk.integrations.hooks_events import (
    CallbackEvent,
    event_field,
    parse_body,
    read_event,
)
from relaydesk.integrations.inbox import InboxEntry, InboxWriter, find_instance
from relaydesk.integrations.instance_cache import on_instance_change
from relaydesk.integrations.secrets import decrypt_config, instance_spec
from relaydesk.integrations.spec import CallbackSpec, ConnectorSpec
from relaydesk.kit.crypto import DecryptionFailed, Keyring
from relaydesk.kit.db import Database
from relaydesk.kit.metrics import REGISTRY
from relaydesk.kit.schemas import error_responses

__all__ = [
    "CallbackAck",
    "CallbackEvent",
    "HookTargets",
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


# --- targets: tenant + instance + verifiers, cached briefly ----------------------------------


@dataclass(slots=True)
class HookTarget:
    tenant_id: uuid.UUID
    instance_id: uuid.UUID
    active: bool  # instance enabled and tenant active
    spec: ConnectorSpec
    config: dict[str, Any]
    verifiers: dict[str, Verifier] = field(default_factory=dict)

    def verifier(self, name: str, callback: CallbackSpec) -> Verifier:
        found = self.verifiers.get(name)
        if found is None:
            found = self.verifiers[name] = make_verifier(callback.signature, self.config)
        return found


class HookTargets:
    """Resolves hook URLs to instances (spec, decrypted config, verifiers), cached for
    ``ttl`` seconds. A change to a connector instance committed in this process clears the
    cache at once; a change made by another process (or to the tenant) takes effect within
    ``ttl``. Concurrent lookups of one URL share one query; the cache holds at most ``size``
    URLs (least recent dropped)."""

    def __init__(self, db: Database, keyring: Keyring, *, ttl: float = 2.0, size: int = 1024):
        self.db, self.keyring, self.ttl, self.size = db, keyring, ttl, size
        self._cache: OrderedDict[tuple[str, str], tuple[float, HookTarget | None]] = OrderedDict()
        self._inflight: dict[tuple[str, str], asyncio.Future[HookTarget | None]] = {}
        on_instance_change(self.clear)

    def clear(self) -> None:
        self._cache.clear()

    async def get(self, tenant_slug: str, instance_name: str) -> HookTarget | None:
        key = (tenant_slug, instance_name)
        cached = self._cache.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        pending = self._inflight.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[HookTarget | None] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            target = await self._load(tenant_slug, instance_name)
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                future.cancel()
            else:
                future.set_exception(exc)
                future.exception()  # retrieved: waiters (if any) re-raise it
            raise
        finally:
            self._inflight.pop(key, None)
        future.set_result(target)
        self._cache[key] = (time.monotonic() + self.ttl, target)
        self._cache.move_to_end(key)
        while len(self._cache) > self.size:
            self._cache.popitem(last=False)
        return target

    async def _load(self, tenant_slug: str, instance_name: str) -> HookTarget | None:
        found = await find_instance(self.db, tenant_slug, instance_name)
        if found is None:
            return None
        instance, tenant_active = found
        active = instance.enabled and tenant_active
        try:
            config = decrypt_config(self.keyring, instance) if active else {}
        except DecryptionFailed as exc:
            raise CallbackMisconfigured(f"the instance config cannot be decrypted: {exc}") from None
        return HookTarget(instance.tenant_id, instance.id, active, instance_spec(instance), config)


def _state(app: FastAPI) -> tuple[HookTargets, InboxWriter]:
    state = app.state
    targets: HookTargets | None = getattr(state, "hook_targets", None)
    writer: InboxWriter | None = getattr(state, "inbox_writer", None)
    if targets is None:
        keyring = Keyring.from_settings(state.settings)
        targets = state.hook_targets = HookTargets(state.db, keyring)
    if writer is None:
        writer = state.inbox_writer = InboxWriter(state.db)
    return targets, writer


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


def _ack(status: int, outcome: str, event_id: str, row_id: uuid.UUID | None = None) -> Response:
    """The :class:`CallbackAck` JSON, written directly (this path is hot)."""
    _COUNTERS[outcome].inc()
    tail = "}" if row_id is None else f',"id":"{row_id}"}}'
    content = f'{{"status":"{outcome}","event_id":{json.dumps(event_id, ensure_ascii=False)}{tail}'
    return Response(content.encode(), status, headers=_JSON_HEADERS)


@router.post(
    "/hooks/{tenant_slug}/{instance_name}/{callback}",
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
    params = request.path_params
    targets, writer = _state(request.app)
    try:
        return await _receive(
            targets, writer, params["tenant_slug"], params["instance_name"], params["callback"],
            request,
        )  # fmt: skip
    except AppError:
        _REJECTED.inc()
        raise


async def _receive(
    targets: HookTargets,
    writer: InboxWriter,
    tenant_slug: str,
    instance_name: str,
    callback_name: str,
    request: Request,
) -> Response:
    target = await targets.get(tenant_slug, instance_name)
    callback = target.spec.callbacks.get(callback_name) if target is not None else None
    if target is None or not target.active or callback is None:
        raise NotFound(_NOT_FOUND)
    verifier = target.verifier(callback_name, callback)
    body = await request.body()
    headers = request.headers
    scope = request.scope
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
    processor = getattr(request.app.state, "inbox_processor", None)
    if processor is not None:
        processor.wake()
    return _ack(202, "accepted", event.event_id, row_id)


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
