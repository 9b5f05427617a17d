"""订单中心 — the order system (REST/JSON, appKey request signing, signed push messages).

Every answer is HTTP 200 with ``{"code": "0", "msg": "success", "data": ...}``, business
errors too (``code`` then names the error); a request that fails the signature check is HTTP
401, one over the per-appKey rate HTTP 429 with ``Retry-After``. Paying, shipping and finishing
an order (admin endpoints, :mod:`.orders_admin`) push a signed message to the configured URL
(:mod:`.orders_callbacks`). See docs/demo-systems.md.
"""

from __future__ import annotations

import copy
import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from relaydesk.demo_systems import credentials
from relaydesk.demo_systems._web import BodyError, money, now_local, read_fields
from relaydesk.demo_systems.dataset import MOBILE_RE
from relaydesk.demo_systems.orders_admin import ORDERS_ADMIN_TOKEN, add_admin_routes
from relaydesk.demo_systems.orders_auth import AuthError, OrdersGuard
from relaydesk.demo_systems.orders_callbacks import ORDERS_CALLBACK_SECRET, PushSender
from relaydesk.demo_systems.orders_state import (
    REFUND_TEXT,
    BizError,
    OrdersState,
    order_json,
    receiver_json,
    refund_json,
)
from relaydesk.demo_systems.seed_commerce import Receiver
from relaydesk.demo_systems.seed_finance import Refund

__all__ = ["REVIEW_THRESHOLD", "OrdersConfig", "create_orders_app"]

REVIEW_THRESHOLD = Decimal("5000.00")
_DIGITS = re.compile(r"[0-9]{1,9}")
_ACTIVE_REFUND = ("PENDING", "SUCCESS")
_RECEIVER_FIELDS = ("receiverName", "receiverMobile", "province", "city", "district", "address")


@dataclass
class OrdersConfig:
    apps: dict[str, str] = field(
        default_factory=lambda: {credentials.ORDERS_APP_KEY: credentials.ORDERS_APP_SECRET}
    )
    rate_limit_per_second: int = 50
    timestamp_tolerance_seconds: int = 300
    clock: Callable[[], float] = time.time
    #: where paid/shipped/finished messages are pushed (None: recorded, not sent)
    callback_url: str | None = None
    callback_app_key: str = credentials.ORDERS_APP_KEY
    callback_secret: str = ORDERS_CALLBACK_SECRET
    retry_delays: tuple[float, ...] = (0.5, 2.0, 5.0)
    callback_timeout_seconds: float = 5.0
    admin_token: str = ORDERS_ADMIN_TOKEN
    transport: httpx.AsyncBaseTransport | None = field(default=None, repr=False)


def _ok(data: Any) -> dict[str, Any]:
    return {"code": "0", "msg": "success", "data": data}


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not _DIGITS.fullmatch(raw) or not low <= int(raw) <= high:
        raise BizError("PARAM_ERROR", f"参数 {name} 必须是 {low} 到 {high} 之间的整数")
    return int(raw)


async def _body(request: Request) -> dict[str, Any]:
    try:
        return await read_fields(request, form=False)
    except BodyError as exc:
        raise BizError("PARAM_ERROR", f"请求体不是合法的 JSON 对象 ({exc})") from None


def _amount(raw: Any) -> Decimal:
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        raise BizError("PARAM_ERROR", '参数 amount 必须是金额，如 "99.50"') from None
    if not value.is_finite() or value.as_tuple().exponent < -2:  # type: ignore[operator]
        raise BizError("PARAM_ERROR", "参数 amount 最多两位小数")
    return value


