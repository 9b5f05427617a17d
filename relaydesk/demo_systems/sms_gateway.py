"""云讯短信 — the demo SMS gateway: an operator-style HTTP SMS API (like Aliyun or Tencent SMS).

Written independently of Relaydesk's SMS channel on purpose: the two meet only in the protocol
documented in docs/channels.md ("SMS", "The demo SMS gateway").

**Signing.** Every API request, and every callback the gateway pushes, carries::

    X-Sms-AccessKeyId: <AccessKeyId>
    X-Sms-Timestamp:   <Unix milliseconds>          (within 5 minutes of the receiver's clock)
    X-Sms-Nonce:       <random, never reused>
    X-Sms-Signature:   hex(HMAC-SHA256(AccessKeySecret, canonical))   (any case)
    canonical = METHOD + "\\n" + PATH + "\\n" + AccessKeyId + "\\n" + Timestamp + "\\n"
                + Nonce + "\\n" + BODY                                 (BODY: the raw bytes)

**Send** ``POST /sms/v1/send`` ``{"phone_number", "sign_name", "content", "out_id"}`` →
``{"code": "OK", "biz_id", "sms_size", "request_id"}``. Business errors answer HTTP 200 with
another ``code`` (``isv.MOBILE_NUMBER_ILLEGAL``, ``isv.SMS_SIGN_ILLEGAL``,
``isv.CONTENT_LENGTH_LIMIT``, ``isv.BUSINESS_LIMIT_CONTROL``); signing errors HTTP 401;
an outage HTTP 503 ``ServiceUnavailable``. A repeated ``out_id`` returns the first ``biz_id``
(a retried send is not sent twice). ``sms_size``: 70 characters per message for text outside
the GSM alphabet (67 per part when longer), 160/153 for GSM text; mainland messages start with
``【sign】``, which counts (international ones carry no sign).

**Callbacks** (JSON arrays, signed as above over the callback URL's path; the receiver answers
``{"code": 0}``, anything else is retried after ``retry_delays``): delivery reports
``[{"report_id", "biz_id", "out_id", "phone_number", "status": "DELIVRD"|"UNDELIV",
"err_code", "err_msg", "sms_size", "send_time", "report_time"}]`` to ``report_url`` and
customers' messages ``[{"msg_id", "phone_number", "dest_code", "content", "send_time"}]`` to
``inbound_url``.

**Admin** (``X-Admin-Token``, for the demo and tests): ``PUT /admin/callbacks``,
``POST /admin/inbound`` (a customer texts in), ``POST|DELETE /admin/outage`` (503s),
``PUT|DELETE /admin/numbers/{phone}`` (that number's reports fail), ``POST
/admin/reports/{biz_id}`` (push a report now), ``GET /admin/messages``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import json
import math
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from relaydesk.demo_systems._web import BodyError, now_local, read_fields

__all__ = [
    "SMS_ACCESS_KEY_ID",
    "SMS_ACCESS_KEY_SECRET",
    "SMS_ADMIN_TOKEN",
    "SmsGatewayConfig",
    "create_sms_gateway_app",
    "sign_headers",
    "sms_size",
]

SMS_ACCESS_KEY_ID = "LTAI-yq-demo-sms"
SMS_ACCESS_KEY_SECRET = "yq-sms-demo-secret-8c1e"  # noqa: S105 -- published demo credential
SMS_ADMIN_TOKEN = "yq-sms-admin-token-6b2f"  # noqa: S105 -- published demo credential
USER_AGENT = "YunxunSMS/3.1 (demo; callbacks)"

_GSM = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXT = set("^{}\\[~]|€\f")
_MAINLAND = re.compile(r"^1[3-9][0-9]{9}$")
_INTERNATIONAL = re.compile(r"^\+[1-9][0-9]{7,14}$")


def sms_size(text: str) -> int:
    """How many messages ``text`` (sign included) is billed as."""
    if all(c in _GSM or c in _GSM_EXT for c in text):
        units = sum(2 if c in _GSM_EXT else 1 for c in text)
        return 1 if units <= 160 else math.ceil(units / 153)
    units = len(text.encode("utf-16-le")) // 2
    return 1 if units <= 70 else math.ceil(units / 67)


def _signature(secret: str, method: str, path: str, key_id: str, stamp: str, nonce: str,
               body: bytes) -> str:  # fmt: skip
    canonical = f"{method.upper()}\n{path}\n{key_id}\n{stamp}\n{nonce}\n".encode() + body
    return hmac.new(secret.encode(), canonical, hashlib.sha256).hexdigest()


def sign_headers(
    key_id: str, secret: str, method: str, url: str, body: bytes, *,
    timestamp_ms: int | None = None, nonce: str | None = None,
) -> dict[str, str]:  # fmt: skip
    """The four signing headers of a request or callback to ``url``."""
    stamp = str(timestamp_ms if timestamp_ms is not None else int(time.time() * 1000))
    nonce = nonce or secrets.token_hex(12)
    path = urlsplit(url).path or "/"
    return {
        "X-Sms-AccessKeyId": key_id,
        "X-Sms-Timestamp": stamp,
        "X-Sms-Nonce": nonce,
        "X-Sms-Signature": _signature(secret, method, path, key_id, stamp, nonce, body),
    }


def _mobile(raw: Any) -> str | None:
    """Mainland numbers as 11 digits, others as ``+`` and digits; None when invalid."""
    text = re.sub(r"[\s\-()]", "", str(raw or ""))
    for prefix in ("+86", "0086", "86"):
        if text.startswith(prefix) and len(text) == len(prefix) + 11:
            text = text[len(prefix) :]
    if _MAINLAND.match(text):
        return text
    if text.startswith("00"):
        text = "+" + text[2:]
    return text if _INTERNATIONAL.match(text) else None


@dataclass
class SmsGatewayConfig:
    access_key_id: str = SMS_ACCESS_KEY_ID
    access_key_secret: str = SMS_ACCESS_KEY_SECRET
    admin_token: str = SMS_ADMIN_TOKEN
    report_url: str | None = None
    inbound_url: str | None = None
    #: seconds until the delivery report is pushed; None: only on POST /admin/reports/{biz_id}
    report_delay: float | None = 1.0
    retry_delays: tuple[float, ...] = (1.0, 5.0, 30.0)
    callback_timeout: float = 5.0
    sign_names: tuple[str, ...] = ("云栖优选", "Relaydesk")
    #: the number customers see and reply to
    dest_code: str = "1069012345678"
    #: longest message, 【sign】 included (characters)
    max_chars: int = 500
    tolerance_seconds: int = 300


@dataclass
class Sent:
    biz_id: str
    phone_number: str
    sign_name: str
    content: str
    out_id: str | None
    sms_size: int
    send_time: str
    report: dict[str, Any] | None = None
    report_pushed: bool = False
    attempts: list[dict[str, Any]] = field(default_factory=list)


class GatewayError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class _State:
    config: SmsGatewayConfig
    sent: dict[str, Sent] = field(default_factory=dict)
    by_out_id: dict[str, str] = field(default_factory=dict)
    inbound: list[dict[str, Any]] = field(default_factory=list)
    failing_numbers: dict[str, tuple[str, str]] = field(default_factory=dict)
    outage: tuple[int, int | None] | None = None  # (status, remaining requests or None)
    nonces: OrderedDict[str, float] = field(default_factory=OrderedDict)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    client: httpx.AsyncClient | None = None

    def new_id(self, prefix: str) -> str:
        return f"{prefix}{now_local():%Y%m%d%H%M%S}{next(self.counter):06d}"

    def check_signature(self, request: Request, body: bytes) -> None:
        cfg, headers = self.config, request.headers
        key_id = headers.get("x-sms-accesskeyid", "")
        stamp = headers.get("x-sms-timestamp", "")
        nonce = headers.get("x-sms-nonce", "")
        given = headers.get("x-sms-signature", "")
        if not (key_id and stamp and nonce and given):
            raise GatewayError(
                401, "MissingSignature", "缺少签名头 X-Sms-AccessKeyId/Timestamp/Nonce/Signature"
            )
        if not hmac.compare_digest(key_id, cfg.access_key_id):
            raise GatewayError(401, "InvalidAccessKeyId.NotFound", "AccessKeyId 不存在")
        now = time.time()
        if not stamp.isdigit() or abs(now - int(stamp) / 1000) > cfg.tolerance_seconds:
            raise GatewayError(
                401, "InvalidTimeStamp.Expired", "时间戳无效或已过期（毫秒，±5 分钟）"
            )
        expected = _signature(cfg.access_key_secret, request.method, request.url.path, key_id,
                              stamp, nonce, body)  # fmt: skip
        if not hmac.compare_digest(expected, given.lower()):
            raise GatewayError(
                401, "SignatureDoesNotMatch", "签名不匹配，请检查 AccessKeySecret 与签名串"
            )
        while self.nonces and next(iter(self.nonces.values())) < now:
            self.nonces.popitem(last=False)
        if nonce in self.nonces:
            raise GatewayError(401, "SignatureNonceUsed", "SignatureNonce 已使用，请勿重放请求")
        self.nonces[nonce] = now + 2 * cfg.tolerance_seconds

    def take_outage(self) -> None:
        if self.outage is None:
            return
        status, remaining = self.outage
        if remaining is not None:
            self.outage = (status, remaining - 1) if remaining > 1 else None
        raise GatewayError(status, "ServiceUnavailable", "短信网关繁忙，请稍后重试")

    def report_of(self, sms: Sent) -> dict[str, Any]:
        if sms.report is None:
            err_code, err_msg = self.failing_numbers.get(
                sms.phone_number, ("DELIVRD", "用户接收成功")
            )
            sms.report = {
                "report_id": self.new_id("RP"), "biz_id": sms.biz_id, "out_id": sms.out_id,
                "phone_number": sms.phone_number,
                "status": "DELIVRD" if err_code == "DELIVRD" else "UNDELIV",
                "err_code": err_code, "err_msg": err_msg, "sms_size": sms.sms_size,
                "send_time": sms.send_time, "report_time": str(now_local()),
            }  # fmt: skip
        return sms.report

    async def push(self, url: str, items: list[dict[str, Any]]) -> dict[str, Any]:
        """One signed callback attempt: ``{"ok", "status", "response" | "error"}``."""
        if self.client is None:
            self.client = httpx.AsyncClient(timeout=self.config.callback_timeout)
        body = json.dumps(items, ensure_ascii=False, separators=(",", ":")).encode()
        headers = sign_headers(self.config.access_key_id, self.config.access_key_secret,
                               "POST", url, body)  # fmt: skip
        headers |= {"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT}
        try:
            response = await self.client.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return {"ok": False, "status": None, "error": f"{type(exc).__name__}: {exc}"}
        try:
            answer: Any = response.json()
        except ValueError:
            answer = response.text[:500]
        ok = response.is_success and isinstance(answer, dict) and answer.get("code") in (0, "0")
        return {"ok": ok, "status": response.status_code, "response": answer}

    async def push_with_retries(self, url: str, items: list[dict[str, Any]],
                                log: list[dict[str, Any]], delay: float = 0.0) -> bool:  # fmt: skip
        for wait in (delay, *self.config.retry_delays):
            await asyncio.sleep(wait)
            outcome = await self.push(url, items)
            log.append({"at": str(now_local()), **outcome})
            if outcome["ok"]:
                return True
        return False

    def background(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def report_later(self, sms: Sent) -> None:
        url = self.config.report_url
        if url is None or self.config.report_delay is None:
            return
        sms.report_pushed = await self.push_with_retries(
            url, [self.report_of(sms)], sms.attempts, self.config.report_delay
        )

    async def aclose(self) -> None:
        for task in list(self.tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.client is not None:
            await self.client.aclose()


def _ok(**data: Any) -> JSONResponse:
    return JSONResponse({"code": "OK", "message": "OK", **data})


async def _fields(request: Request) -> dict[str, Any]:
    try:
        return await read_fields(request, form=False)
    except BodyError as exc:
        raise GatewayError(400, "isv.INVALID_PARAMETERS", f"请求体无法解析 ({exc})") from None


def _biz(code: str, message: str, request_id: str) -> JSONResponse:
    """A business error: HTTP 200 with a ``code`` other than OK (as operators answer)."""
    return JSONResponse({"code": code, "message": message, "request_id": request_id})


def _text(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    return "" if value is None else str(value).strip()


def create_sms_gateway_app(config: SmsGatewayConfig | None = None) -> FastAPI:
    state = _State(config or SmsGatewayConfig())
    cfg = state.config

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await state.aclose()

    app = FastAPI(title="云讯短信网关 (demo)", docs_url=None, redoc_url=None, openapi_url=None,
                  lifespan=lifespan)  # fmt: skip
    app.state.sms = state

    @app.exception_handler(GatewayError)
    async def _error(_: Request, exc: GatewayError) -> JSONResponse:
        headers = {"Retry-After": "5"} if exc.status == 503 else None
        body = {"code": exc.code, "message": exc.message, "request_id": state.new_id("RQ")}
        return JSONResponse(body, exc.status, headers=headers)

    @app.post("/sms/v1/send")
    async def send(request: Request) -> JSONResponse:
        state.take_outage()
        body = await request.body()
        state.check_signature(request, body)
        data = await _fields(request)
        request_id = state.new_id("RQ")
        phone = _mobile(data.get("phone_number"))
        if phone is None:
            return _biz("isv.MOBILE_NUMBER_ILLEGAL", "手机号码格式错误", request_id)
        sign_name, content = _text(data, "sign_name"), _text(data, "content")
        if sign_name not in cfg.sign_names:
            return _biz(
                "isv.SMS_SIGN_ILLEGAL", f"签名 {sign_name!r} 不存在或未通过审核", request_id
            )
        full = f"【{sign_name}】{content}" if _MAINLAND.match(phone) else content
        if not content or len(full) > cfg.max_chars:
            return _biz("isv.CONTENT_LENGTH_LIMIT",
                        f"短信内容（含签名）须为 1 到 {cfg.max_chars} 字", request_id)  # fmt: skip
        out_id = _text(data, "out_id")[:64] or None
        if out_id is not None and out_id in state.by_out_id:
            known = state.sent[state.by_out_id[out_id]]
            return _ok(biz_id=known.biz_id, sms_size=known.sms_size, request_id=request_id)
        sms = Sent(state.new_id("SM"), phone, sign_name, content, out_id, sms_size(full),
                   str(now_local()))  # fmt: skip
        state.sent[sms.biz_id] = sms
        if out_id is not None:
            state.by_out_id[out_id] = sms.biz_id
        state.background(state.report_later(sms))
        return _ok(biz_id=sms.biz_id, sms_size=sms.sms_size, request_id=request_id)

    from relaydesk.demo_systems.sms_gateway_admin import add_admin_routes

    add_admin_routes(app, state)
    return app
