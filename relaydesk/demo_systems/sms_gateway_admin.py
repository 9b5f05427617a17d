"""The demo SMS gateway's admin endpoints (``X-Admin-Token``): what its operators, a test or
someone trying the demo do — point the callbacks somewhere, have a customer text in, start or
end an outage, make a number's reports fail, push a report now, read what was sent.
"""

from __future__ import annotations

import hmac

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from relaydesk.demo_systems._web import now_local
from relaydesk.demo_systems.sms_gateway import (
    GatewayError,
    _fields,
    _mobile,
    _ok,
    _State,
    _text,
)

__all__ = ["add_admin_routes"]


def add_admin_routes(app: FastAPI, state: _State) -> None:
    """Mount the ``/admin/*`` routes on the gateway ``app`` (see the module docstring)."""
    cfg = state.config

    def admin(request: Request) -> None:
        if not hmac.compare_digest(request.headers.get("x-admin-token", ""), cfg.admin_token):
            raise GatewayError(401, "AdminTokenInvalid", "X-Admin-Token 缺失或无效")

    @app.put("/admin/callbacks")
    async def set_callbacks(request: Request) -> JSONResponse:
        admin(request)
        data = await _fields(request)
        for name in ("report_url", "inbound_url"):
            if name in data:
                setattr(cfg, name, _text(data, name) or None)
        if "report_delay" in data:
            delay = data["report_delay"]
            cfg.report_delay = None if delay is None else float(delay)
        return _ok(report_url=cfg.report_url, inbound_url=cfg.inbound_url,
                   report_delay=cfg.report_delay)  # fmt: skip

    @app.post("/admin/inbound")
    async def inbound(request: Request) -> JSONResponse:
        """A customer texts the service number: pushed to ``inbound_url`` now (one attempt,
        retried in the background when it fails); answers the push's outcome."""
        admin(request)
        data = await _fields(request)
        phone = _mobile(data.get("phone_number"))
        if phone is None:
            raise GatewayError(400, "isv.MOBILE_NUMBER_ILLEGAL", "手机号码格式错误")
        if cfg.inbound_url is None:
            raise GatewayError(409, "CallbackNotConfigured", "未配置上行消息回调地址 inbound_url")
        item = {"msg_id": _text(data, "msg_id") or state.new_id("MO"), "phone_number": phone,
                "dest_code": _text(data, "dest_code") or cfg.dest_code,
                "content": str(data.get("content") or ""),
                "send_time": str(now_local())}  # fmt: skip
        state.inbound.append(item)
        outcome = await state.push(cfg.inbound_url, [item])
        if not outcome["ok"]:
            state.background(state.push_with_retries(cfg.inbound_url, [item], [],
                                                     cfg.retry_delays[0]))  # fmt: skip
        return _ok(msg_id=item["msg_id"], push=outcome)

    @app.post("/admin/outage")
    async def start_outage(request: Request) -> JSONResponse:
        admin(request)
        data = await _fields(request)
        status, requests = int(data.get("status") or 503), data.get("requests")
        state.outage = (status, None if requests is None else int(requests))
        return _ok(outage={"status": status, "requests": requests})

    @app.delete("/admin/outage")
    async def end_outage(request: Request) -> JSONResponse:
        admin(request)
        state.outage = None
        return _ok(outage=None)

    @app.put("/admin/numbers/{phone}")
    async def fail_number(phone: str, request: Request) -> JSONResponse:
        admin(request)
        data, number = await _fields(request), _mobile(phone)
        if number is None:
            raise GatewayError(400, "isv.MOBILE_NUMBER_ILLEGAL", "手机号码格式错误")
        err = (_text(data, "err_code") or "MN:0001", _text(data, "err_msg") or "空号")
        state.failing_numbers[number] = err
        return _ok(phone_number=number, err_code=err[0], err_msg=err[1])

    @app.delete("/admin/numbers/{phone}")
    async def heal_number(phone: str, request: Request) -> JSONResponse:
        admin(request)
        state.failing_numbers.pop(_mobile(phone) or phone, None)
        return _ok()

    @app.post("/admin/reports/{biz_id}")
    async def push_report(biz_id: str, request: Request) -> JSONResponse:
        """Push (or push again) a message's delivery report now; answers the push's outcome."""
        admin(request)
        sms = state.sent.get(biz_id)
        if sms is None:
            raise GatewayError(404, "isv.BIZ_ID_NOT_FOUND", f"没有流水号为 {biz_id} 的短信")
        if cfg.report_url is None:
            raise GatewayError(409, "CallbackNotConfigured", "未配置状态报告回调地址 report_url")
        outcome = await state.push(cfg.report_url, [state.report_of(sms)])
        sms.attempts.append({"at": str(now_local()), **outcome})
        sms.report_pushed = sms.report_pushed or outcome["ok"]
        return _ok(report=sms.report, push=outcome)

    @app.get("/admin/messages")
    async def list_messages(request: Request) -> JSONResponse:
        admin(request)
        items = [s.__dict__ for s in state.sent.values()]
        return _ok(messages=items, inbound=state.inbound)
