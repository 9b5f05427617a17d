"""Auth kinds of connector specs: api_key, bearer, basic, OAuth 2.0 client credentials, signing.

``make_auth(spec, config, http)`` returns an :class:`AuthHandler` whose ``apply(request)`` returns
the request to send (signing may rebuild it: it needs the final query and body) and whose
``invalidate()`` forces the next call to fetch a new token (refresh-then-retry).

The spec objects come from ``integrations/spec.py``, but this module only reads plain attributes
(any object with them will do); templated values are already rendered into plain strings.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import string
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Protocol
from urllib.parse import parse_qsl, quote_plus, urlencode

import httpx

__all__ = [
    "ApiKeyAuth",
    "AuthHandler",
    "AuthSpecLike",
    "BasicAuth",
    "BearerAuth",
    "NoAuth",
    "OAuth2ClientCredentials",
    "SigningAuth",
    "TokenRequestFailed",
    "make_auth",
    "sign",
]

DEFAULT_CANONICAL = "{secret}{sorted_params}{body}{secret}"
PLACEHOLDERS = frozenset(
    {"secret", "app_key", "timestamp", "nonce", "sorted_params", "sorted_query", "body"}
    | {"method", "path"}
)
_FORM = "application/x-www-form-urlencoded"


class AuthSpecLike(Protocol):
    """What this module needs of an auth spec: its ``type``; the rest is read per kind."""

    @property
    def type(self) -> str: ...


class TokenRequestFailed(Exception):
    """The OAuth 2.0 token endpoint refused or answered garbage (never includes secrets)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def _get(spec: object, name: str, default: Any = None) -> Any:
    value = getattr(spec, name, None)
    return default if value is None else value


class AuthHandler:
    """Adds credentials to outgoing requests. The base class sends requests unchanged."""

    async def apply(self, request: httpx.Request) -> httpx.Request:
        return request

    def invalidate(self, request: httpx.Request | None = None) -> None:
        """Forget cached credentials (after a 401). Static credentials have nothing to forget."""


class NoAuth(AuthHandler):
    pass


class ApiKeyAuth(AuthHandler):
    def __init__(self, name: str, value: str, placement: str = "header") -> None:
        if placement not in ("header", "query"):
            raise ValueError(f"api_key: 'in' must be header or query (got {placement!r})")
        self.name, self.value, self.placement = name, value, placement

    async def apply(self, request: httpx.Request) -> httpx.Request:
        if self.placement == "header":
            request.headers[self.name] = self.value
        else:
            request.url = request.url.copy_set_param(self.name, self.value)
        return request


class BearerAuth(AuthHandler):
    def __init__(self, token: str) -> None:
        self.token = token

    async def apply(self, request: httpx.Request) -> httpx.Request:
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request


def _basic(username: str, password: str) -> str:
    raw = f"{username}:{password}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


class BasicAuth(AuthHandler):
    def __init__(self, username: str, password: str) -> None:
        self._header = _basic(username, password)

    async def apply(self, request: httpx.Request) -> httpx.Request:
        request.headers["Authorization"] = self._header
        return request


