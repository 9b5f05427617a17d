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
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote_plus, urlencode

import httpx

from relaydesk.integrations.auth_base import AuthHandler, AuthSpecLike, TokenRequestFailed
from relaydesk.integrations.auth_base import spec_value as _get
from relaydesk.integrations.auth_signing import SigningAuth, canonical_string, sign

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
    "canonical_string",
    "make_auth",
    "sign",
]


_FORM = "application/x-www-form-urlencoded"


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
