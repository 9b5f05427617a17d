"""云呼通 — the demo cloud call centre: a Chinese cloud contact-centre API (in the style of
天润融通 / 容联七陌) that Relaydesk's voice channel and ``callcenter`` connector talk to.

Agents sit at **seats** (座席, ``cno``: 8001, 8002 ...), each with a name and an e-mail.
Customers call the hotline; the call rings at a seat; the agent answers; someone hangs up.
Every step is **pushed** to ``event_url`` as a signed JSON event (``RINGING``, ``ANSWERED``,
``HANGUP``), retried after ``retry_delays`` until the receiver answers ``{"code": 0}``.

**API** (signed, :mod:`.callcenter_state`; answers ``{"code": 0, "msg": "ok", "data": …}``;
business errors are HTTP 200 with another code, signing errors HTTP 401):

* ``POST /open/v1/call/dial {"cno", "customerNumber", "userField", "requestId"}`` —
  click-to-call (外呼): the agent's seat rings first, then the customer; the call's events
  are pushed like an inbound call's (``direction`` ``OB``). A repeated ``requestId`` answers
  the first call. Codes 20001 seat unknown, 20002 seat offline, 20003 number invalid, 20004
  seat busy.
* ``GET /open/v1/call/{callId}`` — one call detail record (话单); 30001 unknown call.
* ``GET /open/v1/calls?number=…&limit=…`` — a customer number's calls, newest first.
* ``GET /open/v1/agents`` — the seats with their names, e-mails and status.
* ``GET /recordings/{callId}.wav?token=…`` — a call's recording (the token is in the
  ``recordUrl`` of its events; 403 without it).

**Admin** (``X-Admin-Token``, for the demo and tests): :mod:`.callcenter_admin`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from relaydesk.demo_systems.callcenter_admin import add_admin_routes, business, fields, ok, text
from relaydesk.demo_systems.callcenter_state import (
    CC_ADMIN_TOKEN,
    CC_APP_KEY,
    CC_APP_SECRET,
    CallCenterConfig,
    CallCenterError,
    CallCenterState,
    mobile,
    sign,
    signed_url,
    silence_wav,
)

__all__ = [
    "CC_ADMIN_TOKEN",
    "CC_APP_KEY",
    "CC_APP_SECRET",
    "CallCenterConfig",
    "create_callcenter_app",
    "sign",
    "signed_url",
]

MAX_CALLS_LISTED = 100


def create_callcenter_app(config: CallCenterConfig | None = None) -> FastAPI:
    state = CallCenterState(config or CallCenterConfig())

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await state.aclose()

    app = FastAPI(title="云呼通云呼叫中心 (demo)", docs_url=None, redoc_url=None,
                  openapi_url=None, lifespan=lifespan)  # fmt: skip
    app.state.callcenter = state

    @app.exception_handler(CallCenterError)
    async def _error(_: Request, exc: CallCenterError) -> JSONResponse:
        return JSONResponse({"code": exc.code, "msg": exc.msg, "data": None}, exc.status)

    async def signed(request: Request) -> bytes:
        body = await request.body()
        query = request.query_params.multi_items()
        state.check_signature(request.method, request.url.path, query, body)
        return body

    @app.post("/open/v1/call/dial")
    async def dial(request: Request) -> JSONResponse:
        await signed(request)
        data = await fields(request)
        request_id = text(data, "requestId")[:64]
        if request_id and request_id in state.by_request:
            return ok(state.calls[state.by_request[request_id]].cdr())
        agent = state.agents.get(text(data, "cno"))
        if agent is None:
            return business(20001, f"座席 {text(data, 'cno')!r} 不存在")
        if agent.status == "offline":
            return business(20002, f"座席 {agent.cno} 未上线，请先签入")
        number = mobile(data.get("customerNumber"))
        if number is None:
            return business(20003, "客户号码格式错误")
        if agent.status == "busy":
            return business(20004, f"座席 {agent.cno} 正在通话中")
        call = state.start("OB", number, agent, text(data, "userField")[:200] or None)
        if request_id:
            state.by_request[request_id] = call.call_id
        delay = state.config.dial_push_delay
        if delay is not None and state.config.event_url is not None:
            state.background(state.ring(call, str(request.base_url), delay))
        return ok(call.cdr())

    @app.get("/open/v1/call/{call_id}")
    async def get_call(call_id: str, request: Request) -> JSONResponse:
        await signed(request)
        call = state.calls.get(call_id)
        if call is None:
            return business(30001, f"通话 {call_id} 不存在")
        return ok(call.cdr())

    @app.get("/open/v1/calls")
    async def list_calls(request: Request) -> JSONResponse:
        await signed(request)
        number = mobile(request.query_params.get("number"))
        if number is None:
            return business(20003, "客户号码格式错误")
        try:
            limit = min(MAX_CALLS_LISTED, max(1, int(request.query_params.get("limit") or 20)))
        except ValueError:
            return business(10011, "limit 必须是整数")
        found = [c.cdr() for c in reversed(state.calls.values()) if c.customer_number == number]
        return ok(found[:limit])

    @app.get("/open/v1/agents")
    async def list_agents(request: Request) -> JSONResponse:
        await signed(request)
        return ok([agent.__dict__ for agent in state.agents.values()])

    @app.get("/recordings/{name}")
    async def recording(name: str, request: Request) -> Response:
        call_id = name.removesuffix(".wav")
        call = state.calls.get(call_id)
        if call is None or call.record_url is None or not name.endswith(".wav"):
            raise CallCenterError(404, 30004, "录音不存在")
        if request.query_params.get("token") != state.recording_token(call_id):
            raise CallCenterError(403, 30005, "录音链接无效")
        seconds = min(3.0, max(0.5, call.talk_seconds / 60))
        return Response(silence_wav(seconds), media_type="audio/wav")

    add_admin_routes(app, state)
    return app
