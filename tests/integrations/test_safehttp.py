"""SSRF-safe outbound HTTP against a real local server on 127.0.0.1.

A guard fails any test whose code would open a TCP connection to a non-loopback address, so a
bug in the policy can never send traffic off this machine.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpcore
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from relaydesk.kit.safehttp import (
    BlockedDestination,
    OutboundPolicy,
    ResponseTooLarge,
    check_address,
    check_destination,
    make_client,
    read_capped,
)

LOOPBACK = OutboundPolicy(allow_cidrs=["127.0.0.0/8"])


@pytest.fixture(autouse=True)
def only_loopback_connections(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every real connect and refuse (as a test failure) any non-loopback one."""
    seen: list[str] = []
    real = httpcore.AnyIOBackend.connect_tcp

    async def guarded(self: httpcore.AnyIOBackend, host: str, port: int, **kw: Any) -> Any:
        seen.append(host)
        if not ipaddress.ip_address(host).is_loopback:
            pytest.fail(f"the client tried to connect to {host}")
        return await real(self, host, port, **kw)

    monkeypatch.setattr(httpcore.AnyIOBackend, "connect_tcp", guarded)
    return seen


@dataclass
class LocalServer:
    port: int
    requests: list[dict[str, str]] = field(default_factory=list)
    sni: list[str | None] = field(default_factory=list)


async def _handle(
    server: LocalServer, reader: asyncio.StreamReader, w: asyncio.StreamWriter
) -> None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
        w.close()
        return
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = {k.lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:] if x)}
    server.requests.append({"method": method, "path": path, "host": headers.get("host", "")})
    status, extra, body = "200 OK", "", b"hello from the intranet"
    if path == "/redirect":
        status, extra = "302 Found", "Location: http://169.254.169.254/latest/meta-data/\r\n"
    elif path == "/big":
        body = b"x" * 10_000
    w.write(
        f"HTTP/1.1 {status}\r\n{extra}Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n".encode()
        + body
    )
    await w.drain()
    w.close()


async def _start(ssl_ctx: ssl.SSLContext | None = None) -> tuple[asyncio.Server, LocalServer]:
    state = LocalServer(port=0)
    srv = await asyncio.start_server(lambda r, w: _handle(state, r, w), "127.0.0.1", 0, ssl=ssl_ctx)
    state.port = srv.sockets[0].getsockname()[1]
    return srv, state


@pytest.fixture
async def server() -> AsyncIterator[LocalServer]:
    srv, state = await _start()
    yield state
    srv.close()
    await srv.wait_closed()


async def test_loopback_server_is_refused_by_default(server: LocalServer) -> None:
    async with make_client(OutboundPolicy(), timeout=5) as client:
        with pytest.raises(BlockedDestination, match="allow-list"):
            await client.get(f"http://127.0.0.1:{server.port}/")
    assert server.requests == []


async def test_loopback_server_is_reachable_when_its_network_is_allowed(
    server: LocalServer,
) -> None:
    async with make_client(LOOPBACK, timeout=5) as client:
        response = await client.get(f"http://127.0.0.1:{server.port}/orders")
    assert response.status_code == 200
    assert response.text == "hello from the intranet"
    assert server.requests[0]["path"] == "/orders"


async def test_allowing_one_ip_does_not_open_its_neighbours(server: LocalServer) -> None:
    async with make_client(OutboundPolicy(allow_cidrs=["127.0.0.2"]), timeout=5) as client:
        with pytest.raises(BlockedDestination):
            await client.get(f"http://127.0.0.1:{server.port}/")
    assert server.requests == []


async def test_metadata_address_is_refused_even_when_everything_is_allowed(
    only_loopback_connections: list[str],
) -> None:
    policy = OutboundPolicy(allow_cidrs=["0.0.0.0/0", "::/0"], allow_hosts=["169.254.169.254"])
    async with make_client(policy, timeout=5) as client:
        with pytest.raises(BlockedDestination, match="always blocked"):
            await client.get("http://169.254.169.254/latest/meta-data/")
        with pytest.raises(BlockedDestination, match="always blocked"):
            await client.get("http://[::ffff:169.254.169.254]/latest/meta-data/")
    assert only_loopback_connections == []


async def test_ipv4_mapped_loopback_is_refused_by_default(server: LocalServer) -> None:
    async with make_client(OutboundPolicy(), timeout=5) as client:
        with pytest.raises(BlockedDestination):
            await client.get(f"http://[::ffff:127.0.0.1]:{server.port}/")
    assert server.requests == []


