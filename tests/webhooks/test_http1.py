"""The webhooks' lean HTTP/1.1 client against scripted servers: the answer's framings
(Content-Length, chunked, until close), keep-alive reuse and when a connection is not
reused, 1xx answers skipped, the body cap, the deadline, TLS verified against the host name,
and the SSRF check on every new connection (a DNS answer that changes is checked again)."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from relaydesk.kit.safehttp import BlockedDestination, OutboundPolicy
from relaydesk.webhooks import http1
from relaydesk.webhooks.http1 import LeanClient

LOOPBACK = OutboundPolicy(allow_cidrs=["127.0.0.1"])
Answer = Callable[[bytes], bytes | None]


class Server:
    """Reads each request (head and Content-Length body), writes ``answer(request)``;
    ``None`` closes the connection. Counts connections and keeps the requests."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.connections = 0
        self.requests: list[bytes] = []
        self.port = 0
        self.close_after = False

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                out = self.answer(request)
                if out is None:
                    break
                writer.write(out)
                await writer.drain()
                if self.close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def _serve(answer: Answer, tls: ssl.SSLContext | None = None) -> tuple[Server, Any]:
    server = Server(answer)
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0, ssl=tls)
    server.port = listener.sockets[0].getsockname()[1]
    return server, listener


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., Any]]:
    listeners = []

    async def start(answer: Answer, tls: ssl.SSLContext | None = None) -> Server:
        server, listener = await _serve(answer, tls)
        listeners.append(listener)
        return server

    yield start
    for listener in listeners:
        listener.close()
        await listener.wait_closed()


@pytest.fixture
async def client() -> AsyncIterator[LeanClient]:
    lean = LeanClient(LOOPBACK, timeout=2.0, headers={"User-Agent": "test"})
    yield lean
    await lean.aclose()


def ok(body: bytes = b"ok", extra: bytes = b"") -> Answer:
    return lambda _: b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra,
                                                                            body)  # fmt: skip


async def test_post_sends_the_request_and_reuses_the_connection(
    serve: Any, client: LeanClient
) -> None:
    server = await serve(ok(b"hello"))
    url = f"http://127.0.0.1:{server.port}/hook/a b?x=1"
    for n in range(3):
        response = await client.post(url, b'{"n":%d}' % n, {"webhook-id": "m1"}, 1024)
        assert (response.status_code, response.body) == (200, b"hello")
    assert server.connections == 1
    head, _, body = server.requests[2].partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /hook/a%20b?x=1 HTTP/1.1"
    assert f"Host: 127.0.0.1:{server.port}".encode() in lines
    assert b"webhook-id: m1" in lines and b"User-Agent: test" in lines
    assert b"Content-Length: 7" in lines and body == b'{"n":2}'


async def test_answer_framings_and_the_body_cap(serve: Any, client: LeanClient) -> None:
    chunked = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\n")  # fmt: skip
    answers = iter([
        b"HTTP/1.1 100 Continue\r\n\r\n" + ok(b"after 100")(b""),
        chunked,
        ok(b"x" * 5000)(b""),
        b"HTTP/1.1 204 No Content\r\n\r\n",
        b"HTTP/1.1 302 Found\r\nLocation: http://example.com/\r\nContent-Length: 0\r\n\r\n",
    ])  # fmt: skip
    server = await serve(lambda _: next(answers))
    url = f"http://127.0.0.1:{server.port}/"
    first = await client.post(url, b"{}", {}, 1024)
    assert (first.status_code, first.body) == (200, b"after 100")
    assert (await client.post(url, b"{}", {}, 1024)).body == b"hello world"
    assert (await client.post(url, b"{}", {}, 3)).body == b"xxx", "capped, rest drained"
    assert (await client.post(url, b"{}", {}, 1024)).status_code == 204
    moved = await client.post(url, b"{}", {}, 1024)
    assert moved.status_code == 302 and moved.headers["location"] == "http://example.com/"
    assert server.connections == 1, "every framing above keeps the connection"


async def test_connections_not_reused(serve: Any, client: LeanClient) -> None:
    big = http1.DRAIN_MAX + 10
    answers = iter([
        ok(b"a", b"Connection: close\r\n")(b""),
        b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nb",
        b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % big + b"c" * big,
    ])  # fmt: skip
    server = await serve(lambda _: next(answers, None))
    url = f"http://127.0.0.1:{server.port}/"
    assert (await client.post(url, b"{}", {}, 10)).body == b"a"
    assert (await client.post(url, b"{}", {}, 10)).body == b"b"
    assert (await client.post(url, b"{}", {}, 10)).body == b"c" * 10
    assert server.connections == 3


