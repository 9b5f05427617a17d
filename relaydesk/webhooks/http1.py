"""A lean HTTP/1.1 keep-alive client for webhook POSTs, with ``kit.safehttp``'s SSRF checks.

Webhook delivery needs one thing from HTTP: POST a small body, read the status, a few headers
and the first bytes of the answer. httpx/httpcore (anyio, h11, the client's layers) cost
about 0.8 ms of CPU a request here; this client costs a small fraction of that.

Security is that of :func:`relaydesk.kit.safehttp.make_client`:

* every new connection resolves the host with :func:`~relaydesk.kit.safehttp.resolve_checked`
  (every address checked against the endpoint's allow-list, metadata and link-local always
  blocked) and connects to a checked address, never resolving again, so DNS rebinding cannot
  slip through; a kept-alive connection is reused only by requests with the same allow-list
  to the same scheme, host and port;
* redirects are never followed (the 3xx answer is returned), no proxy and no environment
  settings are used, TLS verifies the certificate against the URL's host name (SNI too);
* the answer is read up to ``limit`` bytes; a longer body is drained to keep the connection
  only up to ``DRAIN_MAX`` bytes, otherwise the connection is closed;
* one deadline (the timeout) covers connecting, sending and reading.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections import OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import httpcore
import httpx

from relaydesk.kit.safehttp import OutboundPolicy, resolve_checked

__all__ = ["ConnectError", "HttpError", "LeanClient", "ProtocolError", "ReadError", "Response"]

#: bytes of an answer's body read (and dropped) to keep its connection; longer: closed
DRAIN_MAX = 256 * 1024
#: the status line and headers of an answer, at most
HEAD_MAX = 64 * 1024
_PAUSE_AT = 512 * 1024


class HttpError(Exception):
    """A request that got no (complete) answer."""


class ConnectError(HttpError):
    """No connection could be made (refused, unreachable, TLS handshake or verification)."""


class ReadError(HttpError):
    """The server closed the connection before its answer was complete."""


class ProtocolError(HttpError):
    """Not an HTTP/1.x answer, or a request this client refuses to send."""


@dataclass(frozen=True, slots=True)
class Response:
    status_code: int
    #: lower-case names (the last value of a repeated header)
    headers: dict[str, str]
    #: the first ``limit`` bytes of the body
    body: bytes


@dataclass(frozen=True, slots=True)
class _Target:
    scheme: str
    host: str
    port: int
    head: bytes  # "POST <target> HTTP/1.1" and the Host header


def _target(url: str) -> _Target:
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if not host.isascii():
            host = host.encode("idna").decode("ascii")
        default = 443 if parts.scheme == "https" else 80
        port = parts.port or default
    except ValueError as exc:  # a bad port, a host IDNA cannot encode
        raise ProtocolError(f"not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise ProtocolError(f"only http and https URLs are allowed (got {parts.scheme!r})")
    if not host:
        raise ProtocolError("the URL has no host")
    shown = f"[{host}]" if ":" in host else host
    authority = shown if port == default else f"{shown}:{port}"
    target = quote(parts.path or "/", safe="/%!$&'()*+,;=:@-._~")
    if parts.query:
        target += "?" + quote(parts.query, safe="/?%!$&'()*+,;=:@-._~")
    if not all(32 < ord(ch) < 127 for ch in authority + target):  # quote() made it ASCII
        raise ProtocolError("the URL holds characters a request line cannot carry")
    head = f"POST {target} HTTP/1.1\r\nHost: {authority}\r\n"
    return _Target(parts.scheme, host, port, head.encode("ascii"))


class _Connection(asyncio.Protocol):
    """One TCP (or TLS) connection: bytes in a buffer, a waiter woken when more arrive."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.closed = False
        self.idle_since = 0.0
        self._waiter: asyncio.Future[None] | None = None
        self._paused = False

    # --- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) > _PAUSE_AT and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self.closed = True
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # --- use ----------------------------------------------------------------------------

    def usable(self, now: float, keepalive: float) -> bool:
        """Idle, open, nothing unasked-for received, not idle for too long, and of this
        event loop (a client may outlive the loop it first ran in)."""
        transport = self.transport
        return (not self.closed and not self.buffer and transport is not None
                and not transport.is_closing() and now - self.idle_since < keepalive
                and self.loop is asyncio.get_running_loop())  # fmt: skip

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            with contextlib.suppress(RuntimeError):  # its event loop is closed already
                self.transport.close()

    async def _fill(self) -> None:
        if self.closed:
            raise ReadError("the server closed the connection")
        if self._paused and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        self._waiter = self.loop.create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    async def read_head(self) -> bytes:
        start = 0
        while True:
            end = self.buffer.find(b"\r\n\r\n", start)
            if end >= 0:
                head = bytes(self.buffer[:end])
                del self.buffer[: end + 4]
                return head
            if len(self.buffer) > HEAD_MAX:
                raise ProtocolError("the answer's headers are too large")
            start = max(0, len(self.buffer) - 3)
            await self._fill()

    async def read_line(self) -> bytes:
        while True:
            end = self.buffer.find(b"\r\n")
            if end >= 0:
                line = bytes(self.buffer[:end])
                del self.buffer[: end + 2]
                return line
            if len(self.buffer) > 4096:
                raise ProtocolError("a chunk header is too long")
            await self._fill()

    async def read_into(self, out: bytearray, count: int, keep: int) -> None:
        """Read ``count`` bytes, appending to ``out`` until it holds ``keep``."""
        while count > 0:
            if not self.buffer:
                await self._fill()
            take = min(count, len(self.buffer))
            room = keep - len(out)
            if room > 0:
                out += self.buffer[: min(take, room)]
            del self.buffer[:take]
            count -= take

    async def read_to_eof(self, out: bytearray, keep: int) -> None:
        while True:
            room = keep - len(out)
            if room > 0:
                out += self.buffer[:room]
            self.buffer.clear()
            if self.closed or len(out) >= keep:
                return
            await self._fill()


