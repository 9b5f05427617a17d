"""A small blocking IMAP client (stdlib ``imaplib``) pinned to checked addresses.

The caller resolves the host and checks every address against the inbox's outbound policy
(:func:`relaydesk.kit.safehttp.resolve_checked`), then runs this client in a thread: it
connects to exactly those addresses while TLS (SNI and certificate check) still uses the
configured host name, so DNS rebinding cannot redirect it. The mailbox is opened read-only
(``EXAMINE``): Relaydesk never changes flags or deletes mail. Messages are read with
``BODY.PEEK[]``; IDLE (RFC 2177) waits for new mail when the server offers it.
"""

from __future__ import annotations

import contextlib
import imaplib
import re
import select
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Any

__all__ = ["ImapParams", "MailboxError", "MailboxSession"]

_FETCH_META = re.compile(rb"UID (\d+)|RFC822\.SIZE (\d+)")


class MailboxError(Exception):
    """The mailbox could not be read (connection, TLS, login, mailbox name)."""


@dataclass(frozen=True)
class ImapParams:
    host: str
    port: int
    tls: str
    user: str
    password: str
    mailbox: str
    addresses: tuple[str, ...]
    ssl_context: ssl.SSLContext
    timeout: float = 30.0


def _connect(address: str, port: int, timeout: float) -> socket.socket:
    sock: socket.socket = socket.create_connection((address, port), timeout=timeout)
    return sock


class _Plain(imaplib.IMAP4):
    def __init__(self, params: ImapParams, address: str) -> None:
        self._address = address
        super().__init__(params.host, params.port, timeout=params.timeout)

    def _create_socket(self, timeout: float | None) -> socket.socket:
        return _connect(self._address, self.port, timeout or 30.0)


class _Tls(imaplib.IMAP4_SSL):
    def __init__(self, params: ImapParams, address: str) -> None:
        self._address = address
        super().__init__(
            params.host, params.port, ssl_context=params.ssl_context, timeout=params.timeout
        )

    def _create_socket(self, timeout: float | None) -> socket.socket:
        sock = _connect(self._address, self.port, timeout or 30.0)
        context: ssl.SSLContext = self.ssl_context
        return context.wrap_socket(sock, server_hostname=self.host)


def _quote(mailbox: str) -> str:
    return '"' + mailbox.replace("\\", "\\\\").replace('"', '\\"') + '"'