async def test_until_close_body_and_closed_idle_connections(serve: Any, client: LeanClient) -> None:
    closing = await serve(lambda _: b"HTTP/1.1 200 OK\r\n\r\nuntil close")
    closing.close_after = True
    url = f"http://127.0.0.1:{closing.port}/"
    assert (await client.post(url, b"{}", {}, 1024)).body == b"until close"
    # a server that closes each connection after its answer (an idle timeout): the closed
    # idle connection is never used again
    closer = await serve(ok())
    closer.close_after = True
    for _ in range(3):
        assert (await client.post(f"http://127.0.0.1:{closer.port}/", b"{}", {}, 10)).body == b"ok"
        await asyncio.sleep(0.05)  # lets the server's close arrive
    assert closer.connections == 3
    # a connection closed without an answer is an error (the attempt fails)
    mute = await serve(lambda _: None)
    with pytest.raises(http1.ReadError):
        await client.post(f"http://127.0.0.1:{mute.port}/", b"{}", {}, 10)


async def test_deadline_and_malformed_answers(serve: Any) -> None:
    silent = await serve(lambda _: b"")
    lean = LeanClient(LOOPBACK, timeout=0.2)
    try:
        with pytest.raises(TimeoutError):
            await lean.post(f"http://127.0.0.1:{silent.port}/", b"{}", {}, 10)
        garbage = await serve(lambda _: b"SSH-2.0-OpenSSH\r\n\r\n")
        with pytest.raises(http1.ProtocolError):
            await lean.post(f"http://127.0.0.1:{garbage.port}/", b"{}", {}, 10)
        with pytest.raises(http1.ProtocolError):
            await lean.post(f"http://127.0.0.1:{garbage.port}/", b"{}", {"x": "a\r\nb: c"}, 10)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        with pytest.raises(http1.ConnectError):
            await lean.post(f"http://127.0.0.1:{port}/", b"{}", {}, 10)
    finally:
        await lean.aclose()


async def test_every_new_connection_is_checked_again(
    serve: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: the host first resolves to an allowed address, later to the metadata
    service; the new connection is refused before connecting."""
    server = await serve(lambda r: ok()(r) if b"/first" in r else None)
    answers = iter(["127.0.0.1", "169.254.169.254"])
    loop = asyncio.get_running_loop()

    async def resolve(host: str, port: int, **_: Any) -> list[Any]:
        assert host == "hooks.example.com"
        address = next(answers)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(loop, "getaddrinfo", resolve)
    lean = LeanClient(LOOPBACK, timeout=2.0)
    try:
        url = f"http://hooks.example.com:{server.port}"
        assert (await lean.post(url + "/first", b"{}", {}, 10)).status_code == 200
        with pytest.raises(http1.ReadError):  # the server closes this one
            await lean.post(url + "/second", b"{}", {}, 10)
        with pytest.raises(BlockedDestination, match="always blocked"):
            await lean.post(url + "/third", b"{}", {}, 10)
        assert server.connections == 1
    finally:
        await lean.aclose()
    refused = LeanClient(OutboundPolicy(), timeout=2.0)  # no allow-list: loopback refused
    try:
        with pytest.raises(BlockedDestination, match="private, loopback"):
            await refused.post(f"http://127.0.0.1:{server.port}/", b"{}", {}, 10)
    finally:
        await refused.aclose()


def _certificate(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "relaydesk test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    return cert_path, key_path


async def test_tls_is_verified(
    serve: Any, client: LeanClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = _certificate(tmp_path)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    server = await serve(ok(b"secure"), tls)
    url = f"https://127.0.0.1:{server.port}/"
    with pytest.raises(http1.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        await client.post(url, b"{}", {}, 10)  # not a trusted certificate
    trusting = ssl.create_default_context(cafile=str(cert))
    monkeypatch.setattr(http1, "_SSL", trusting)
    assert (await client.post(url, b"{}", {}, 10)).body == b"secure"
    assert (await client.post(url, b"{}", {}, 10)).body == b"secure"
    assert server.connections == 1, "one kept-alive connection (the refused one never began)"
