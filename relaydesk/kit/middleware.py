"""One pure-ASGI middleware for what every request needs (no BaseHTTPMiddleware overhead):
request id, client IP, body size limit, per-IP rate limit, security headers, metrics, logs.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

import structlog
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from relaydesk.config import Settings
from relaydesk.errors import AppError, PayloadTooLarge, TooManyRequests
from relaydesk.kit.context import client_ip_var, request_id_var
from relaydesk.kit.logging import info_line
from relaydesk.kit.metrics import HTTP_LATENCY, HTTP_REQUESTS, RATE_LIMITED
from relaydesk.kit.ratelimit import RateDecision, RateLimiter

_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._\-]{8,64}$")
_log = structlog.get_logger("relaydesk.http")
_http_log = logging.getLogger("relaydesk.http")

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        b"img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'",
    ),
]
# the interactive docs page loads its assets from the package, but needs an inline bootstrap
DOCS_CSP = (
    b"default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    b"img-src 'self' data:; frame-ancestors 'none'"
)


class BodyTooLarge(StarletteHTTPException):
    """Raised while the app reads the body; an HTTPException so FastAPI lets it through."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"Request body is larger than the limit of {limit} bytes")
        self.limit = limit


#: paths of the file upload routes: their bodies may reach ``http.max_upload_bytes`` instead
#: of ``http.max_body_bytes`` (each route enforces its own, usually lower, attachment limit)
_UPLOAD_PATHS: list[re.Pattern[str]] = []


def allow_uploads(path_pattern: str) -> None:
    """Let requests whose path fully matches ``path_pattern`` (a regular expression) carry
    bodies up to ``http.max_upload_bytes``. Called once by the module defining the route."""
    compiled = re.compile(path_pattern)
    if all(p.pattern != compiled.pattern for p in _UPLOAD_PATHS):
        _UPLOAD_PATHS.append(compiled)


def is_upload_path(path: str) -> bool:
    return any(p.fullmatch(path) for p in _UPLOAD_PATHS)


def route_template(scope: Scope) -> str:
    """The matched route's path template (bounded label cardinality for metrics)."""
    # FastAPI >= 0.16x nests included routers; its effective context has the full path
    ctx = (scope.get("fastapi") or {}).get("effective_route_context")
    path = getattr(ctx, "path", None) or getattr(scope.get("route"), "path", None)
    return str(path) if path else "<unmatched>"


async def guarded_hit(limiter: RateLimiter, key: str, limit: int) -> RateDecision:
    """A limiter whose store is down lets traffic through (and says so in the log)."""
    try:
        return await limiter.hit(key, limit, 60)
    except Exception as exc:  # the limiter protects the service; it must not take it down
        _log.warning("rate_limiter_unavailable", error_type=type(exc).__name__)
        return RateDecision(allowed=True, remaining=0, retry_after=0)


def error_body(exc: AppError, request_id: str | None) -> bytes:
    body = exc.to_dict()
    body["error"]["request_id"] = request_id
    return json.dumps(body, ensure_ascii=False).encode()


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings, rate_limiter: RateLimiter) -> None:
        self.app = app
        self.settings = settings
        self.max_body = settings.http.max_body_bytes
        self.max_upload = max(settings.http.max_upload_bytes, self.max_body)
        self.ip_limit = settings.http.rate_limit_ip_per_minute
        self.rate_limiter = rate_limiter

    def _client_ip(self, scope: Scope, headers: dict[bytes, bytes]) -> str | None:
        if self.settings.http.trust_forwarded_for and b"x-forwarded-for" in headers:
            # the right-most entry is the one our proxy appended; the rest is client-written
            return headers[b"x-forwarded-for"].decode("latin-1").split(",")[-1].strip() or None
        client = scope.get("client")
        return client[0] if client else None

    async def _refuse(self, send: Send, exc: AppError, request_id: str) -> None:
        headers = [(b"content-type", b"application/json"), (b"x-request-id", request_id.encode())]
        headers += [(k.lower().encode(), v.encode()) for k, v in exc.headers.items()]
        await send({"type": "http.response.start", "status": exc.status_code, "headers": headers})
        await send({"type": "http.response.body", "body": error_body(exc, request_id)})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex
        ip = self._client_ip(scope, headers)
        rid_token = request_id_var.set(request_id)
        ip_token = client_ip_var.set(ip)
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status_holder = {"status": 500}
        path: str = scope["path"]
        try:
            if path.startswith("/api/") and ip is not None:
                decision = await guarded_hit(self.rate_limiter, f"ip:{ip}", self.ip_limit)
                if not decision.allowed:
                    RATE_LIMITED.labels("ip").inc()
                    status_holder["status"] = 429
                    await self._refuse(
                        send,
                        TooManyRequests(decision.retry_after, "Too many requests from your IP"),
                        request_id,
                    )
                    return
            limit = self.max_upload if is_upload_path(path) else self.max_body
            declared = headers.get(b"content-length")
            if declared is not None and declared.isdigit() and int(declared) > limit:
                status_holder["status"] = 413
                await self._refuse(send, self._too_large(limit), request_id)
                return
            await self.app(
                scope,
                self._limited(receive, limit),
                self._wrap_send(send, request_id, status_holder, path),
            )
        except BodyTooLarge as exc:
            status_holder["status"] = 413
            await self._refuse(send, self._too_large(exc.limit), request_id)
        except PayloadTooLarge as exc:
            status_holder["status"] = 413
            await self._refuse(send, exc, request_id)
        except Exception:
            if not status_holder.get("started"):
                status_holder["status"] = 500
                await self._refuse(
                    send,
                    AppError(
                        "Something went wrong on our side; quote the request id when reporting it"
                    ),
                    request_id,
                )
            raise  # the server logs it; the client already has its answer
        finally:
            elapsed = time.perf_counter() - started
            template = route_template(scope)
            method = scope.get("method", "GET")
            HTTP_REQUESTS.labels(method, template, str(status_holder["status"])).inc()
            HTTP_LATENCY.labels(method, template).observe(elapsed)
            quiet = path.startswith("/hooks/") and status_holder["status"] < 400
            if not path.startswith(("/healthz", "/metrics")) and not quiet:
                info_line(
                    _http_log,
                    "request",
                    method=method,
                    path=path,
                    status=status_holder["status"],
                    duration_ms=round(elapsed * 1000, 2),
                    client_ip=ip,
                )
            request_id_var.reset(rid_token)
            client_ip_var.reset(ip_token)

    def _too_large(self, limit: int) -> PayloadTooLarge:
        what = "the upload limit" if limit != self.max_body else "the limit"
        return PayloadTooLarge(
            f"Request body is larger than {what} of {limit} bytes",
            details={"limit_bytes": limit},
        )

    @staticmethod
    def _limited(receive: Receive, limit: int) -> Receive:
        seen = 0

        async def wrapped() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        return wrapped

    @staticmethod
    def _wrap_send(send: Send, request_id: str, holder: dict[str, Any], path: str) -> Send:
        csp_docs = path.startswith("/api/v1/docs")

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                holder["status"] = message["status"]
                holder["started"] = True
                extra = [(b"x-request-id", request_id.encode())]
                for name, value in SECURITY_HEADERS:
                    if name == b"content-security-policy" and csp_docs:
                        value = DOCS_CSP
                    extra.append((name, value))
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        return wrapped