class MailboxSession:
    """One logged-in, read-only connection to the inbox's mailbox (use from one thread)."""

    def __init__(self, params: ImapParams) -> None:
        self.params = params
        self.imap = self._open()
        self.uidvalidity, self.uidnext = self._examine()
        self._idle_tag = 0

    def _open(self) -> imaplib.IMAP4:
        p = self.params
        last: Exception | None = None
        for address in p.addresses:
            try:
                imap: imaplib.IMAP4 = _Tls(p, address) if p.tls == "tls" else _Plain(p, address)
            except (OSError, imaplib.IMAP4.error) as exc:
                last = exc
                continue
            try:
                if p.tls == "starttls":
                    imap.starttls(ssl_context=p.ssl_context)
                imap.login(p.user, p.password)
            except (OSError, imaplib.IMAP4.error) as exc:
                _close(imap)
                raise MailboxError(f"IMAP {p.host}: {_describe(exc)}") from None
            return imap
        raise MailboxError(f"IMAP {p.host}:{p.port}: cannot connect: {_describe(last)}")

    def _examine(self) -> tuple[int, int]:
        typ, data = self.imap.select(_quote(self.params.mailbox), readonly=True)
        if typ != "OK":
            raise MailboxError(f"IMAP mailbox {self.params.mailbox!r}: {_text(data)}")
        validity = self.imap.response("UIDVALIDITY")[1]
        uidnext = self.imap.response("UIDNEXT")[1]
        if uidnext and uidnext[0]:
            following = int(uidnext[0])
        else:  # not announced: one more than the highest UID
            following = max(_numbers(self._uid("SEARCH", "ALL")), default=0) + 1
        return int(validity[0]) if validity and validity[0] else 0, following

    def _uid(self, command: str, *args: str) -> list[object]:
        typ, data = self.imap.uid(command, *args)
        if typ != "OK":
            raise MailboxError(f"IMAP UID {command}: {_text(data)}")
        return list(data)

    def uids_after(self, last_uid: int) -> list[int]:
        data = self._uid("SEARCH", "UID", f"{last_uid + 1}:*")
        return sorted(u for u in _numbers(data) if u > last_uid)

    def uids_since(self, day: str) -> list[int]:
        """UIDs of messages received on or after ``day`` (``21-Nov-2026``)."""
        return sorted(_numbers(self._uid("SEARCH", "SINCE", day)))

    def sizes(self, uids: list[int]) -> dict[int, int]:
        if not uids:
            return {}
        out: dict[int, int] = {}
        for item in self._uid("FETCH", ",".join(map(str, uids)), "(UID RFC822.SIZE)"):
            line = item[0] if isinstance(item, tuple) else item
            if not isinstance(line, bytes):
                continue
            uid = size = None
            for m in _FETCH_META.finditer(line):
                uid = int(m.group(1)) if m.group(1) else uid
                size = int(m.group(2)) if m.group(2) else size
            if uid is not None and size is not None:
                out[uid] = size
        return out

    def fetch(self, uid: int, *, headers_only: bool = False) -> bytes:
        section = "BODY.PEEK[HEADER]" if headers_only else "BODY.PEEK[]"
        for item in self._uid("FETCH", str(uid), f"({section})"):
            if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], bytes):
                return item[1]
        raise MailboxError(f"IMAP: message UID {uid} vanished")

    @property
    def supports_idle(self) -> bool:
        return "IDLE" in self.imap.capabilities

    def idle(self, seconds: float) -> bool:
        """Wait up to ``seconds`` in IDLE; True as soon as the server announces new mail."""
        if seconds <= 0 or not self.supports_idle:
            return False
        announced = self.imap.untagged_responses
        if announced.pop("EXISTS", None) or announced.pop("RECENT", None):
            return True  # mail arrived while we were reading: the server told us already
        self._idle_tag += 1
        tag = f"RDIDLE{self._idle_tag}".encode()
        self.imap.send(tag + b" IDLE\r\n")
        first = self.imap.readline()
        if not first.startswith(b"+"):
            raise MailboxError(f"IMAP IDLE refused: {first.decode(errors='replace').strip()}")
        deadline = time.monotonic() + seconds
        arrived = False
        try:
            while not arrived and (remaining := deadline - time.monotonic()) > 0:
                if not self._readable(min(remaining, 5.0)):
                    continue
                line = self.imap.readline()
                if not line:
                    raise MailboxError("IMAP: the server closed the connection during IDLE")
                arrived = line.startswith(b"*") and (b"EXISTS" in line or b"RECENT" in line)
        finally:
            self.imap.send(b"DONE\r\n")
            while True:
                line = self.imap.readline()
                if not line or line.startswith(tag):
                    break
        return arrived

    def _readable(self, timeout: float) -> bool:
        """Data is waiting: in the reader's buffer, in the TLS layer, or on the socket."""
        sock = self.imap.sock
        previous = sock.gettimeout()
        sock.settimeout(0.0)
        try:
            reader: Any = self.imap.file  # a BufferedReader over the socket
            if reader.peek(1):
                return True
        except (BlockingIOError, ssl.SSLWantReadError):
            pass
        finally:
            sock.settimeout(previous)
        if isinstance(sock, ssl.SSLSocket) and sock.pending():
            return True
        ready, _, _ = select.select([sock], [], [], timeout)
        return bool(ready)

    def close(self) -> None:
        _close(self.imap)


def _close(imap: imaplib.IMAP4) -> None:
    with contextlib.suppress(Exception):  # the connection is being dropped anyway
        imap.logout()


def _numbers(data: list[object]) -> list[int]:
    out: list[int] = []
    for item in data:
        if isinstance(item, bytes):
            out.extend(int(x) for x in item.split() if x.isdigit())
    return out


def _text(data: object) -> str:
    if isinstance(data, list) and data and isinstance(data[0], bytes):
        return data[0].decode(errors="replace")
    return str(data)


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return "no address to connect to"
    if isinstance(exc, OSError):
        return f"{type(exc).__name__}: {exc}"
    text = exc.args[0] if exc.args else exc
    return text.decode(errors="replace") if isinstance(text, bytes) else str(text)
