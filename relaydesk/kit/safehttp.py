"""The one factory for outbound HTTP: SSRF-safe, no redirects, bounded bodies.

Every connection is checked **at connect time**: the network backend resolves the host itself,
checks every resolved address against the policy, and connects to one of the checked addresses
(the pin), so DNS rebinding between a pre-flight check and the request cannot slip through.
The URL keeps its hostname, so the ``Host`` header, TLS SNI and certificate verification all use
the original name. An unresolvable host is an error, never a bypass.

Always blocked, whatever the allow-list says: link-local (169.254.0.0/16, fe80::/10, which holds
the cloud metadata services), 100.100.100.200 and fd00:ec2::254 (metadata), 0.0.0.0/8, ``::``,
multicast, reserved ranges, and the IPv4-mapped / NAT64 / 6to4 / IPv4-compatible forms of those.
Blocked unless allowed: loopback, RFC 1918, CGNAT 100.64.0.0/10, ULA fc00::/7 and every other
non-global range. ``allow_cidrs`` opens exactly the listed networks (a bare IP opens that IP
only); ``allow_hosts`` opens the addresses that exactly that hostname resolves to.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx
from httpx._client import USE_CLIENT_DEFAULT, UseClientDefault
from httpx._types import AuthTypes

__all__ = [
    "BlockedDestination",
    "OutboundPolicy",
    "ResponseTooLarge",
    "SafeAsyncClient",
    "SafeTransport",
    "check_address",
    "check_destination",
    "make_client",
    "read_capped",
    "resolve_checked",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_ALWAYS_BLOCKED: tuple[tuple[IPNetwork, str], ...] = tuple(
    (ipaddress.ip_network(net), why)
    for net, why in (
        ("0.0.0.0/8", "the 'this network' range"),
        ("169.254.0.0/16", "link-local (cloud metadata)"),
        ("100.100.100.200/32", "a cloud metadata address"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved"),
        ("::/128", "the unspecified address"),
        ("fe80::/10", "link-local (cloud metadata)"),
        ("fd00:ec2::254/128", "a cloud metadata address"),
        ("ff00::/8", "multicast"),
    )
)
_DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


class BlockedDestination(httpx.RequestError):
    """The destination is not allowed by the outbound policy (a configuration error)."""

    def __init__(self, message: str, *, host: str = "", address: str = "") -> None:
        super().__init__(message)
        self.host = host
        self.address = address


class ResponseTooLarge(httpx.RequestError):
    """A response body is larger than the caller's limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"response body is larger than {limit} bytes")
        self.limit = limit


def _normalise_host(host: str) -> str:
    host = host.strip().rstrip(".").lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if host and not host.isascii():
        host = host.encode("idna").decode("ascii")
    return host


@dataclass(frozen=True)
class OutboundPolicy:
    """What an instance may reach besides the public internet (the admin's allow-list)."""

    allow_cidrs: list[str] = field(default_factory=list)
    allow_hosts: list[str] = field(default_factory=list)
    _networks: tuple[IPNetwork, ...] = field(init=False, repr=False, compare=False)
    _hosts: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        networks: list[IPNetwork] = []
        for cidr in self.allow_cidrs:
            try:
                networks.append(ipaddress.ip_network(cidr.strip(), strict=True))
            except ValueError as exc:
                raise ValueError(f"allow_cidrs: {cidr!r} is not a valid network: {exc}") from None
        object.__setattr__(self, "_networks", tuple(networks))
        hosts = frozenset(_normalise_host(h) for h in self.allow_hosts if h.strip())
        object.__setattr__(self, "_hosts", hosts)

    def host_allowed(self, host: str) -> bool:
        return _normalise_host(host) in self._hosts

    def address_allowed(self, address: IPAddress) -> bool:
        return any(address.version == net.version and address in net for net in self._networks)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _always_blocked(address: IPAddress) -> str | None:
    for net, why in _ALWAYS_BLOCKED:
        if address.version == net.version and address in net:
            return why
    if address.is_multicast:
        return "multicast"
    if address.is_reserved and not address.is_loopback:
        return "reserved"
    return None


def check_address(address: str | IPAddress, policy: OutboundPolicy, *, host: str = "") -> None:
    """Raise :class:`BlockedDestination` unless ``policy`` lets ``host`` connect to ``address``.

    An IPv6 form that embeds an IPv4 address (mapped, NAT64, 6to4, compatible) is judged as
    that IPv4 address.
    """
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id:
        ip = ipaddress.IPv6Address(str(ip).split("%", 1)[0])
    label = host or str(ip)
    effective: IPAddress = ip
    if isinstance(ip, ipaddress.IPv6Address) and (v4 := _embedded_ipv4(ip)) is not None:
        effective = v4
    why = _always_blocked(effective)
    if why is not None:
        raise BlockedDestination(
            f"{label} resolves to {ip}, {why}: always blocked", host=label, address=str(ip)
        )
    if effective.is_global:
        return
    if policy.address_allowed(ip) or policy.address_allowed(effective):
        return
    if host and policy.host_allowed(host):
        return
    raise BlockedDestination(
        f"{label} resolves to {ip}, a private, loopback or non-public address; "
        "add the host or network to the instance's allow-list to reach it",
        host=label,
        address=str(ip),
    )


