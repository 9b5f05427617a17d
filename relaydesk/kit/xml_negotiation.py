"""XML in and out for the resources integrations use, in front of JSON-only route handlers.

:class:`XmlNegotiationMiddleware` (pure ASGI) only touches requests under its path prefixes:

* a body sent as ``application/xml`` or ``text/xml`` is parsed with
  :func:`relaydesk.kit.xmlio.parse_xml` (DTDs, entities and external references refused) and
  handed to the application as JSON, so handlers and validation are the same for both;
* when ``Accept`` prefers XML (:func:`relaydesk.kit.xmlio.wants_xml`), a JSON response is
  buffered and rendered as XML: root ``<response>``, or ``<error>`` holding the error model's
  fields. Non-JSON responses stream through untouched.

Responses under the prefixes carry ``Vary: Accept``. Register it inside the request-context
middleware (so body limits, request ids and security headers apply to XML requests too).
"""

from __future__ import annotations

import codecs
import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from relaydesk.errors import AppError, BadRequest
from relaydesk.kit.context import request_id_var
from relaydesk.kit.xmlio import XML_MEDIA_TYPE, parse_xml, render_xml, wants_xml

__all__ = ["XmlNegotiationMiddleware"]

_XML_REQUEST_TYPES = frozenset({b"application/xml", b"text/xml"})
_XML_CONTENT_TYPE = f"{XML_MEDIA_TYPE}; charset=utf-8".encode()
_JSON_CONTENT_TYPE = b"application/json"
_REWRITTEN = frozenset({b"content-type", b"content-length"})


def _media_type(value: bytes) -> tuple[bytes, dict[bytes, bytes]]:
    """``b"text/xml; charset=GBK"`` -> ``(b"text/xml", {b"charset": b"GBK"})``."""
    media, *params = value.split(b";")
    parsed: dict[bytes, bytes] = {}
    for param in params:
        name, _, val = param.partition(b"=")
        parsed[name.strip().lower()] = val.strip().strip(b'"')
    return media.strip().lower(), parsed


def _is_json(value: bytes) -> bool:
    media = _media_type(value)[0]
    return media == _JSON_CONTENT_TYPE or media.endswith(b"+json")


def _transcode(body: bytes, charset: bytes | None) -> bytes:
    """Honour a ``charset`` parameter when the document declares no encoding of its own."""
    declares = body.lstrip().startswith(b"<?xml") and b"encoding" in body[:200]
    if not charset or declares:
        return body
    try:
        codec = codecs.lookup(charset.decode("ascii")).name
    except (LookupError, UnicodeDecodeError):
        raise BadRequest(f"Unsupported charset {charset.decode('latin-1')!r}") from None
    if codec == "utf-8":
        return body
    try:
        return body.decode(codec).encode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest(f"XML body is not valid {codec}") from None


def _to_xml(body: bytes) -> bytes | None:
    """A JSON body as XML, or None when it is not JSON after all."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if isinstance(data, dict) and set(data) == {"error"} and isinstance(data["error"], dict):
        return render_xml(data["error"], root="error")
    return render_xml(data, root="response")


def _with_headers(headers: list[tuple[bytes, bytes]], content_type: bytes,
                  length: int) -> list[tuple[bytes, bytes]]:
    kept = [(k, v) for k, v in headers if k.lower() not in _REWRITTEN]
    return [*kept, (b"content-type", content_type), (b"content-length", str(length).encode())]


class XmlNegotiationMiddleware:
    def __init__(
        self, app: ASGIApp, path_prefixes: tuple[str, ...] = ("/api/v1/customers",)
    ) -> None:
        self.app = app
        self.prefixes = tuple(p.rstrip("/") for p in path_prefixes)

    def _applies(self, path: str) -> bool:
        return any(path == p or path.startswith(p + "/") for p in self.prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._applies(scope["path"]):
            await self.app(scope, receive, send)
            return
        content_type: bytes | None = None
        accept: str | None = None
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value
            elif name == b"accept":
                accept = value.decode("latin-1")
        respond_xml = wants_xml(accept)
        send = self._negotiating_send(send, respond_xml)
        if content_type is not None:
            media, params = _media_type(content_type)
            if media in _XML_REQUEST_TYPES:
                try:
                    scope, receive = await self._json_request(
                        scope, receive, params.get(b"charset")
                    )
                except BadRequest as exc:
                    await self._error(send, exc)
                    return
        await self.app(scope, receive, send)

    async def _json_request(
        self, scope: Scope, receive: Receive, charset: bytes | None
    ) -> tuple[Scope, Receive]:
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break  # client went away; the app will see an empty body
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        raw = b"".join(chunks)
        body = b""  # no document at all: validation will say the body is missing
        if raw.strip():
            fields = parse_xml(_transcode(raw, charset))
            body = json.dumps(fields, ensure_ascii=False).encode()
        headers = _with_headers(scope["headers"], _JSON_CONTENT_TYPE, len(body))
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return {**scope, "headers": headers}, replay

    @staticmethod
    async def _error(send: Send, exc: AppError) -> None:
        payload = {"error": {"code": exc.code, "message": exc.message, "details": exc.details,
                             "request_id": request_id_var.get()}}
        body = json.dumps(payload, ensure_ascii=False).encode()
        await send({"type": "http.response.start", "status": exc.status_code,
                    "headers": [(b"content-type", _JSON_CONTENT_TYPE),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    @staticmethod
    def _negotiating_send(send: Send, respond_xml: bool) -> Send:
        start: Message | None = None
        chunks: list[bytes] = []

        async def wrapped(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (b"vary", b"Accept")]
                message = {**message, "headers": headers}
                content_type = next((v for k, v in headers if k.lower() == b"content-type"), None)
                if respond_xml and content_type is not None and _is_json(content_type):
                    start = message  # hold until the whole body is here
                    return
                await send(message)
                return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = b"".join(chunks)
            xml = _to_xml(body) if body else None
            headers = start["headers"]
            if xml is not None:
                body = xml
                headers = _with_headers(headers, _XML_CONTENT_TYPE, len(body))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body, "more_body": False})

        return wrapped