async def test_hostname_resolving_to_loopback_needs_the_hostname_allowed(
    server: LocalServer,
) -> None:
    async with make_client(OutboundPolicy(), timeout=5) as client:
        with pytest.raises(BlockedDestination, match="localhost"):
            await client.get(f"http://localhost:{server.port}/")
    assert server.requests == []

    async with make_client(OutboundPolicy(allow_hosts=["localhost"]), timeout=5) as client:
        response = await client.get(f"http://localhost:{server.port}/erp")
        assert response.status_code == 200
        # the hostname allows only its own resolution, not the bare IP
        with pytest.raises(BlockedDestination):
            await client.get(f"http://127.0.0.1:{server.port}/")
    # connected to the pinned IP, but the Host header still names the host
    assert server.requests == [
        {"method": "GET", "path": "/erp", "host": f"localhost:{server.port}"}
    ]


def _fake_resolver(answers: list[str]) -> Any:
    calls: list[str] = []

    async def getaddrinfo(host: str, port: Any, *args: Any, **kw: Any) -> list[Any]:
        calls.append(host)
        address = answers[min(len(calls), len(answers)) - 1]
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (address, port))]

    getaddrinfo.calls = calls  # type: ignore[attr-defined]
    return getaddrinfo


async def test_dns_rebinding_is_caught_at_connect_time(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = _fake_resolver(["93.184.216.34", "127.0.0.1"])
    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", fake)
    url = f"http://rebind.example:{server.port}/"
    # the pre-flight check (e.g. when the admin saves the instance) sees a public address...
    assert await check_destination(url, OutboundPolicy()) == ["93.184.216.34"]
    # ...but the connection resolves again, and the check runs on what it will connect to
    async with make_client(OutboundPolicy(), timeout=5) as client:
        with pytest.raises(BlockedDestination, match=r"127\.0\.0\.1"):
            await client.get(url)
    assert fake.calls == ["rebind.example", "rebind.example"]
    assert server.requests == []


async def test_every_resolved_address_must_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    async def getaddrinfo(host: str, port: Any, *args: Any, **kw: Any) -> list[Any]:
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", port)),
        ]

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", getaddrinfo)
    async with make_client(OutboundPolicy(), timeout=5) as client:
        with pytest.raises(BlockedDestination, match=r"10\.0\.0\.7"):
            await client.get("http://mixed.example/")


