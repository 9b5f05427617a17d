"""云呼通 (the demo cloud call centre): signing, agents, calls and the signed event pushes.

Written independently of Relaydesk's voice channel on purpose: the two meet only in the
protocol documented in docs/channels.md ("Voice / call centre"). The app and its routes are
in :mod:`relaydesk.demo_systems.callcenter`.

**Signing** (API requests and the event pushes alike): four query parameters ::

    appKey=<AppKey>&timestamp=<Unix seconds>&nonce=<random, never reused>&sign=<SIGN>
    SIGN = upper(hex(HMAC-SHA256(AppSecret, METHOD + "\\n" + PATH + "\\n" + QUERY + "\\n" + BODY)))

where QUERY is every query parameter except ``sign`` and those with an empty value, sorted by
name, as ``k=v`` joined by ``&`` (values decoded, not percent-encoded; a repeated parameter's
values joined by commas) and BODY the raw body (empty for GET). The timestamp must be within
5 minutes of the receiver's clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import hmac
import io
import itertools
import json
import re
import secrets
import time
import wave
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from relaydesk.demo_systems._web import now_local

__all__ = [
    "CC_ADMIN_TOKEN",
    "CC_APP_KEY",
    "CC_APP_SECRET",
    "DEFAULT_AGENTS",
    "Agent",
    "Call",
    "CallCenterConfig",
    "CallCenterError",
    "CallCenterState",
    "mobile",
    "sign",
    "signed_url",
]

CC_APP_KEY = "yh-demo-app"
CC_APP_SECRET = "yh-callcenter-demo-secret-41d7"  # noqa: S105 -- published demo credential
CC_ADMIN_TOKEN = "yh-callcenter-admin-token-8e3c"  # noqa: S105 -- published demo credential
USER_AGENT = "YunhuTong-CTI/4.2 (demo; event push)"
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

_MAINLAND_MOBILE = re.compile(r"^1[3-9][0-9]{9}$")
_FIXED_LINE = re.compile(r"^0[1-9][0-9]{8,10}$")
_INTERNATIONAL = re.compile(r"^\+[1-9][0-9]{7,14}$")


def _canonical(method: str, path: str, params: dict[str, str], body: bytes) -> bytes:
    pairs = sorted((k, v) for k, v in params.items() if k != "sign" and v != "")
    query = "&".join(f"{k}={v}" for k, v in pairs)
    return f"{method.upper()}\n{path}\n{query}\n".encode() + body


def sign(secret: str, method: str, path: str, params: dict[str, str], body: bytes) -> str:
    """The ``sign`` of a request (see the module docstring)."""
    text = _canonical(method, path, params, body)
    return hmac.new(secret.encode(), text, hashlib.sha256).hexdigest().upper()


def signed_url(app_key: str, secret: str, method: str, url: str, body: bytes, *,
               timestamp: int | None = None, nonce: str | None = None) -> str:  # fmt: skip
    """``url`` with appKey, timestamp, nonce and sign added to its query."""
    parts = urlsplit(url)
    params: dict[str, str] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        params[key] = f"{params[key]},{value}" if key in params else value
    params |= {"appKey": app_key, "timestamp": str(timestamp or int(time.time())),
               "nonce": nonce or secrets.token_hex(10)}  # fmt: skip
    params["sign"] = sign(secret, method, parts.path or "/", params, body)
    return urlunsplit(parts._replace(query=urlencode(params)))


def mobile(raw: Any) -> str | None:
    """A customer number as the call centre dials it: mainland mobiles as 11 digits, fixed
    lines with their 0 area code, others as ``+`` and digits; None when invalid."""
    text = re.sub(r"[\s\-()]", "", str(raw or ""))
    for prefix in ("+86", "0086"):
        if text.startswith(prefix):
            rest = text[len(prefix) :]
            text = rest if _MAINLAND_MOBILE.match(rest) else "0" + rest
    if text.startswith("86") and len(text) == 13:
        text = text[2:]
    if _MAINLAND_MOBILE.match(text) or _FIXED_LINE.match(text):
        return text
    if text.startswith("00"):
        text = "+" + text[2:]
    return text if _INTERNATIONAL.match(text) else None


@dataclass
class Agent:
    cno: str  # 座席号 (seat / extension)
    name: str
    email: str
    status: str = "online"  # online | offline | busy


#: the demo's seats, e-mails as the demo organisation's logins (relaydesk/demo/seed.py)
DEFAULT_AGENTS: tuple[tuple[str, str, str], ...] = (
    ("8001", "王小燕", "agent@demo.relaydesk.local"),
    ("8002", "林雅婷", "supervisor@demo.relaydesk.local"),
    ("8003", "陈思远", "admin@demo.relaydesk.local"),
)

_TRANSCRIPT = (
    ("AGENT", "您好，云栖优选客服中心，工号{cno}，很高兴为您服务，请问有什么可以帮您？"),
    ("CUSTOMER", "你好，我上周买的空气炸锅到现在还没收到，想问一下物流到哪里了。"),
    ("AGENT", "好的，请您稍等，我帮您查询一下……包裹已经到达本地网点，预计明天上午送达。"),
    ("CUSTOMER", "那麻烦帮我备注一下，明天上午家里没人，下午再送可以吗？"),
    ("AGENT", "可以的，已经为您登记改为下午派送，派送前快递员会先给您打电话。"),
    ("CUSTOMER", "好的，谢谢。"),
    ("AGENT", "不客气，感谢您的来电，祝您生活愉快，再见。"),
)


@dataclass
class CallCenterConfig:
    app_key: str = CC_APP_KEY
    app_secret: str = CC_APP_SECRET
    admin_token: str = CC_ADMIN_TOKEN
    #: where call events are pushed (Relaydesk: /api/v1/channels/voice/<inbox>/events)
    event_url: str | None = None
    #: base of the recording URLs; None: the URL the simulator was reached on
    public_url: str | None = None
    hotline: str = "4008206666"
    agents: tuple[tuple[str, str, str], ...] = DEFAULT_AGENTS
    #: click-to-call: RINGING is pushed this long after the dial request is answered (None:
    #: only on POST /admin/calls/{id}/push/RINGING)
    dial_push_delay: float | None = 0.2
    #: the demo's "someone picks up": ANSWERED this long after RINGING (None: admin only)
    auto_answer_after: float | None = None
    #: ... and HANGUP this long after ANSWERED (None: admin only)
    auto_hangup_after: float | None = None
    retry_delays: tuple[float, ...] = (1.0, 5.0, 30.0)
    callback_timeout: float = 5.0
    tolerance_seconds: int = 300


class CallCenterError(Exception):
    """An answer other than success: HTTP ``status`` with ``{"code", "msg"}``."""

    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg


def _fmt(value: dt.datetime | None) -> str | None:
    return value.strftime(TIME_FORMAT) if value is not None else None


@dataclass
class Call:
    call_id: str
    direction: str  # IB (呼入) | OB (外呼)
    customer_number: str
    hotline: str
    agent: Agent
    start_time: dt.datetime
    user_field: str | None = None
    status: str = "RINGING"  # RINGING | ANSWERED | HANGUP
    answer_time: dt.datetime | None = None
    end_time: dt.datetime | None = None
    hangup_side: str | None = None  # CUSTOMER | AGENT | SYSTEM
    end_reason: str | None = None  # NORMAL | NO_ANSWER | BUSY | CANCELLED
    asr: list[dict[str, Any]] = field(default_factory=list)
    record_url: str | None = None
    pushes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def talk_seconds(self) -> int:
        if self.answer_time is None or self.end_time is None:
            return 0
        return max(0, int((self.end_time - self.answer_time).total_seconds()))

    def cdr(self) -> dict[str, Any]:
        """The call detail record (话单) as the API and the pushes show it."""
        return {
            "callId": self.call_id, "direction": self.direction,
            "customerNumber": self.customer_number, "hotline": self.hotline,
            "cno": self.agent.cno, "agentName": self.agent.name, "agentEmail": self.agent.email,
            "status": self.status, "startTime": _fmt(self.start_time),
            "answerTime": _fmt(self.answer_time), "endTime": _fmt(self.end_time),
            "talkSeconds": self.talk_seconds, "hangupSide": self.hangup_side,
            "endReason": self.end_reason, "recordUrl": self.record_url,
            "asrText": list(self.asr), "userField": self.user_field,
        }  # fmt: skip

    def event(self, event_type: str) -> dict[str, Any]:
        """The push of one event: the CDR as it stands, with a stable ``eventId``."""
        return {"eventId": f"{self.call_id}-{event_type}", "eventType": event_type, **self.cdr()}


def default_transcript(agent: Agent, talk_seconds: int) -> list[dict[str, Any]]:
    step = max(1.0, talk_seconds / len(_TRANSCRIPT))
    return [{"role": role, "text": text.format(cno=agent.cno), "offset": round(i * step, 1)}
            for i, (role, text) in enumerate(_TRANSCRIPT)]  # fmt: skip


def silence_wav(seconds: float = 1.0, rate: int = 8000) -> bytes:
    """A short mono 8 kHz recording (the demo's calls are silent)."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"\x00\x00" * int(rate * seconds))
    return buffer.getvalue()


@dataclass
class CallCenterState:
    config: CallCenterConfig
    agents: dict[str, Agent] = field(default_factory=dict)
    calls: OrderedDict[str, Call] = field(default_factory=OrderedDict)
    by_request: dict[str, str] = field(default_factory=dict)
    nonces: OrderedDict[str, float] = field(default_factory=OrderedDict)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    client: httpx.AsyncClient | None = None

    def __post_init__(self) -> None:
        for cno, name, email in self.config.agents:
            self.agents[cno] = Agent(cno, name, email)

    def new_call_id(self) -> str:
        return f"CA{now_local():%Y%m%d%H%M%S}{next(self.counter):05d}"

    def recording_token(self, call_id: str) -> str:
        key = self.config.app_secret.encode()
        return hmac.new(key, f"record:{call_id}".encode(), hashlib.sha256).hexdigest()[:24]

    def check_signature(self, method: str, path: str, query: Iterable[tuple[str, str]],
                        body: bytes) -> None:  # fmt: skip
        params: dict[str, str] = {}
        for key, value in query:
            params[key] = f"{params[key]},{value}" if key in params else value
        missing = [k for k in ("appKey", "timestamp", "nonce", "sign") if not params.get(k)]
        if missing:
            raise CallCenterError(401, 10001, f"缺少签名参数: {', '.join(missing)}")
        if not hmac.compare_digest(params["appKey"], self.config.app_key):
            raise CallCenterError(401, 10002, "appKey 不存在或已停用")
        now = time.time()
        stamp = params["timestamp"]
        if not stamp.isdigit() or abs(now - int(stamp)) > self.config.tolerance_seconds:
            raise CallCenterError(401, 10003, "timestamp 无效或已过期（秒级，±5 分钟）")
        expected = sign(self.config.app_secret, method, path, params, body)
        if not hmac.compare_digest(expected, params["sign"].upper()):
            raise CallCenterError(401, 10004, "签名错误，请检查 AppSecret 与签名串")
        while self.nonces and next(iter(self.nonces.values())) < now:
            self.nonces.popitem(last=False)
        if params["nonce"] in self.nonces:
            raise CallCenterError(401, 10005, "nonce 已使用，请勿重放请求")
        self.nonces[params["nonce"]] = now + 2 * self.config.tolerance_seconds

    # --- calls ------------------------------------------------------------------------------

    def start(self, direction: str, number: str, agent: Agent, user_field: str | None = None,
              call_id: str | None = None) -> Call:  # fmt: skip
        call = Call(call_id or self.new_call_id(), direction, number, self.config.hotline, agent,
                    now_local(), user_field=user_field)  # fmt: skip
        self.calls[call.call_id] = call
        if agent.status == "online":
            agent.status = "busy"  # the seat is on this call until it ends
        return call

    def answer(self, call: Call) -> None:
        if call.status != "RINGING":
            raise CallCenterError(409, 30002, f"通话状态为 {call.status}，不能接听")
        call.status, call.answer_time = "ANSWERED", now_local()
        call.agent.status = "busy"

    def hang_up(
        self, call: Call, base_url: str, side: str = "CUSTOMER",
        talk_seconds: int | None = None, asr: list[dict[str, Any]] | None = None,
    ) -> None:  # fmt: skip
        if call.status == "HANGUP":
            raise CallCenterError(409, 30003, "通话已结束")
        end = now_local()
        if call.answer_time is not None:
            if talk_seconds is not None:  # the demo's calls last as long as the story says
                end = call.answer_time + dt.timedelta(seconds=talk_seconds)
            call.end_reason = "NORMAL"
            seconds = int((end - call.answer_time).total_seconds())
            call.asr = asr if asr is not None else default_transcript(call.agent, seconds)
            url = (self.config.public_url or base_url).rstrip("/")
            call.record_url = (f"{url}/recordings/{call.call_id}.wav?"
                               f"token={self.recording_token(call.call_id)}")  # fmt: skip
        else:
            call.end_reason = "NO_ANSWER" if side == "SYSTEM" else "CANCELLED"
        call.status, call.end_time, call.hangup_side = "HANGUP", end, side
        call.agent.status = "online" if call.agent.status == "busy" else call.agent.status

    # --- pushes -----------------------------------------------------------------------------

    async def push(self, call: Call, event_type: str) -> dict[str, Any]:
        """One signed push of an event: ``{"ok", "status", "response" | "error"}``."""
        url = self.config.event_url
        if url is None:
            raise CallCenterError(409, 30009, "未配置事件推送地址 event_url")
        if self.client is None:
            self.client = httpx.AsyncClient(timeout=self.config.callback_timeout)
        body = json.dumps(call.event(event_type), ensure_ascii=False,
                          separators=(",", ":")).encode()  # fmt: skip
        target = signed_url(self.config.app_key, self.config.app_secret, "POST", url, body)
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT}
        try:
            response = await self.client.post(target, content=body, headers=headers)
        except httpx.HTTPError as exc:
            outcome: dict[str, Any] = {"ok": False, "status": None,
                                       "error": f"{type(exc).__name__}: {exc}"}  # fmt: skip
        else:
            try:
                answer: Any = response.json()
            except ValueError:
                answer = response.text[:500]
            ok = response.is_success and isinstance(answer, dict) and answer.get("code") in (0, "0")
            outcome = {"ok": ok, "status": response.status_code, "response": answer}
        call.pushes.append({"event": event_type, "at": str(now_local()), **outcome})
        return outcome

    async def push_with_retries(self, call: Call, event_type: str, delay: float = 0.0) -> bool:
        for wait in (delay, *self.config.retry_delays):
            await asyncio.sleep(wait)
            if (await self.push(call, event_type))["ok"]:
                return True
        return False

    def background(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def ring(self, call: Call, base_url: str, delay: float = 0.0,
                   pushed: bool = False) -> None:  # fmt: skip
        """RINGING (retried; ``pushed``: already done), then the demo's automatic pick-up
        and hang-up when configured."""
        if not pushed:
            await self.push_with_retries(call, "RINGING", delay)
        cfg = self.config
        if cfg.auto_answer_after is None or call.status != "RINGING":
            return
        await asyncio.sleep(cfg.auto_answer_after)
        if call.status != "RINGING":
            return
        self.answer(call)
        await self.push_with_retries(call, "ANSWERED")
        if cfg.auto_hangup_after is None:
            return
        await asyncio.sleep(cfg.auto_hangup_after)
        if call.status == "ANSWERED":
            self.hang_up(call, base_url, "CUSTOMER")
            await self.push_with_retries(call, "HANGUP")

    async def aclose(self) -> None:
        for task in list(self.tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.client is not None:
            await self.client.aclose()
