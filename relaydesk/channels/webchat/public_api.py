"""The widget's public HTTP endpoints (no user authentication: the visitor token is theirs).

``GET /widget/widget.js`` the script; ``GET /widget/api/{inbox}/config`` how the widget looks
and whether anyone is online; ``POST /widget/api/{inbox}/session`` a visitor token (with the
site's signed user id, the pre-chat form); ``POST /widget/api/{inbox}/uploads`` a file (the
raw bytes, ``Content-Type`` and ``X-Filename``; ``X-Visitor-Token``) → an upload token to send
with a message; ``GET /widget/files/{token}`` a file of the conversation by signed link;
``GET /widget/demo/{inbox}`` a demo host page. The visitors' WebSocket is in ``socket.py``.

These paths are outside ``/api/`` and the OpenAPI document (docs/channels.md describes them).
Any page may call them (CORS ``*``, no cookies); the session, upload and socket endpoints
check the page's ``Origin`` against the inbox's allowed origins themselves.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Annotated
from urllib.parse import quote, unquote

from fastapi import APIRouter, Header, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from relaydesk.channels.email.storage import attachment_key
from relaydesk.channels.webchat import service
from relaydesk.channels.webchat.demo_page import demo_html
from relaydesk.channels.webchat.runtime import WebChatRuntime, webchat_runtime
from relaydesk.channels.webchat.schemas import SessionIn, SessionOut, UploadOut, WidgetConfig
from relaydesk.channels.webchat.settings import type_allowed
from relaydesk.channels.webchat.tokens import FileRef, TokenError
from relaydesk.errors import (
    NotFound,
    PayloadTooLarge,
    TooManyRequests,
    UnsupportedMediaType,
    ValidationFailed,
)
from relaydesk.kit.context import client_ip_var
from relaydesk.kit.db import Database
from relaydesk.kit.middleware import allow_uploads, guarded_hit

router = APIRouter(include_in_schema=False)

WIDGET_JS = Path(__file__).resolve().parents[2] / "web" / "widget" / "dist" / "widget.js"
SESSIONS_PER_IP_MINUTE = 60
UPLOADS_PER_VISITOR_MINUTE = 20
#: types shown inline from our origin; anything else is downloaded
INLINE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
_MAGIC = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "application/pdf": (b"%PDF-",),
}
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\]+")
# uploads may exceed http.max_body_bytes, up to http.max_upload_bytes and the inbox's own limit
allow_uploads(r"/widget/api/[^/]+/uploads")


class WidgetCors:
    """CORS for ``/widget/api/``: any origin may call (no credentials are ever used)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/widget/api/"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        if scope["method"] == "OPTIONS" and b"access-control-request-method" in headers:
            await send(
                {
                    "type": "http.response.start",
                    "status": 204,
                    "headers": [
                        (b"access-control-allow-origin", b"*"),
                        (b"access-control-allow-methods", b"GET, POST"),
                        (
                            b"access-control-allow-headers",
                            b"content-type, x-visitor-token, x-filename, x-request-id",
                        ),
                        (b"access-control-max-age", b"600"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return

        async def with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {
                    **message,
                    "headers": [
                        *message.get("headers", []),
                        (b"access-control-allow-origin", b"*"),
                        (b"access-control-expose-headers", b"retry-after, x-request-id"),
                    ],
                }
            await send(message)

        await self.app(scope, receive, with_cors)


def _runtime(request: Request) -> WebChatRuntime:
    return webchat_runtime(request.app.state.db)


async def _inbox(request: Request, inbox_id: str) -> service.PublicInbox:
    try:
        parsed = uuid.UUID(inbox_id)
    except ValueError:
        raise NotFound("this chat is not available") from None
    db: Database = request.app.state.db
    return await service.load_inbox(db, parsed)


def _check_origin(request: Request, inbox: service.PublicInbox) -> None:
    service.check_origin(inbox, request.headers.get("origin"), request.headers.get("host"))


async def _limit(runtime: WebChatRuntime, key: str, limit: int, what: str) -> None:
    decision = await guarded_hit(runtime.rate_limiter, key, limit)
    if not decision.allowed:
        raise TooManyRequests(decision.retry_after, f"too many {what}: try again shortly")


@router.get("/widget/widget.js")
async def widget_script() -> Response:
    if not WIDGET_JS.is_file():
        raise NotFound("the widget is not built: run `make web`")
    return FileResponse(
        WIDGET_JS,
        media_type="text/javascript; charset=utf-8",
        headers={
            "Cache-Control": "public, max-age=300, stale-while-revalidate=86400",
            "Cross-Origin-Resource-Policy": "cross-origin",
            "Access-Control-Allow-Origin": "*",
        },
    )


@router.get("/widget/demo/{inbox_id}")
async def demo_page(request: Request, inbox_id: str) -> HTMLResponse:
    inbox = await _inbox(request, inbox_id)
    query = request.query_params
    return HTMLResponse(
        demo_html(
            inbox.id,
            inbox.name,
            user_id=query.get("user_id"),
            user_hash=query.get("user_hash"),
            locale=query.get("lang"),
        ),
        headers={"Cache-Control": "no-cache"},
    )


@router.get("/widget/api/{inbox_id}/config", response_model=WidgetConfig)
async def widget_config(request: Request, inbox_id: str) -> WidgetConfig:
    inbox = await _inbox(request, inbox_id)
    s = inbox.settings
    return WidgetConfig(
        inbox_id=str(inbox.id),
        title=s.title.as_dict(),
        greeting=s.greeting.as_dict(),
        offline_message=s.offline_message.as_dict(),
        color=s.color,
        position=s.position,
        locale=s.locale,
        prechat=s.prechat.model_dump(mode="json"),
        identity_verification=s.identity_verification,
        allow_anonymous=s.allow_anonymous,
        max_message_chars=s.max_message_chars,
        max_attachment_bytes=min(
            s.max_attachment_bytes, request.app.state.settings.http.max_upload_bytes
        ),
        attachment_types=s.attachment_types,
        online=await service.is_online(request.app.state.db, inbox),
    )


@router.post("/widget/api/{inbox_id}/session", response_model=SessionOut)
async def start_session(request: Request, inbox_id: str, body: SessionIn) -> SessionOut:
    inbox = await _inbox(request, inbox_id)
    _check_origin(request, inbox)
    runtime = _runtime(request)
    ip = client_ip_var.get() or "-"
    await _limit(runtime, f"webchat-session:{ip}", SESSIONS_PER_IP_MINUTE, "new chat sessions")
    return await service.start_session(request.app.state.db, runtime, inbox, body)


def _filename(raw: str | None, content_type: str) -> str:
    name = _UNSAFE_NAME.sub("_", unquote(raw or "")).strip(" .")[:200]
    return name or f"file.{content_type.rsplit('/', 1)[-1][:10]}"


async def _body_within(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it grows past ``limit`` (a streamed upload)."""
    parts: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(
                f"the file is too large (at most {limit} bytes)",
                details={"limit_bytes": limit},
            )
        parts.append(chunk)
    return b"".join(parts)


@router.post("/widget/api/{inbox_id}/uploads", response_model=UploadOut, status_code=201)
async def upload(
    request: Request,
    inbox_id: str,
    x_visitor_token: Annotated[str, Header()],
    content_type: Annotated[str, Header()] = "application/octet-stream",
    x_filename: Annotated[str | None, Header()] = None,
) -> UploadOut:
    inbox = await _inbox(request, inbox_id)
    _check_origin(request, inbox)
    runtime = _runtime(request)
    visitor = service.visitor_session(runtime, inbox, x_visitor_token)
    await _limit(
        runtime,
        f"webchat-upload:{inbox.id}:{visitor.visitor_id}",
        UPLOADS_PER_VISITOR_MINUTE,
        "uploads",
    )
    limit = inbox.settings.max_attachment_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(
            f"the file is too large ({declared} bytes, at most {limit})",
            details={"limit_bytes": limit},
        )
    ctype = content_type.split(";")[0].strip().lower()
    if not type_allowed(inbox.settings, ctype):
        allowed = ", ".join(inbox.settings.attachment_types)
        raise UnsupportedMediaType(f"files of type {ctype} are not accepted (allowed: {allowed})")
    data = await _body_within(request, limit)
    if not data:
        raise ValidationFailed("the file is empty", code="empty_file")
    magic = _MAGIC.get(ctype)
    if magic is not None and not data.startswith(magic):
        raise UnsupportedMediaType(f"the file's content is not {ctype}")
    key, digest = attachment_key(inbox.tenant_id, data)
    await runtime.storage.put(key, data, ctype)
    ref = FileRef(key, digest, _filename(x_filename, ctype), ctype, len(data))
    return UploadOut(
        upload=runtime.signer.upload_token(inbox.id, visitor.visitor_id, ref),
        filename=ref.filename,
        content_type=ctype,
        size=ref.size,
    )


@router.get("/widget/files/{token}")
async def file_link(request: Request, token: str) -> Response:
    runtime = _runtime(request)
    try:
        _, key, filename, ctype = runtime.signer.file(token)
        data = await runtime.storage.get(key)
    except (TokenError, ValueError, OSError):
        raise NotFound("this link has expired or does not exist") from None
    inline = ctype in INLINE_TYPES
    disposition = "inline" if inline else "attachment"
    return Response(
        data,
        media_type=ctype if inline else "application/octet-stream",
        headers={
            "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(filename)}",
            "Cache-Control": "private, max-age=3600",
            "Cross-Origin-Resource-Policy": "cross-origin",
        },
    )