async def test_unresolvable_host_is_an_error_not_a_bypass(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def getaddrinfo(*args: Any, **kw: Any) -> list[Any]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", getaddrinfo)
    async with make_client(OutboundPolicy(allow_cidrs=["0.0.0.0/0"]), timeout=5) as client:
        with pytest.raises(httpx.ConnectError, match="cannot resolve"):
            await client.get("http://no-such-host.invalid/")


async def test_redirect_is_returned_not_followed(server: LocalServer) -> None:
    async with make_client(LOOPBACK, timeout=5) as client:
        response = await client.get(f"http://127.0.0.1:{server.port}/redirect")
        # even a call that asks for redirects does not get them
        again = await client.get(f"http://127.0.0.1:{server.port}/redirect", follow_redirects=True)
    for r in (response, again):
        assert r.status_code == 302
        assert r.headers["location"] == "http://169.254.169.254/latest/meta-data/"
    assert [r["path"] for r in server.requests] == ["/redirect", "/redirect"]


def test_factory_refuses_options_that_bypass_the_policy() -> None:
    with pytest.raises(ValueError, match="redirects"):
        make_client(OutboundPolicy(), timeout=5, follow_redirects=True)
    with pytest.raises(TypeError, match="transport"):
        make_client(OutboundPolicy(), timeout=5, transport=httpx.AsyncHTTPTransport())
    with pytest.raises(TypeError, match="proxy"):
        make_client(OutboundPolicy(), timeout=5, proxy="http://127.0.0.1:3128")
    with pytest.raises(ValueError, match="not a valid network"):
        OutboundPolicy(allow_cidrs=["10.0.0.0/33"])


async def test_read_capped_limits_the_body(server: LocalServer) -> None:
    async with make_client(LOOPBACK, timeout=5) as client:
        async with client.stream("GET", f"http://127.0.0.1:{server.port}/big") as response:
            with pytest.raises(ResponseTooLarge):
                await read_capped(response, 1_000)
        async with client.stream("GET", f"http://127.0.0.1:{server.port}/big") as response:
            assert await read_capped(response, 1_000, truncate=True) == b"x" * 1_000
        async with client.stream("GET", f"http://127.0.0.1:{server.port}/") as response:
            assert await read_capped(response, 1_000) == b"hello from the intranet"
        full = await client.get(f"http://127.0.0.1:{server.port}/big")
        assert len(await read_capped(full, 10_000)) == 10_000
        with pytest.raises(ResponseTooLarge):
            await read_capped(full, 9_999)


ALWAYS_BLOCKED = [
    "169.254.169.254",
    "100.100.100.200",
    "0.0.0.0",
    "0.1.2.3",
    "224.0.0.1",
    "255.255.255.255",
    "240.0.0.1",
    "::",
    "fe80::1",
    "fd00:ec2::254",
    "ff02::1",
    "::ffff:169.254.169.254",
    "64:ff9b::a9fe:a9fe",
    "2002:a9fe:a9fe::1",
    "::ffff:0.0.0.0",
]
PRIVATE = [
    "127.0.0.1",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "100.64.0.1",
    "::1",
    "fc00::1",
    "fd12:3456::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "64:ff9b::7f00:1",
]
PUBLIC = ["93.184.216.34", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]
EVERYTHING = OutboundPolicy(allow_cidrs=["0.0.0.0/0", "::/0"])


@pytest.mark.parametrize("address", ALWAYS_BLOCKED)
def test_always_blocked_addresses(address: str) -> None:
    for policy in (OutboundPolicy(), EVERYTHING):
        with pytest.raises(BlockedDestination, match="always blocked"):
            check_address(address, policy)
    with pytest.raises(BlockedDestination):
        check_address(address, OutboundPolicy(allow_hosts=["meta"]), host="meta")


@pytest.mark.parametrize("address", PRIVATE)
def test_private_addresses_need_the_allow_list(address: str) -> None:
    with pytest.raises(BlockedDestination, match="allow-list"):
        check_address(address, OutboundPolicy())
    check_address(address, EVERYTHING)
    check_address(address, OutboundPolicy(allow_hosts=["erp.corp"]), host="ERP.corp.")
    with pytest.raises(BlockedDestination):
        check_address(address, OutboundPolicy(allow_hosts=["erp.corp"]), host="crm.corp")


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    check_address(address, OutboundPolicy())


# --- TLS: the pinned IP is used for the socket, the hostname for SNI and verification --------


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


async def test_tls_uses_the_hostname_for_sni_and_verification(tmp_path: Path) -> None:
    cert_path, key_path = _self_signed(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert_path, key_path)
    sni: list[str | None] = []
    server_ctx.sni_callback = lambda _sock, name, _ctx: sni.append(name)
    srv, state = await _start(server_ctx)
    client_ctx = ssl.create_default_context(cafile=str(cert_path))
    try:
        policy = OutboundPolicy(allow_hosts=["localhost"], allow_cidrs=["127.0.0.1/32"])
        async with make_client(policy, timeout=5, verify=client_ctx) as client:
            response = await client.get(f"https://localhost:{state.port}/secure")
            assert response.status_code == 200
            # the certificate names "localhost", not 127.0.0.1: verification is by hostname
            with pytest.raises(httpx.ConnectError, match=r"CERTIFICATE_VERIFY_FAILED|mismatch"):
                await client.get(f"https://127.0.0.1:{state.port}/secure")
    finally:
        srv.close()
        await srv.wait_closed()
    assert "localhost" in sni
    assert state.requests[0]["host"] == f"localhost:{state.port}"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://2130706433/", "allow-list"),  # decimal 127.0.0.1
        ("http://0x7f.1/", "allow-list"),
        ("http://127.1/", "allow-list"),
        ("http://0/", "always blocked"),
        ("http://[::]/", "always blocked"),
        ("http://[fd00:ec2::254]/latest/meta-data/", "always blocked"),
        ("http://[64:ff9b::a9fe:a9fe]/", "always blocked"),
    ],
)
async def test_alternative_spellings_are_judged_by_what_they_resolve_to(
    url: str, reason: str, only_loopback_connections: list[str]
) -> None:
    async with make_client(OutboundPolicy(), timeout=5) as client:
        with pytest.raises(BlockedDestination, match=reason):
            await client.get(url)
    assert only_loopback_connections == []
