"""The demo SMS gateway on its own: signed requests, operator-style answers, admin switches."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from relaydesk.demo_systems.runner import start_server
from relaydesk.demo_systems.sms_gateway import (
    SMS_ACCESS_KEY_ID,
    SMS_ACCESS_KEY_SECRET,
    SMS_ADMIN_TOKEN,
    SmsGatewayConfig,
    create_sms_gateway_app,
    sign_headers,
)

URL = "/sms/v1/send"


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    app = create_sms_gateway_app(SmsGatewayConfig(report_delay=None))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sms.test") as client:
        yield client


async def _send(
    http: httpx.AsyncClient, fields: dict[str, Any], *, secret: str = SMS_ACCESS_KEY_SECRET,
    nonce: str | None = None,
) -> httpx.Response:  # fmt: skip
    body = json.dumps(fields, ensure_ascii=False).encode()
    headers = sign_headers(SMS_ACCESS_KEY_ID, secret, "POST", URL, body, nonce=nonce)
    return await http.post(URL, content=body, headers=headers)


async def test_send_and_operator_style_errors(http: httpx.AsyncClient) -> None:
    ok = await _send(http, {"phone_number": "+86 138 0013 8000", "sign_name": "云栖优选",
                            "content": "您的验证码是 123456", "out_id": "o-1"})  # fmt: skip
    assert ok.status_code == 200 and ok.json()["code"] == "OK" and ok.json()["sms_size"] == 1
    again = await _send(http, {"phone_number": "13800138000", "sign_name": "云栖优选",
                               "content": "您的验证码是 123456", "out_id": "o-1"})  # fmt: skip
    assert again.json()["biz_id"] == ok.json()["biz_id"]  # a retried send is not sent twice
    codes = {}
    for name, fields in {
        "number": {"phone_number": "1234", "sign_name": "云栖优选", "content": "x"},
        "sign": {"phone_number": "13800138000", "sign_name": "山寨", "content": "x"},
        "length": {"phone_number": "13800138000", "sign_name": "云栖优选", "content": "长" * 495},
    }.items():
        r = await _send(http, fields)
        assert r.status_code == 200  # business errors: HTTP 200, another code
        codes[name] = r.json()["code"]
    assert codes == {"number": "isv.MOBILE_NUMBER_ILLEGAL", "sign": "isv.SMS_SIGN_ILLEGAL",
                     "length": "isv.CONTENT_LENGTH_LIMIT"}  # fmt: skip


async def test_signing_nonce_and_outage(http: httpx.AsyncClient) -> None:
    fields = {"phone_number": "13800138000", "sign_name": "云栖优选", "content": "hi"}
    forged = await _send(http, fields, secret="wrong")
    assert forged.status_code == 401 and forged.json()["code"] == "SignatureDoesNotMatch"
    assert (await http.post(URL, json=fields)).json()["code"] == "MissingSignature"
    assert (await _send(http, fields, nonce="n-1")).status_code == 200
    replay = await _send(http, fields, nonce="n-1")
    assert replay.status_code == 401 and replay.json()["code"] == "SignatureNonceUsed"

    admin = {"X-Admin-Token": SMS_ADMIN_TOKEN}
    await http.post("/admin/outage", json={"status": 503, "requests": 1}, headers=admin)
    down = await _send(http, fields)
    assert down.status_code == 503 and down.headers["retry-after"] == "5"
    assert (await _send(http, fields)).status_code == 200  # the outage was one request long
    assert (await http.post("/admin/outage", json={})).status_code == 401


async def test_reports_are_pushed_signed_and_retried_until_acknowledged() -> None:
    """Auto reports (the demo's mode): a receiver that answers 409 first gets it again."""
    answers, seen = [409, 200], []

    async def receiver(request: Request) -> JSONResponse:
        body = await request.body()
        url = str(request.url)
        expected = sign_headers(SMS_ACCESS_KEY_ID, SMS_ACCESS_KEY_SECRET, "POST", url, body,
                                timestamp_ms=int(request.headers["x-sms-timestamp"]),
                                nonce=request.headers["x-sms-nonce"])  # fmt: skip
        assert request.headers["x-sms-signature"] == expected["X-Sms-Signature"]
        seen.append(json.loads(body))
        status = answers.pop(0)
        return JSONResponse({"code": 0 if status == 200 else 1}, status)

    hook = await start_server(Starlette(routes=[Route("/r", receiver, methods=["POST"])]))
    config = SmsGatewayConfig(report_url=f"{hook.url}/r", report_delay=0.0, retry_delays=(0.05,))
    gateway = await start_server(create_sms_gateway_app(config))
    try:
        async with httpx.AsyncClient(base_url=gateway.url) as http:
            sent = await _send(http, {"phone_number": "13800138000", "sign_name": "云栖优选",
                                      "content": "您的包裹已签收"})  # fmt: skip
            for _ in range(100):
                if len(seen) == 2:
                    break
                await asyncio.sleep(0.02)
            log = await http.get("/admin/messages", headers={"X-Admin-Token": SMS_ADMIN_TOKEN})
    finally:
        await gateway.stop()
        await hook.stop()
    [report] = seen[1]
    assert seen[0] == seen[1]
    assert report["biz_id"] == sent.json()["biz_id"] and report["status"] == "DELIVRD"
    [message] = log.json()["messages"]
    assert message["report_pushed"] is True
    assert [a["status"] for a in message["attempts"]] == [409, 200]