def _headers(head: bytes) -> tuple[bytes, int, dict[str, str]]:
    lines = head.split(b"\r\n")
    version, _, rest = lines[0].partition(b" ")
    code = rest[:3]
    if not version.startswith(b"HTTP/1.") or len(code) != 3 or not code.isdigit():
        raise ProtocolError(f"not an HTTP/1.x answer: {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if sep:
            headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
    return version, int(code), headers


class LeanClient:
    """POSTs over kept-alive connections, for one allow-list (``policy``)."""

    def __init__(
        self,
        policy: OutboundPolicy,
        *,
        timeout: float,
        headers: Mapping[str, str] | None = None,
        max_connections: int = 100,
        max_idle: int = 20,
        keepalive: float = 4.0,
    ) -> None:
        self.policy = policy
        self.timeout = timeout
        self.keepalive = keepalive
        self.max_idle = max_idle
        self._fixed = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items()).encode()
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: dict[tuple[str, str, int], deque[_Connection]] = {}
        self._targets: OrderedDict[str, _Target] = OrderedDict()
        self.is_closed = False

    def _target(self, url: str) -> _Target:
        found = self._targets.get(url)
        if found is None:
            found = self._targets[url] = _target(url)
            while len(self._targets) > 256:
                self._targets.popitem(last=False)
        return found

    async def post(self, url: str, body: bytes, headers: Mapping[str, str], limit: int) -> Response:
        """POST ``body``; the status, headers and the first ``limit`` bytes of the answer.
        Raises :class:`HttpError`, ``BlockedDestination``, ``TimeoutError`` or ``OSError``."""
        target = self._target(url)
        extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        if extra.count("\n") != len(headers) or extra.count("\r") != len(headers):
            raise ProtocolError("a header holds a line break")
        try:
            encoded = extra.encode("latin-1")
        except UnicodeEncodeError:
            raise ProtocolError("a header holds characters HTTP/1.1 cannot carry") from None
        request = b"".join((target.head, self._fixed, encoded,
                            b"Content-Length: %d\r\n\r\n" % len(body), body))  # fmt: skip
        async with asyncio.timeout(self.timeout), self._slots:
            connection = await self._connection(target)
            reusable = False
            try:
                assert connection.transport is not None
                connection.transport.write(request)
                response, reusable = await _read_response(connection, limit)
            finally:
                if reusable and not self.is_closed:
                    self._give_back(target, connection)
                else:
                    connection.close()
        return response

    async def _connection(self, target: _Target) -> _Connection:
        key = (target.scheme, target.host, target.port)
        idle = self._idle.get(key)
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            if connection.usable(now, self.keepalive):
                return connection
            connection.close()
        return await self._connect(target)

    def _give_back(self, target: _Target, connection: _Connection) -> None:
        idle = self._idle.setdefault((target.scheme, target.host, target.port), deque())
        connection.idle_since = time.monotonic()
        idle.append(connection)
        while len(idle) > self.max_idle:
            idle.popleft().close()

    async def _connect(self, target: _Target) -> _Connection:
        """Resolve, check every address (the policy), connect to a checked one."""
        try:
            addresses = await resolve_checked(target.host, target.port, self.policy)
        except httpcore.ConnectTimeout as exc:
            raise TimeoutError(str(exc)) from None
        except httpcore.ConnectError as exc:
            raise ConnectError(str(exc)) from None
        loop = asyncio.get_running_loop()
        secure = target.scheme == "https"
        last: Exception | None = None
        for address in addresses:
            try:
                _, connection = await loop.create_connection(
                    lambda: _Connection(loop), address, target.port,
                    ssl=_ssl_context() if secure else None,
                    server_hostname=target.host if secure else None,
                )  # fmt: skip
                return connection
            except (OSError, ssl.SSLError) as exc:
                last = exc
        raise ConnectError(f"{type(last).__name__}: {last}" if last else "cannot connect")

    async def aclose(self) -> None:
        self.is_closed = True
        for idle in self._idle.values():
            while idle:
                idle.pop().close()
        self._idle.clear()