async def resolve_checked(
    host: str, port: int, policy: OutboundPolicy, *, resolve_timeout: float | None = None
) -> list[str]:
    """Resolve ``host`` and check EVERY address; return them (deduplicated, in order)."""
    host = _normalise_host(host)
    if not host:
        raise BlockedDestination("empty host name")
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        check_address(literal, policy, host=host)
        return [str(literal)]
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout=resolve_timeout
        )
    except TimeoutError:
        raise httpcore.ConnectTimeout(f"resolving {host} timed out") from None
    except (OSError, UnicodeError) as exc:
        raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from None
    addresses: list[str] = []
    for family, _type, _proto, _canon, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        text = str(sockaddr[0])
        if text not in addresses:
            addresses.append(text)
    if not addresses:
        raise httpcore.ConnectError(f"cannot resolve {host}: no IPv4 or IPv6 address")
    for text in addresses:
        check_address(text, policy, host=host)
    return addresses


async def check_destination(url: str, policy: OutboundPolicy) -> list[str]:
    """Pre-flight check of a URL (e.g. when an admin saves an instance); not a substitute for
    the connect-time check, which runs again on every new connection."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise BlockedDestination(f"only http and https URLs are allowed (got {parts.scheme!r})")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return await resolve_checked(parts.hostname or "", port, policy)


class _PinningBackend(httpcore.AsyncNetworkBackend):
    """Resolves, checks every address, then connects to a checked IP (never re-resolves)."""

    def __init__(
        self, policy: OutboundPolicy, inner: httpcore.AsyncNetworkBackend | None = None
    ) -> None:
        self._policy = policy
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await resolve_checked(host, port, self._policy, resolve_timeout=timeout)
        last: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise BlockedDestination("unix sockets are not allowed for outbound HTTP")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class SafeTransport(httpx.AsyncHTTPTransport):
    """An httpx transport whose every TCP connection goes through the policy check."""

    def __init__(
        self,
        policy: OutboundPolicy,
        *,
        verify: ssl.SSLContext | str | bool = True,
        http2: bool = False,
        limits: httpx.Limits = _DEFAULT_LIMITS,
    ) -> None:
        # Not calling super().__init__: it would build a second pool (and SSL context) without
        # our network backend. handle_async_request/aclose only use self._pool.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify, trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=http2,
            network_backend=_PinningBackend(policy),
        )


class SafeAsyncClient(httpx.AsyncClient):
    """An AsyncClient that never follows redirects, whatever a call asks for."""

    async def send(
        self,
        request: httpx.Request,
        *,
        stream: bool = False,
        auth: AuthTypes | UseClientDefault | None = USE_CLIENT_DEFAULT,
        follow_redirects: bool | UseClientDefault = USE_CLIENT_DEFAULT,
    ) -> httpx.Response:
        return await super().send(request, stream=stream, auth=auth, follow_redirects=False)


_FORBIDDEN_KW = ("transport", "mounts", "proxy", "trust_env", "app")


def make_client(
    policy: OutboundPolicy, *, timeout: float, base_url: str = "", **kw: Any
) -> httpx.AsyncClient:
    """A new outbound client. ``kw`` goes to httpx.AsyncClient (headers, auth, event_hooks...)
    except ``verify``, ``http2`` and ``limits``, which configure the safe transport; anything
    that would bypass the transport (transport, mounts, proxy, trust_env) is refused."""
    for name in _FORBIDDEN_KW:
        if name in kw:
            raise TypeError(f"make_client: {name!r} would bypass the outbound policy")
    if kw.pop("follow_redirects", False):
        raise ValueError("make_client: redirects are never followed")
    transport = SafeTransport(
        policy,
        verify=kw.pop("verify", True),
        http2=kw.pop("http2", False),
        limits=kw.pop("limits", _DEFAULT_LIMITS),
    )
    return SafeAsyncClient(
        transport=transport,
        timeout=timeout,
        base_url=base_url,
        follow_redirects=False,
        trust_env=False,
        **kw,
    )


async def read_capped(response: httpx.Response, limit: int, *, truncate: bool = False) -> bytes:
    """The body of a (streamed or read) response, at most ``limit`` bytes.

    Over the limit: raise :class:`ResponseTooLarge`, or with ``truncate=True`` return the first
    ``limit`` bytes (e.g. a stored delivery log). The stream is closed either way.
    """
    if limit < 0:
        raise ValueError("limit must be >= 0")
    if not response.is_stream_consumed:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit and not truncate:
            await response.aclose()
            raise ResponseTooLarge(limit)
        chunks = bytearray()
        try:
            async for chunk in response.aiter_bytes():
                chunks += chunk
                if len(chunks) > limit:
                    if truncate:
                        return bytes(chunks[:limit])
                    raise ResponseTooLarge(limit)
        finally:
            await response.aclose()
        return bytes(chunks)
    body = response.content
    if len(body) > limit:
        if truncate:
            return body[:limit]
        raise ResponseTooLarge(limit)
    return body
