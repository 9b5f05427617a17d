"""``Idempotency-Key`` on POST: the first response for (credential, key) is stored and
replayed for retries. The middleware that uses this table is below the model."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable

import structlog
from sqlalchemy import LargeBinary, String, delete, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from relaydesk.errors import AppError, BadRequest, Conflict, ValidationFailed
from relaydesk.kit.context import request_id_var
from relaydesk.kit.db import Base, Database, utcnow


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_keys"

    #: SHA-256 of the credential (Authorization / X-API-Key) the request came with
    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(500))
    request_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), default="in_progress")
    response_status: Mapped[int | None] = mapped_column(nullable=True)
    response_headers: Mapped[list[str]] = mapped_column(default=list)
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)


# --- the middleware ------------------------------------------------------------------------

IN_PROGRESS = "in_progress"
COMPLETED = "completed"
REPLAYED_HEADER = (b"idempotent-replayed", b"true")
#: 1-255 printable ASCII characters (a UUID is the usual choice)
_KEY_RE = re.compile(r"[\x20-\x7e]{1,255}")
#: an in-progress row this old was left behind by a crashed worker: it may be taken over
STALE_AFTER = dt.timedelta(minutes=5)
#: larger responses are not kept; a retry then runs the request again
MAX_STORED_BODY = 1_048_576
#: statuses that invite a retry are never stored (besides every 5xx)
_RETRYABLE = frozenset({408, 429})
#: headers that belong to one delivery, not to the stored response
_SKIP_HEADERS = frozenset({b"x-request-id", b"date", b"server", b"set-cookie"})

_log = structlog.get_logger("relaydesk.idempotency")

DbGetter = Callable[[Scope], Database]


def _app_db(scope: Scope) -> Database:
    db: Database = scope["app"].state.db
    return db


def _invalid_key() -> AppError:
    return BadRequest(
        "Idempotency-Key must be 1 to 255 printable ASCII characters",
        code="invalid_idempotency_key",
        details=[{"loc": ["header", "Idempotency-Key"], "msg": "1-255 printable characters"}],
    )


def _in_progress() -> AppError:
    return Conflict(
        "A request with this Idempotency-Key is still being processed; retry shortly",
        code="idempotency_in_progress",
        headers={"Retry-After": "1"},
    )


def _reused() -> AppError:
    return ValidationFailed(
        "This Idempotency-Key was already used for a different request; use a new key",
        code="idempotency_key_reused",
    )


async def _send_error(send: Send, exc: AppError) -> None:
    headers = [(b"content-type", b"application/json")]
    headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in exc.headers.items()]
    await send({"type": "http.response.start", "status": exc.status_code, "headers": headers})
    body = exc.to_dict()
    body["error"]["request_id"] = request_id_var.get()
    await send({"type": "http.response.body", "body": json.dumps(body).encode()})


async def _read_body(receive: Receive) -> bytes | None:
    """The whole body (size-limited upstream); None if the client went away."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _refeed(body: bytes, receive: Receive) -> Receive:
    """Give the application the body already read, then the real channel (disconnects)."""
    delivered = False

    async def wrapped() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return wrapped


