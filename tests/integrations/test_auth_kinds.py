"""Auth kinds: what each one puts on the wire, and OAuth 2.0 token caching against a real
local token endpoint reached through the SSRF-safe client."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from relaydesk.integrations.auth import (
    AuthHandler,
    OAuth2ClientCredentials,
    TokenRequestFailed,
    make_auth,
)
from relaydesk.kit.safehttp import BlockedDestination, OutboundPolicy, make_client


@dataclass
class Spec:
    """Stands in for the spec models: plain attributes, as auth.py reads them."""

    type: str
    in_: str | None = None
    name: str | None = None
    value: str | None = None
    token: str | None = None
    username: str | None = None
    password: str | None = None
    token_url: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    scope: str | None = None
    refresh_margin_seconds: float | None = None
    client_auth: str | None = None


def _request(url: str = "https://erp.example/api/orders?page=2") -> httpx.Request:
    return httpx.Request("GET", url)


async def _apply(spec: Spec | None) -> httpx.Request:
    async with httpx.AsyncClient() as http:
        return await make_auth(spec, {}, http).apply(_request())


async def test_no_auth_sends_the_request_unchanged() -> None:
    for spec in (None, Spec(type="none")):
        request = await _apply(spec)
        assert "authorization" not in request.headers
        assert str(request.url) == "https://erp.example/api/orders?page=2"


async def test_api_key_in_header_and_in_query() -> None:
    request = await _apply(Spec(type="api_key", in_="header", name="X-Api-Key", value="k-123"))
    assert request.headers["X-Api-Key"] == "k-123"
    request = await _apply(Spec(type="api_key", in_="query", name="api_key", value="k 1&2"))
    assert request.url.params["api_key"] == "k 1&2"
    assert request.url.params["page"] == "2"
    assert "X-Api-Key" not in request.headers


async def test_api_key_reads_an_attribute_literally_named_in() -> None:
    spec = Spec(type="api_key", name="key", value="v")
    spec.__dict__["in"] = "query"
    request = await _apply(spec)
    assert request.url.params["key"] == "v"


async def test_bearer_and_basic() -> None:
    request = await _apply(Spec(type="bearer", token="t0k3n"))
    assert request.headers["Authorization"] == "Bearer t0k3n"
    request = await _apply(Spec(type="basic", username="客服", password="p:ss"))
    expected = base64.b64encode("客服:p:ss".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {expected}"


async def test_unknown_auth_type_is_rejected() -> None:
    async with httpx.AsyncClient() as http:
        with pytest.raises(ValueError, match="unknown auth type"):
            make_auth(Spec(type="kerberos"), {}, http)


# --- OAuth 2.0 client credentials against a real local token endpoint -------------------------


@dataclass
class TokenServer:
    port: int = 0
    hits: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    expires_in: int = 120
    delay: float = 0.05

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/oauth/token"


async def _serve(state: TokenServer, reader: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (x.partition(":") for x in head[1:] if x)}
    body = (await reader.readexactly(int(headers.get("content-length", "0")))).decode()
    state.hits.append(
        {"line": head[0], "auth": headers.get("authorization"), "form": parse_qs(body)}
    )
    await asyncio.sleep(state.delay)  # slow enough for concurrent callers to pile up
    payload = {
        "access_token": f"tok-{len(state.hits)}",
        "token_type": "Bearer",
        "expires_in": state.expires_in,
    }
    if state.status != 200:
        payload = {"error": "invalid_client"}
    data = json.dumps(payload).encode()
    w.write(
        f"HTTP/1.1 {state.status} X\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode()
        + data
    )
    await w.drain()
    w.close()


@pytest.fixture
async def token_server() -> AsyncIterator[TokenServer]:
    state = TokenServer()
    srv = await asyncio.start_server(lambda r, w: _serve(state, r, w), "127.0.0.1", 0)
    state.port = srv.sockets[0].getsockname()[1]
    yield state
    srv.close()
    await srv.wait_closed()


@pytest.fixture
async def safe_http() -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(OutboundPolicy(allow_cidrs=["127.0.0.1/32"]), timeout=5) as client:
        yield client


def _oauth(server: TokenServer, **kw: Any) -> Spec:
    return Spec(
        type="oauth2_client_credentials",
        token_url=server.url,
        client_id="relaydesk",
        client_secret="s3cr&t",
        **kw,
    )


async def test_fifty_concurrent_calls_make_one_token_request(
    token_server: TokenServer, safe_http: httpx.AsyncClient
) -> None:
    auth = make_auth(_oauth(token_server, scope="crm.read"), {}, safe_http)
    requests = await asyncio.gather(*(auth.apply(_request()) for _ in range(50)))
    assert len(token_server.hits) == 1
    assert {r.headers["Authorization"] for r in requests} == {"Bearer tok-1"}
    hit = token_server.hits[0]
    assert hit["line"].startswith("POST /oauth/token ")
    assert hit["form"] == {"grant_type": ["client_credentials"], "scope": ["crm.read"]}
    # client authentication by HTTP Basic (the default), values form-encoded per RFC 6749
    expected = base64.b64encode(b"relaydesk:s3cr%26t").decode()
    assert hit["auth"] == f"Basic {expected}"


async def test_client_auth_in_the_body(
    token_server: TokenServer, safe_http: httpx.AsyncClient
) -> None:
    auth = make_auth(_oauth(token_server, client_auth="body"), {}, safe_http)
    await auth.apply(_request())
    hit = token_server.hits[0]
    assert hit["auth"] is None
    assert hit["form"]["client_id"] == ["relaydesk"]
    assert hit["form"]["client_secret"] == ["s3cr&t"]


async def test_token_is_cached_until_expiry_minus_margin(
    token_server: TokenServer, safe_http: httpx.AsyncClient
) -> None:
    now = [1000.0]
    auth = OAuth2ClientCredentials(
        safe_http,
        token_url=token_server.url,
        client_id="relaydesk",
        client_secret="x",
        refresh_margin_seconds=30,
        clock=lambda: now[0],
    )
    assert await auth.token() == "tok-1"
    now[0] += 89  # expires_in 120 - margin 30 = 90 s of use
    assert await auth.token() == "tok-1"
    now[0] += 2
    assert await auth.token() == "tok-2"
    assert auth.refreshes == len(token_server.hits) == 2


async def test_invalidate_forces_one_refresh(
    token_server: TokenServer, safe_http: httpx.AsyncClient
) -> None:
    auth: AuthHandler = make_auth(_oauth(token_server), {}, safe_http)
    first = await auth.apply(_request())
    assert first.headers["Authorization"] == "Bearer tok-1"
    auth.invalidate(first)  # the server answered 401 to this request
    second = await auth.apply(_request())
    assert second.headers["Authorization"] == "Bearer tok-2"
    # a late 401 for a request that still carried the old token does not refresh again
    auth.invalidate(first)
    third = await auth.apply(_request())
    assert third.headers["Authorization"] == "Bearer tok-2"
    auth.invalidate()
    assert (await auth.apply(_request())).headers["Authorization"] == "Bearer tok-3"
    assert len(token_server.hits) == 3


async def test_token_endpoint_refusal_is_reported_and_retried_next_time(
    token_server: TokenServer, safe_http: httpx.AsyncClient
) -> None:
    token_server.status = 401
    auth = make_auth(_oauth(token_server), {}, safe_http)
    results = await asyncio.gather(
        *(auth.apply(_request()) for _ in range(5)), return_exceptions=True
    )
    assert all(isinstance(r, TokenRequestFailed) for r in results)
    assert "HTTP 401" in str(results[0])
    assert "s3cr" not in str(results[0])
    assert len(token_server.hits) == 1
    token_server.status = 200
    request = await auth.apply(_request())
    assert request.headers["Authorization"] == "Bearer tok-2"


async def test_token_request_goes_through_the_ssrf_safe_client(
    token_server: TokenServer,
) -> None:
    async with make_client(OutboundPolicy(), timeout=5) as blocked_http:
        auth = make_auth(_oauth(token_server), {}, blocked_http)
        with pytest.raises(BlockedDestination):
            await auth.apply(_request())
    assert token_server.hits == []
