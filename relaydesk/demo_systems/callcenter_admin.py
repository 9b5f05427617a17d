"""The demo call centre's admin endpoints (``X-Admin-Token``): what the demo and the tests
use to make calls happen.

* ``PUT /admin/callbacks {"eventUrl", "dialPushDelay", "autoAnswerAfter",
  "autoHangupAfter"}`` — where to push, and the demo's automatic pick-up and hang-up;
* ``POST /admin/calls/inbound {"from", "cno", "callId"}`` — a customer calls the hotline
  and it rings at seat ``cno``; RINGING is pushed now (the answer holds the push's outcome);
* ``POST /admin/calls/{callId}/answer`` — the agent picks up; ANSWERED is pushed now;
* ``POST /admin/calls/{callId}/hangup {"side", "talkSeconds", "asrText"}`` — someone hangs
  up (``CUSTOMER``, ``AGENT``; ``SYSTEM``: nobody answered); HANGUP is pushed now;
* ``POST /admin/calls/{callId}/push/{eventType}`` — push (again) one of the call's events;
* ``PUT /admin/agents/{cno} {"status"}`` — a seat goes ``online``, ``offline`` or ``busy``;
* ``GET /admin/calls`` — every call with its push attempts.
"""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from relaydesk.demo_systems._web import BodyError, read_fields
from relaydesk.demo_systems.callcenter_state import (
    Call,
    CallCenterError,
    CallCenterState,
    mobile,
)

__all__ = ["add_admin_routes", "business", "fields", "ok", "text"]

EVENTS = ("RINGING", "ANSWERED", "HANGUP")
SIDES = ("CUSTOMER", "AGENT", "SYSTEM")
STATUSES = ("online", "offline", "busy")


def ok(data: Any = None, **extra: Any) -> JSONResponse:
    return JSONResponse({"code": 0, "msg": "ok", "data": data, **extra})


def business(code: int, msg: str) -> JSONResponse:
    """A business error: HTTP 200 with a code other than 0 (as such platforms answer)."""
    return JSONResponse({"code": code, "msg": msg, "data": None})


async def fields(request: Request) -> dict[str, Any]:
    try:
        return await read_fields(request)
    except BodyError as exc:
        raise CallCenterError(400, 10010, f"请求体无法解析 ({exc})") from None


def text(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    return "" if value is None else str(value).strip()


def _optional_float(value: Any, name: str) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise CallCenterError(400, 10011, f"{name} 必须是数字或 null") from None


def add_admin_routes(app: FastAPI, state: CallCenterState) -> None:
    cfg = state.config

    def admin(request: Request) -> None:
        if not hmac.compare_digest(request.headers.get("x-admin-token", ""), cfg.admin_token):
            raise CallCenterError(401, 10020, "X-Admin-Token 缺失或无效")

    def call_of(call_id: str) -> Call:
        call = state.calls.get(call_id)
        if call is None:
            raise CallCenterError(404, 30001, f"通话 {call_id} 不存在")
        return call

    @app.put("/admin/callbacks")
    async def set_callbacks(request: Request) -> JSONResponse:
        admin(request)
        data = await fields(request)
        if "eventUrl" in data:
            cfg.event_url = text(data, "eventUrl") or None
        for key, attr in (("dialPushDelay", "dial_push_delay"),
                          ("autoAnswerAfter", "auto_answer_after"),
                          ("autoHangupAfter", "auto_hangup_after")):  # fmt: skip
            if key in data:
                setattr(cfg, attr, _optional_float(data[key], key))
        return ok({"eventUrl": cfg.event_url, "dialPushDelay": cfg.dial_push_delay,
                   "autoAnswerAfter": cfg.auto_answer_after,
                   "autoHangupAfter": cfg.auto_hangup_after})  # fmt: skip

    @app.post("/admin/calls/inbound")
    async def inbound(request: Request) -> JSONResponse:
        """A customer calls the hotline; it rings at ``cno`` (default: the first online)."""
        admin(request)
        data = await fields(request)
        number = mobile(data.get("from"))
        if number is None:
            raise CallCenterError(400, 20003, "主叫号码格式错误")
        cno = text(data, "cno")
        agent = state.agents.get(cno) if cno else next(
            (a for a in state.agents.values() if a.status == "online"), None)  # fmt: skip
        if agent is None:
            raise CallCenterError(400, 20001, f"座席 {cno!r} 不存在（或没有在线座席）")
        call_id = text(data, "callId")[:64] or None
        if call_id is not None and call_id in state.calls:
            raise CallCenterError(409, 30006, f"通话 {call_id} 已存在")
        call = state.start("IB", number, agent, call_id=call_id)
        outcome = await state.push(call, "RINGING")
        state.background(state.ring(call, str(request.base_url), cfg.retry_delays[0],
                                    pushed=outcome["ok"]))  # fmt: skip
        return ok(call.cdr(), push=outcome)

    @app.post("/admin/calls/{call_id}/answer")
    async def answer(call_id: str, request: Request) -> JSONResponse:
        admin(request)
        call = call_of(call_id)
        state.answer(call)
        return ok(call.cdr(), push=await state.push(call, "ANSWERED"))

    @app.post("/admin/calls/{call_id}/hangup")
    async def hangup(call_id: str, request: Request) -> JSONResponse:
        admin(request)
        call, data = call_of(call_id), await fields(request)
        side = (text(data, "side") or "CUSTOMER").upper()
        if side not in SIDES:
            raise CallCenterError(400, 10011, f"side 必须是 {' / '.join(SIDES)}")
        talk = data.get("talkSeconds")
        if talk is not None and (not isinstance(talk, int) or not 0 <= talk <= 86400):
            raise CallCenterError(400, 10011, "talkSeconds 必须是 0 到 86400 的整数")
        asr = data.get("asrText")
        if asr is not None and not isinstance(asr, list):
            raise CallCenterError(400, 10011, "asrText 必须是数组")
        state.hang_up(call, str(request.base_url), side, talk, asr)
        return ok(call.cdr(), push=await state.push(call, "HANGUP"))

    @app.post("/admin/calls/{call_id}/push/{event_type}")
    async def push_again(call_id: str, event_type: str, request: Request) -> JSONResponse:
        admin(request)
        call = call_of(call_id)
        if event_type not in EVENTS:
            raise CallCenterError(400, 10011, f"eventType 必须是 {' / '.join(EVENTS)}")
        return ok(call.cdr(), push=await state.push(call, event_type))

    @app.put("/admin/agents/{cno}")
    async def set_agent(cno: str, request: Request) -> JSONResponse:
        admin(request)
        agent = state.agents.get(cno)
        if agent is None:
            raise CallCenterError(404, 20001, f"座席 {cno!r} 不存在")
        status = text(await fields(request), "status")
        if status not in STATUSES:
            raise CallCenterError(400, 10011, f"status 必须是 {' / '.join(STATUSES)}")
        agent.status = status
        return ok(agent.__dict__)

    @app.get("/admin/calls")
    async def list_calls(request: Request) -> JSONResponse:
        admin(request)
        return ok([{**c.cdr(), "pushes": c.pushes} for c in state.calls.values()])