class OAuth2ClientCredentials(AuthHandler):
    """Client-credentials grant; the token is cached until ``expires_in - refresh_margin`` and
    at most one token request is in flight per handler (callers share its result)."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        token_url: str,
        client_id: str,
        client_secret: str,
        scope: str | None = None,
        refresh_margin_seconds: float = 30,
        client_auth: str = "basic",
        default_expires_in: float = 300,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if client_auth not in ("basic", "body"):
            raise ValueError(f"client_auth must be basic or body (got {client_auth!r})")
        self._http = http
        self.token_url, self.client_id, self.scope = token_url, client_id, scope
        self._client_secret = client_secret
        self.refresh_margin = refresh_margin_seconds
        self.client_auth = client_auth
        self.default_expires_in = default_expires_in
        self._clock = clock
        self._token: str | None = None
        self._valid_until = 0.0
        self._inflight: asyncio.Task[str] | None = None
        #: how many token requests were made (observability and tests)
        self.refreshes = 0

    async def apply(self, request: httpx.Request) -> httpx.Request:
        request.headers["Authorization"] = f"Bearer {await self.token()}"
        return request

    def invalidate(self, request: httpx.Request | None = None) -> None:
        """Force a refresh, unless ``request`` carried a token that was already replaced."""
        if request is not None and self._token is not None:
            sent = request.headers.get("Authorization", "")
            if sent != f"Bearer {self._token}":
                return
        self._token, self._valid_until = None, 0.0

    async def token(self) -> str:
        if self._token is not None and self._clock() < self._valid_until:
            return self._token
        if self._inflight is None or self._inflight.done():
            self._inflight = asyncio.create_task(self._refresh())
            self._inflight.add_done_callback(_consume_exception)
        return await asyncio.shield(self._inflight)

    async def _refresh(self) -> str:
        self.refreshes += 1
        form = {"grant_type": "client_credentials"}
        if self.scope:
            form["scope"] = self.scope
        headers = {"Accept": "application/json", "Content-Type": _FORM}
        if self.client_auth == "basic":
            headers["Authorization"] = _basic(
                quote_plus(self.client_id), quote_plus(self._client_secret)
            )
        else:
            form["client_id"], form["client_secret"] = self.client_id, self._client_secret
        started = self._clock()
        response = await self._http.post(self.token_url, content=urlencode(form), headers=headers)
        if not response.is_success:
            raise TokenRequestFailed(
                f"token endpoint answered HTTP {response.status_code}", status=response.status_code
            )
        try:
            payload = response.json()
            token = payload["access_token"]
        except (ValueError, KeyError, TypeError):
            raise TokenRequestFailed(
                "token endpoint answered without an access_token", status=response.status_code
            ) from None
        if not isinstance(token, str) or not token:
            raise TokenRequestFailed("token endpoint answered an empty access_token")
        try:
            expires_in = float(payload.get("expires_in", self.default_expires_in))
        except (TypeError, ValueError):
            expires_in = self.default_expires_in
        self._token = token
        self._valid_until = started + max(0.0, expires_in - self.refresh_margin)
        return token


def _consume_exception(task: asyncio.Task[str]) -> None:
    if not task.cancelled():
        task.exception()  # marks it retrieved when every waiter was cancelled


# --- request signing (Chinese open platforms: appKey + timestamp + nonce + sign) -------------


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def _pairs(params: Mapping[str, Any], exclude: str) -> list[tuple[str, str]]:
    """Sorted (key, text) of the non-empty params; lists and objects as compact JSON."""
    pairs = [(k, _text(v)) for k, v in params.items() if k != exclude and v is not None]
    return sorted((k, v) for k, v in pairs if v != "")


def canonical_string(
    spec: object,
    *,
    params: Mapping[str, Any],
    body: str | bytes = "",
    secret: str,
    app_key: str,
    timestamp: str,
    nonce: str,
    method: str = "GET",
    path: str = "/",
) -> str:
    """The string that is hashed: the spec's ``canonical`` with its placeholders filled in."""
    pairs = _pairs(params, _get(spec, "sign_param", "sign"))
    values = {
        "secret": secret,
        "app_key": app_key,
        "timestamp": timestamp,
        "nonce": nonce,
        "sorted_params": "".join(k + v for k, v in pairs),
        "sorted_query": "&".join(f"{k}={v}" for k, v in pairs),
        "body": body.decode("utf-8") if isinstance(body, bytes) else body,
        "method": method.upper(),
        "path": path,
    }

    # str.format syntax ({{ and }} are literal braces), but only bare names: no attribute
    # access, conversions or format specs, so a pattern can never reach into objects
    out: list[str] = []
    pattern = _get(spec, "canonical", DEFAULT_CANONICAL)
    for literal, name, fmt, conversion in string.Formatter().parse(pattern):
        out.append(literal)
        if name is None:
            continue
        if name not in values or fmt or conversion:
            raise ValueError(f"signing: unknown placeholder {{{name}}} in canonical")
        out.append(values[name])
    return "".join(out)


_DIGESTS: dict[str, Callable[[bytes, bytes], str]] = {
    "md5": lambda _key, text: hashlib.md5(text, usedforsecurity=False).hexdigest(),
    "sha256": lambda _key, text: hashlib.sha256(text).hexdigest(),
    "hmac_sha256": lambda key, text: hmac.new(key, text, hashlib.sha256).hexdigest(),
    "hmac_md5": lambda key, text: hmac.new(key, text, hashlib.md5).hexdigest(),
}


def sign(
    spec: object,
    params: Mapping[str, Any],
    body: str | bytes,
    secret: str,
    app_key: str,
    timestamp: str,
    nonce: str,
    method: str = "GET",
    path: str = "/",
) -> str:
    """The ``sign`` value of a request; a receiver verifies by recomputing it (compare with
    :func:`hmac.compare_digest`).

    ``params``: every parameter sent with the request except ``sign`` -- query parameters
    (repeated ones joined by commas), form fields or top-level JSON fields when the signature
    travels in the body, and the appKey/timestamp/nonce parameters unless they travel in
    headers. Empty values are skipped; lists and objects are compact JSON. ``body``: the raw body
    text (empty when the signature travels in the body: its fields are params then).
    """
    algorithm = _get(spec, "algorithm", "md5")
    if algorithm not in _DIGESTS:
        raise ValueError(f"signing: unknown algorithm {algorithm!r}")
    text = canonical_string(
        spec, params=params, body=body, secret=secret, app_key=app_key,
        timestamp=timestamp, nonce=nonce, method=method, path=path,
    )  # fmt: skip
    digest = _DIGESTS[algorithm](secret.encode("utf-8"), text.encode("utf-8"))
    return digest.upper() if _get(spec, "uppercase", True) else digest


