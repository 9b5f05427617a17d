"""The demo call centre on its own: its signature checks, business errors, recordings, and
the pushes it retries until the receiver says ``{"code": 0}``."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request

from relaydesk.demo_systems.callcenter import (
    CC_ADMIN_TOKEN,
    CC_APP_KEY,
    CC_APP_SECRET,
    CallCenterConfig,
    create_callcenter_app,
    signed_url,
)
from relaydesk.demo_systems.runner import RunningServer, start_server

ADMIN = {"X-Admin-Token": CC_ADMIN_TOKEN}


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[RunningServer, list[dict[str, Any]]]]:
    """A push receiver that refuses the first push of every event, then accepts."""
    app, got = FastAPI(), []

    @app.post("/events")
    async def events(request: Request) -> dict[str, Any]:
        event = json.loads(await request.body())
        got.append({**event, "query": dict(request.query_params)})
        seen = sum(1 for e in got if e["eventId"] == event["eventId"])
        return {"code": 0} if seen > 1 else {"code": 500, "msg": "busy"}

    server = await start_server(app, name="receiver")
    yield server, got
    await server.stop()


@pytest.fixture
async def cc() -> AsyncIterator[str]:
    server = await start_server(create_callcenter_app(CallCenterConfig(
        dial_push_delay=0.0, retry_delays=(0.05, 0.05))), name="callcenter")  # fmt: skip
    yield server.url
    await server.stop()


def _signed(base: str, path: str, body: bytes = b"", *, secret: str = CC_APP_SECRET,
            age: int = 0, nonce: str | None = None, method: str = "POST") -> str:  # fmt: skip
    return signed_url(CC_APP_KEY, secret, method, base + path, body,
                      timestamp=int(time.time()) - age, nonce=nonce)  # fmt: skip


async def test_requests_without_a_valid_signature_are_refused(cc: str) -> None:
    body = json.dumps({"cno": "8001", "customerNumber": "13800138000"}).encode()
    async with httpx.AsyncClient() as http:
        r = await http.post(f"{cc}/open/v1/call/dial", content=body)
        assert (r.status_code, r.json()["code"]) == (401, 10001)
        r = await http.post(_signed(cc, "/open/v1/call/dial", body, secret="x"), content=body)
        assert (r.status_code, r.json()["code"]) == (401, 10004)
        r = await http.post(_signed(cc, "/open/v1/call/dial", body, age=600), content=body)
        assert (r.status_code, r.json()["code"]) == (401, 10003)
        url = _signed(cc, "/open/v1/call/dial", body, nonce="n-1")
        assert (await http.post(url, content=body)).json()["code"] == 0
        r = await http.post(url, content=body)  # the same request replayed
        assert (r.status_code, r.json()["code"]) == (401, 10005)
        r = await http.get(f"{cc}/admin/calls")
        assert r.status_code == 401


async def test_business_errors_answer_http_200_with_a_code(cc: str) -> None:
    async with httpx.AsyncClient() as http:
        for fields, code in (({"cno": "9999", "customerNumber": "13800138000"}, 20001),
                             ({"cno": "8001", "customerNumber": "12345"}, 20003)):  # fmt: skip
            body = json.dumps(fields).encode()
            r = await http.post(_signed(cc, "/open/v1/call/dial", body), content=body)
            assert (r.status_code, r.json()["code"]) == (200, code)
        r = await http.get(_signed(cc, "/open/v1/call/CA404", method="GET"))
        assert (r.status_code, r.json()["code"]) == (200, 30001)


async def test_pushes_are_signed_and_retried_and_recordings_need_their_token(
    cc: str, receiver: tuple[RunningServer, list[dict[str, Any]]]
) -> None:
    server, got = receiver
    async with httpx.AsyncClient(base_url=cc, headers=ADMIN) as http:
        await http.put("/admin/callbacks", json={"eventUrl": f"{server.url}/events"})
        body = json.dumps({"cno": "8002", "customerNumber": "+86 139 0013 9000",
                           "userField": "conv-1"}).encode()  # fmt: skip
        r = await http.post(_signed(cc, "/open/v1/call/dial", body), content=body)
        call_id = r.json()["data"]["callId"]
        for _ in range(100):  # RINGING in the background: refused once, then retried
            if len(got) >= 2:
                break
            await asyncio.sleep(0.02)
        assert [(e["eventType"], e["direction"], e["userField"]) for e in got] == [
            ("RINGING", "OB", "conv-1")] * 2  # fmt: skip
        assert set(got[1]["query"]) == {"appKey", "timestamp", "nonce", "sign"}
        assert got[0]["query"]["nonce"] != got[1]["query"]["nonce"]  # each attempt re-signed
        busy = await http.post(_signed(cc, "/open/v1/call/dial", body), content=body)
        assert busy.json()["code"] == 20004  # 8002 is on this call
        await http.post(f"/admin/calls/{call_id}/answer")
        ended = (await http.post(f"/admin/calls/{call_id}/hangup",
                                 json={"side": "AGENT", "talkSeconds": 30})).json()  # fmt: skip
        assert ended["push"]["ok"] is False  # the receiver refuses first pushes
        record = ended["data"]["recordUrl"]
        assert ended["data"]["talkSeconds"] == 30 and ended["data"]["hangupSide"] == "AGENT"
        assert (await http.get(record)).headers["content-type"] == "audio/wav"
        assert (await http.get(record.split("?")[0])).status_code == 403