class _Capture:
    """Forwards the response while keeping a copy of it."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.status: int | None = None
        self.headers: list[tuple[bytes, bytes]] = []
        self.body = bytearray()
        self.too_big = False
        self.complete = False

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = int(message["status"])
            self.headers = [(bytes(k), bytes(v)) for k, v in message.get("headers", [])]
        elif message["type"] == "http.response.body":
            chunk = message.get("body", b"")
            if len(self.body) + len(chunk) > MAX_STORED_BODY:
                self.too_big = True
            elif not self.too_big:
                self.body += chunk
            if not message.get("more_body", False):
                self.complete = True
        await self._send(message)

    @property
    def storable(self) -> bool:
        return (
            self.complete
            and not self.too_big
            and self.status is not None
            and self.status < 500
            and self.status not in _RETRYABLE
        )


def credential_scope(headers: Headers) -> str | None:
    """SHA-256 of the credential the request authenticates with (as the auth deps pick it)."""
    credential = headers.get("x-api-key") or headers.get("authorization")
    if not credential:
        return None
    return hashlib.sha256(credential.encode("latin-1")).hexdigest()


def request_fingerprint(scope: Scope, body: bytes) -> str:
    digest = hashlib.sha256()
    digest.update(f"{scope['method']} {scope['path']}".encode())
    if scope.get("query_string"):
        digest.update(b"?" + bytes(scope["query_string"]))
    digest.update(b"\n")
    digest.update(body)
    return digest.hexdigest()


class IdempotencyMiddleware:
    """``Idempotency-Key`` on ``POST /api/...``, Stripe-style.

    The first request with a key claims it (an ``in_progress`` row, in its own short
    transaction), runs, and its response is stored unless it is a 5xx, 408 or 429 (then the
    row is removed so the client can retry). A retry with the same key and the same request
    gets the stored response again with ``Idempotent-Replayed: true``; the same key with a
    different request is refused (422 ``idempotency_key_reused``); a retry while the first is
    still running gets 409 ``idempotency_in_progress``. Keys are scoped by the credential
    (``X-API-Key`` or ``Authorization``); requests without one are passed through untouched.

    Install it inside :class:`~relaydesk.kit.middleware.RequestContextMiddleware` (add it
    before that one), so that bodies are size-limited and error bodies carry the request id.
    """

    def __init__(
        self, app: ASGIApp, db_getter: DbGetter = _app_db, ttl_seconds: int | None = None
    ) -> None:
        self.app = app
        self.db_getter = db_getter
        self.ttl_seconds = ttl_seconds

    def _ttl(self, scope: Scope) -> dt.timedelta:
        if self.ttl_seconds is not None:
            return dt.timedelta(seconds=self.ttl_seconds)
        return dt.timedelta(seconds=scope["app"].state.settings.http.idempotency_ttl_seconds)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or not scope["path"].startswith("/api/")
        ):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        key = headers.get("idempotency-key")
        owner = credential_scope(headers)
        if key is None or owner is None:
            await self.app(scope, receive, send)
            return
        if not _KEY_RE.fullmatch(key):
            await _send_error(send, _invalid_key())
            return
        body = await _read_body(receive)
        if body is None:
            return
        db = self.db_getter(scope)
        fingerprint = request_fingerprint(scope, body)
        try:
            stored = await self._claim(db, scope, owner, key, fingerprint)
        except AppError as exc:
            await _send_error(send, exc)
            return
        if stored is not None:
            await self._replay(send, stored)
            return
        capture = _Capture(send)
        try:
            await self.app(scope, _refeed(body, receive), capture.send)
        except BaseException:
            await self._release(db, owner, key)
            raise
        if capture.storable:
            await self._store(db, owner, key, capture)
        else:
            await self._release(db, owner, key)

    async def _claim(
        self, db: Database, scope: Scope, owner: str, key: str, fingerprint: str
    ) -> IdempotencyRecord | None:
        """None when this request now owns the key; the finished record to replay otherwise."""
        now = utcnow()
        try:
            async with db.job(system=True) as session:
                row = await session.get(IdempotencyRecord, (owner, key))
                if row is not None:
                    stale = row.status == IN_PROGRESS and row.created_at <= now - STALE_AFTER
                    if row.expires_at > now and not stale:
                        if row.request_hash != fingerprint:
                            raise _reused()
                        if row.status != COMPLETED:
                            raise _in_progress()
                        return row
                    await session.delete(row)
                    await session.flush()
                session.add(
                    IdempotencyRecord(
                        scope=owner, key=key, method=scope["method"],
                        path=scope["path"][:500], request_hash=fingerprint, status=IN_PROGRESS,
                        created_at=now, expires_at=now + self._ttl(scope),
                    )
                )
                await session.flush()
        except IntegrityError:  # a concurrent request claimed the key first
            raise _in_progress() from None
        return None

    @staticmethod
    async def _replay(send: Send, row: IdempotencyRecord) -> None:
        headers = []
        for line in row.response_headers:
            name, _, value = line.partition(":")
            headers.append((name.encode("latin-1"), value.strip().encode("latin-1")))
        headers.append(REPLAYED_HEADER)
        await send({
            "type": "http.response.start", "status": row.response_status, "headers": headers
        })
        await send({"type": "http.response.body", "body": row.response_body or b""})

    async def _store(self, db: Database, owner: str, key: str, capture: _Capture) -> None:
        kept = [
            f"{name.decode('latin-1')}: {value.decode('latin-1')}"
            for name, value in capture.headers
            if name.lower() not in _SKIP_HEADERS
        ]
        try:
            async with db.job(system=True) as session:
                await session.execute(
                    update(IdempotencyRecord)
                    .where(IdempotencyRecord.scope == owner, IdempotencyRecord.key == key)
                    .values(
                        status=COMPLETED, response_status=capture.status,
                        response_headers=kept, response_body=bytes(capture.body),
                    )
                )
        except Exception as exc:  # the response is already sent; let a retry run again
            _log.warning("idempotency_store_failed", error_type=type(exc).__name__)
            await self._release(db, owner, key)

    @staticmethod
    async def _release(db: Database, owner: str, key: str) -> None:
        try:
            async with db.job(system=True) as session:
                await session.execute(
                    delete(IdempotencyRecord).where(
                        IdempotencyRecord.scope == owner, IdempotencyRecord.key == key
                    )
                )
        except Exception as exc:  # the row goes stale and is taken over after STALE_AFTER
            _log.warning("idempotency_release_failed", error_type=type(exc).__name__)


async def purge_expired(session: AsyncSession) -> int:
    """Delete expired keys (for a periodic job; expired keys are also overwritten on use)."""
    result = await session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.expires_at <= utcnow())
    )
    return int(getattr(result, "rowcount", 0) or 0)