class SigningAuth(AuthHandler):
    """Adds appKey, timestamp, nonce and sign to the query, the headers or the body."""

    def __init__(
        self,
        spec: object,
        *,
        clock: Callable[[], float] = time.time,
        nonce: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self.spec = spec
        self.app_key: str = _get(spec, "app_key", "")
        self._secret: str = _get(spec, "secret", "")
        self.placement: str = _get(spec, "placement", "query")
        if self.placement not in ("query", "header", "body"):
            raise ValueError(
                f"signing: placement must be query, header or body ({self.placement!r})"
            )
        self.sign_param: str = _get(spec, "sign_param", "sign")
        self._names = {
            "app_key": _get(spec, "app_key_param", "appKey"),
            "timestamp": _get(spec, "timestamp_param", "timestamp"),
            "nonce": _get(spec, "nonce_param", "nonce"),
        }
        self._unit: str = _get(spec, "timestamp_unit", "ms")
        self._clock, self._nonce = clock, nonce

    def _timestamp(self) -> str:
        now = self._clock()
        return str(int(now * 1000) if self._unit == "ms" else int(now))

    async def apply(self, request: httpx.Request) -> httpx.Request:
        raw = await request.aread()
        values = {"app_key": self.app_key, "timestamp": self._timestamp(), "nonce": self._nonce()}
        protocol = {self._names[k]: v for k, v in values.items() if self._names[k]}
        # a repeated query parameter is signed as its values joined by commas
        query = request.url.params
        params: dict[str, Any] = {k: ",".join(query.get_list(k)) for k in query}
        body_text = raw.decode("utf-8")
        body_fields: dict[str, Any] | None = None
        if self.placement == "body":
            body_fields = self._body_fields(request, body_text)
            params.update(body_fields)
            body_text = ""  # the body's fields are signed as params
        if self.placement in ("query", "body"):
            params.update(protocol)
        signature = sign(
            self.spec,
            params,
            body_text,
            self._secret,
            self.app_key,
            values["timestamp"],
            values["nonce"],
            request.method,
            request.url.path,
        )
        if self.placement == "header":
            for name, value in {**protocol, self.sign_param: signature}.items():
                request.headers[name] = value
            return request
        if self.placement == "query":
            request.url = request.url.copy_merge_params({**protocol, self.sign_param: signature})
            return request
        assert body_fields is not None
        return _rebuild_body(request, {**body_fields, **protocol, self.sign_param: signature})

    @staticmethod
    def _body_fields(request: httpx.Request, text: str) -> dict[str, Any]:
        ctype = request.headers.get("content-type", "")
        if not text:
            return {}
        if ctype.startswith(_FORM):
            return dict(parse_qsl(text, keep_blank_values=True))
        with contextlib.suppress(ValueError):
            data = json.loads(text)
            if isinstance(data, dict):
                return data
        raise ValueError("signing with placement body needs a JSON object or form body")


def _rebuild_body(request: httpx.Request, fields: dict[str, Any]) -> httpx.Request:
    headers = httpx.Headers(request.headers)
    if headers.get("content-type", "").startswith(_FORM):
        content = urlencode({k: _text(v) for k, v in fields.items()}).encode()
    else:
        headers["Content-Type"] = "application/json"
        content = json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode()
    headers.pop("Content-Length", None)
    headers.pop("Transfer-Encoding", None)
    return httpx.Request(
        request.method, request.url, headers=headers, content=content, extensions=request.extensions
    )


def make_auth(
    spec: AuthSpecLike | None, config: Mapping[str, Any], http: httpx.AsyncClient
) -> AuthHandler:
    """The handler for ``spec`` (``None`` or ``type: none`` sends requests unchanged).

    ``http`` is the instance's SSRF-safe client: the OAuth 2.0 token request goes through it.
    ``config`` is the instance's config (the spec's values arrive already rendered from it).
    """
    kind = "none" if spec is None else spec.type
    if kind == "none":
        return NoAuth()
    if kind == "api_key":
        placement = _get(spec, "in_", None) or _get(spec, "in", "header")
        return ApiKeyAuth(_get(spec, "name", "X-Api-Key"), _get(spec, "value", ""), placement)
    if kind == "bearer":
        return BearerAuth(_get(spec, "token", ""))
    if kind == "basic":
        return BasicAuth(_get(spec, "username", ""), _get(spec, "password", ""))
    if kind == "oauth2_client_credentials":
        return OAuth2ClientCredentials(
            http,
            token_url=_get(spec, "token_url", ""),
            client_id=_get(spec, "client_id", ""),
            client_secret=_get(spec, "client_secret", ""),
            scope=_get(spec, "scope", None),
            refresh_margin_seconds=float(_get(spec, "refresh_margin_seconds", 30)),
            client_auth=_get(spec, "client_auth", "basic"),
        )
    if kind == "signing":
        return SigningAuth(spec)
    raise ValueError(f"unknown auth type {kind!r}")