def create_orders_app(config: OrdersConfig | None = None) -> FastAPI:
    cfg = config or OrdersConfig()
    guard = OrdersGuard(
        cfg.apps, cfg.timestamp_tolerance_seconds, cfg.rate_limit_per_second, cfg.clock
    )
    sender = PushSender(cfg.callback_url, cfg.callback_app_key, cfg.callback_secret,
                        cfg.retry_delays, cfg.callback_timeout_seconds, cfg.transport)  # fmt: skip
    state = OrdersState(sender)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await sender.aclose()

    app = FastAPI(title="云栖优选 订单中心 (demo)", docs_url=None, redoc_url=None,
                  openapi_url=None, lifespan=lifespan)  # fmt: skip
    app.state.orders = state
    app.state.guard = guard

    @app.exception_handler(AuthError)
    async def _auth_error(_: Request, exc: AuthError) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
        return JSONResponse(
            {"code": exc.code, "msg": exc.msg, "data": None},
            status_code=exc.status,
            headers=headers,
        )

    @app.exception_handler(BizError)
    async def _biz_error(_: Request, exc: BizError) -> JSONResponse:
        return JSONResponse({"code": exc.code, "msg": exc.msg, "data": exc.data})

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = "API_NOT_FOUND" if exc.status_code == 404 else "METHOD_NOT_ALLOWED"
        return JSONResponse(
            {"code": code, "msg": str(exc.detail), "data": None}, status_code=exc.status_code
        )

    async def signed(request: Request) -> str:
        return guard.check(request.query_params.multi_items(), await request.body())

    @app.get("/api/v1/orders")
    async def list_orders(request: Request, _: str = Depends(signed)) -> dict[str, Any]:
        mobile = request.query_params.get("buyerMobile", "")
        if not MOBILE_RE.match(mobile):
            raise BizError("PARAM_ERROR", "参数 buyerMobile 必须是 11 位手机号")
        page_no = _int_param(request, "pageNo", 1, 1, 10_000)
        page_size = _int_param(request, "pageSize", 20, 1, 100)
        status = request.query_params.get("status")
        found = [
            o
            for o in state.orders.values()
            if o.person.mobile == mobile and (not status or str(o.status) == status)
        ]
        found.sort(key=lambda o: o.created_at, reverse=True)
        page = found[(page_no - 1) * page_size : page_no * page_size]
        return _ok(
            {
                "total": len(found),
                "pageNo": page_no,
                "pageSize": page_size,
                "list": [order_json(o, state, items=False) for o in page],
            }
        )

    @app.get("/api/v1/orders/{order_no}")
    async def getorder_json(order_no: str, _: str = Depends(signed)) -> dict[str, Any]:
        return _ok(order_json(state.order(order_no), state, items=True))

    @app.post("/api/v1/orders/{order_no}/refunds")
    async def requestrefund_json(
        order_no: str, request: Request, _: str = Depends(signed)
    ) -> dict[str, Any]:
        body = await _body(request)
        order = state.order(order_no)
        if order.status == 10:
            raise BizError("ORDER_NOT_PAID", "订单尚未付款，无需退款")
        if order.status == 50:
            raise BizError("ORDER_CLOSED", "订单已关闭，不能申请退款")
        reason = str(body.get("reason") or "").strip()
        if not reason or len(reason) > 200:
            raise BizError("PARAM_ERROR", "参数 reason 必填，最多 200 字")
        out_no = body.get("outRefundNo")
        if out_no is not None and (not isinstance(out_no, str) or not 1 <= len(out_no) <= 64):
            raise BizError("PARAM_ERROR", "参数 outRefundNo 必须是 1 到 64 位字符串")
        existing = state.refunds_of(order_no)
        for refund in existing:
            if out_no and refund.out_refund_no == out_no:
                return _ok(refund_json(refund))  # the same request again: same refund
        active = [r for r in existing if r.status in _ACTIVE_REFUND]
        if active:
            raise BizError(
                "REFUND_EXISTS",
                f"该订单已有退款申请（退款单号 {active[0].refund_id}），请勿重复提交",
                {"refundId": active[0].refund_id},
            )
        amount = _amount(body.get("amount", ""))
        if amount <= 0 or amount > order.pay_amount:
            raise BizError(
                "REFUND_AMOUNT_INVALID",
                f"退款金额必须大于 0 且不超过实付金额 {money(order.pay_amount)} 元",
            )
        if amount > REVIEW_THRESHOLD:
            raise BizError(
                "REFUND_NEEDS_REVIEW",
                f"单笔退款超过 {money(REVIEW_THRESHOLD)} 元，需财务人工审核，"
                "请通过人工审核流程提交",
                {"maxAutoRefundAmount": money(REVIEW_THRESHOLD)},
            )
        now = now_local()
        refund = Refund(
            state.next_refund_id(), order_no, amount, reason, "PENDING", now, now, out_no
        )
        state.refunds[refund.refund_id] = refund
        return _ok(refund_json(refund))

    @app.get("/api/v1/refunds/{refund_id}")
    async def getrefund_json(refund_id: str, _: str = Depends(signed)) -> dict[str, Any]:
        refund = state.refunds.get(refund_id)
        if refund is None:
            raise BizError("REFUND_NOT_FOUND", f"退款单不存在: {refund_id}")
        return _ok(refund_json(refund))

    @app.post("/api/v1/refunds/{refund_id}/cancel")
    async def cancelrefund_json(refund_id: str, _: str = Depends(signed)) -> dict[str, Any]:
        refund = state.refunds.get(refund_id)
        if refund is None:
            raise BizError("REFUND_NOT_FOUND", f"退款单不存在: {refund_id}")
        if refund.status not in ("PENDING", "CANCELLED"):
            raise BizError(
                "REFUND_STATUS_INVALID", f"退款单状态为{REFUND_TEXT[refund.status]}，不能取消"
            )
        if refund.status == "PENDING":  # cancelling twice is a no-op, not an error
            refund.status, refund.updated_at = "CANCELLED", now_local()
        return _ok(refund_json(refund))

    @app.post("/api/v1/orders/{order_no}/address")
    async def change_address(
        order_no: str, request: Request, _: str = Depends(signed)
    ) -> dict[str, Any]:
        body = await _body(request)
        order = state.order(order_no)
        if order.status in (30, 40):
            raise BizError("ORDER_SHIPPED", "订单已发货，无法修改收货地址")
        if order.status == 50:
            raise BizError("ORDER_CLOSED", "订单已关闭，无法修改收货地址")
        values = {k: str(body.get(k) or "").strip() for k in _RECEIVER_FIELDS}
        missing = [k for k, v in values.items() if not v]
        if missing:
            raise BizError("PARAM_ERROR", f"缺少参数: {', '.join(missing)}")
        if not MOBILE_RE.match(values["receiverMobile"]):
            raise BizError("INVALID_MOBILE", "收货人手机号格式不正确，应为 11 位大陆手机号")
        if len(values["address"]) > 120:
            raise BizError("PARAM_ERROR", "详细地址最多 120 字")
        previous = copy.copy(order.receiver)
        order.receiver = Receiver(
            values["receiverName"],
            values["receiverMobile"],
            values["province"],
            values["city"],
            values["district"],
            values["address"],
        )
        return _ok(
            {
                "orderNo": order_no,
                "receiver": receiver_json(order.receiver),
                "previousReceiver": receiver_json(previous),
            }
        )

    add_admin_routes(app, state, cfg.admin_token)
    return app