async def _read_response(connection: _Connection, limit: int) -> tuple[Response, bool]:
    """The answer (informational 1xx answers skipped) and whether the connection may be
    used again."""
    while True:
        version, status, headers = _headers(await connection.read_head())
        if not 100 <= status < 200:
            break
    body = bytearray()
    reusable = version == b"HTTP/1.1" and "close" not in headers.get("connection", "").lower()
    if status in (204, 304):
        pass
    elif "chunked" in headers.get("transfer-encoding", "").lower():
        drained = 0
        while True:
            size_text = (await connection.read_line()).split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise ProtocolError("a malformed chunk size") from None
            if size == 0:
                while await connection.read_line():  # trailers
                    pass
                break
            drained += size
            if drained > DRAIN_MAX and len(body) >= limit:
                reusable = False
                break
            await connection.read_into(body, size, limit)
            if await connection.read_line():
                raise ProtocolError("a chunk is longer than its size")
    elif "content-length" in headers:
        text = headers["content-length"]
        if not text.isdigit():
            raise ProtocolError("a malformed Content-Length")
        length = int(text)
        if length > DRAIN_MAX:
            reusable = False
            length = min(length, limit)
        await connection.read_into(body, length, limit)
    else:  # the body ends with the connection
        reusable = False
        await connection.read_to_eof(body, limit)
    return Response(status, headers, bytes(body[:limit])), reusable


_SSL: ssl.SSLContext | None = None


def _ssl_context() -> ssl.SSLContext:
    """One context for every connection: httpx's defaults (certifi), HTTP/1.1 by ALPN."""
    global _SSL
    if _SSL is None:
        context = httpx.create_ssl_context(verify=True, trust_env=False)
        context.set_alpn_protocols(["http/1.1"])
        _SSL = context
    return _SSL
