"""Every 4xx/5xx leaves as ``{"error": {"code", "message", "details", "request_id"}}``."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from relaydesk.errors import AppError
from relaydesk.kit.context import request_id_var

_log = structlog.get_logger("relaydesk.errors")

_HTTP_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 406: "not_acceptable", 409: "conflict",
    413: "payload_too_large", 415: "unsupported_media_type", 422: "validation_error",
    429: "rate_limited",
}


def _response(status: int, code: str, message: str, details: Any = None,
              headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "details": details,
                      "request_id": request_id_var.get()}}
    return JSONResponse(body, status_code=status, headers=headers)


def _clean_loc(loc: tuple[Any, ...] | list[Any]) -> list[Any]:
    return [part for part in loc if not (isinstance(part, str) and part.startswith("function-"))]


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors():
        item: dict[str, Any] = {
            "loc": _clean_loc(err.get("loc", ())), "msg": err.get("msg", ""),
            "type": err.get("type", ""),
        }
        out.append(item)
    return out


async def app_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    if exc.status_code >= 500:
        _log.error("app_error", code=exc.code, message=exc.message)
    return _response(exc.status_code, exc.code, exc.message, exc.details, exc.headers)


async def validation_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = _validation_details(exc)
    if any(d["type"] == "json_invalid" for d in details):
        where = next(d for d in details if d["type"] == "json_invalid")
        return _response(400, "malformed_body", f"Request body is not valid JSON: {where['msg']}",
                         details)
    first = details[0] if details else {"loc": [], "msg": "invalid"}
    path = ".".join(str(p) for p in first["loc"])
    message = f"{path}: {first['msg']}" if path else str(first["msg"])
    if len(details) > 1:
        message += f" (and {len(details) - 1} more)"
    return _response(422, "validation_error", message, details)


async def http_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        from relaydesk.web.spa import spa_fallback

        page = await run_in_threadpool(spa_fallback, request)
        if page is not None:
            return page
    code = _HTTP_CODES.get(exc.status_code, "error" if exc.status_code < 500 else "internal_error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    return _response(exc.status_code, code, message, None, dict(exc.headers or {}))


async def unhandled_handler(request: Request, exc: Exception) -> JSONResponse:
    _log.exception("unhandled_error", error_type=type(exc).__name__)
    return _response(500, "internal_error",
                     "Something went wrong on our side; quote the request id when reporting it")


def install(app: FastAPI) -> None:
    app.add_exception_handler(AppError, app_error_handler)
    app.add_exception_handler(RequestValidationError, validation_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
    app.add_exception_handler(Exception, unhandled_handler)
