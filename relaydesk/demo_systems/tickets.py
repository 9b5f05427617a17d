"""工单系统 — the legacy ticket system: creation, status changes, signed callbacks.

Accepts form-encoded or JSON bodies; every call needs ``X-Api-Token``. Answers
``{"success": true, "data": …}`` or ``{"success": false, "errorCode": "E1xx", "errorMsg": …}``
with a matching HTTP status. Every status change (PATCH, close, the admin endpoints) bumps
the ticket's ``version`` and sends a signed callback (see :mod:`.tickets_callbacks`).
"""

from __future__ import annotations

import hmac
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from relaydesk.demo_systems import credentials
from relaydesk.demo_systems._web import now_local
from relaydesk.demo_systems.dataset import MOBILE_RE
from relaydesk.demo_systems.seed_service import Ticket, TicketChange
from relaydesk.demo_systems.tickets_admin import add_admin_routes
from relaydesk.demo_systems.tickets_callbacks import CallbackSender
from relaydesk.demo_systems.tickets_state import (
    TicketError,
    TicketsState,
    fields,
    ok,
    text_field,
    ticket_json,
)

__all__ = ["CATEGORIES", "TicketsConfig", "create_tickets_app"]

CATEGORIES = ("物流查询", "商品质量", "退款售后", "发票问题", "修改地址", "其他")
_ORDER_NO = re.compile(r"^YQ[0-9]{14}$")


@dataclass
class TicketsConfig:
    api_token: str = credentials.TICKETS_API_TOKEN
    callback_url: str | None = None
    callback_secret: str = credentials.TICKETS_CALLBACK_SECRET
    retry_delays: tuple[float, ...] = (0.5, 2.0, 5.0)
    callback_timeout_seconds: float = 5.0
    transport: httpx.AsyncBaseTransport | None = field(default=None, repr=False)


def create_tickets_app(config: TicketsConfig | None = None) -> FastAPI:
    cfg = config or TicketsConfig()
    sender = CallbackSender(
        cfg.callback_url,
        cfg.callback_secret,
        cfg.retry_delays,
        cfg.callback_timeout_seconds,
        cfg.transport,
    )
    state = TicketsState(sender)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await sender.aclose()

    app = FastAPI(
        title="云栖优选 工单系统 (demo)",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.state.tickets = state

    @app.exception_handler(TicketError)
    async def _error(_: Request, exc: TicketError) -> JSONResponse:
        return JSONResponse(
            {"success": False, "errorCode": exc.code, "errorMsg": exc.msg}, status_code=exc.status
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            {"success": False, "errorCode": f"E{exc.status_code}", "errorMsg": str(exc.detail)},
            status_code=exc.status_code,
        )

    async def token(request: Request) -> None:
        if not hmac.compare_digest(request.headers.get("x-api-token", ""), cfg.api_token):
            raise TicketError(401, "E401", "X-Api-Token 缺失或无效")

    auth = [Depends(token)]

    @app.post("/tickets", dependencies=auth)
    async def create(request: Request) -> JSONResponse:
        data = await fields(request)
        mobile = text_field(data, "customerMobile", required=True)
        if not MOBILE_RE.match(mobile):
            raise TicketError(400, "E102", "customerMobile 不是有效的 11 位手机号")
        category = text_field(data, "category") or "其他"
        if category not in CATEGORIES:
            raise TicketError(400, "E103", f"category 可选: {', '.join(CATEGORIES)}")
        priority = str(data.get("priority") or "2")
        if priority not in ("1", "2", "3", "4"):
            raise TicketError(400, "E103", "priority 取值 1 到 4")
        order_no = text_field(data, "orderNo") or None
        if order_no is not None and not _ORDER_NO.match(order_no):
            raise TicketError(400, "E103", "orderNo 格式不正确")
        now = now_local()
        ticket = Ticket(
            state.next_no(),
            mobile,
            text_field(data, "customerName", limit=32),
            text_field(data, "title", required=True, limit=100),
            text_field(data, "content", limit=2000),
            category,
            int(priority),
            "NEW",
            now,
            order_no,
        )
        ticket.history.append(
            TicketChange(1, now, None, "NEW", text_field(data, "operator", limit=50) or "接口", "")
        )
        state.tickets[ticket.ticket_no] = ticket
        return ok({"ticketNo": ticket.ticket_no, "status": "NEW", "version": 1}, 201)

    @app.get("/tickets", dependencies=auth)
    async def search(mobile: str = "") -> JSONResponse:
        if not MOBILE_RE.match(mobile):
            raise TicketError(400, "E102", "mobile 不是有效的 11 位手机号")
        found = [ticket_json(t) for t in state.tickets.values() if t.customer_mobile == mobile]
        return ok(sorted(found, key=lambda t: t["createdAt"], reverse=True))

    @app.get("/tickets/{ticket_no}", dependencies=auth)
    async def get(ticket_no: str) -> JSONResponse:
        return ok(ticket_json(state.get(ticket_no)))

    @app.patch("/tickets/{ticket_no}", dependencies=auth)
    async def patch(ticket_no: str, request: Request) -> JSONResponse:
        data, ticket = await fields(request), state.get(ticket_no)
        state.change(
            ticket,
            text_field(data, "status", required=True).upper(),
            text_field(data, "operator", limit=50) or "接口",
            text_field(data, "remark"),
            data.get("expectedVersion"),
        )
        return ok(ticket_json(ticket))

    @app.post("/tickets/{ticket_no}/close", dependencies=auth)
    async def close(ticket_no: str, request: Request) -> JSONResponse:
        data, ticket = await fields(request), state.get(ticket_no)
        reason = text_field(data, "reason", required=True)
        state.change(ticket, "CLOSED", text_field(data, "operator", limit=50) or "接口", reason)
        return ok(ticket_json(ticket))

    add_admin_routes(app, state, auth)
    return app
