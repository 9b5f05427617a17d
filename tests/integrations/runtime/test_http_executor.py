"""The http executor against a real local server (uvicorn on a free loopback port).

Every request goes through the SSRF-safe client of :func:`make_http_client`, reached only
because the instance's allow-list opens 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import socket
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
import uvicorn
from defusedxml.ElementTree import fromstring
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from relaydesk.integrations.auth import sign
from relaydesk.integrations.runtime import (
    CallContext,
    ExecutorError,
    RawResult,
    executor_for,
    make_auth_handler,
    make_http_client,
    outbound_policy,
)
from relaydesk.integrations.spec import ConnectorSpec, SigningParams, load_spec
from relaydesk.kit.safehttp import BlockedDestination, ResponseTooLarge
from relaydesk.kit.xmlio import parse_xml, render_xml

APP_KEY, APP_SECRET = "rd-test", "s3cret-!@#"
SIGNING = SigningParams(algorithm="hmac_sha256", placement="query")
SIGNING_HEADER = SigningParams(algorithm="md5", placement="header")
MIB = 1024 * 1024


def echo_app() -> FastAPI:
    app = FastAPI()

    @app.get("/api/orders/{order_no:path}")
    async def order(order_no: str, request: Request) -> dict[str, Any]:
        return {
            "data": {
                "orderNo": order_no,
                "rawPath": request.scope["raw_path"].decode("ascii"),
                "query": [list(pair) for pair in request.query_params.multi_items()],
                "shop": request.headers.get("x-shop"),
                "accept": request.headers.get("accept"),
            }
        }

    @app.get("/api/xml/tracking")
    async def tracking() -> Response:
        data = {"waybill": "SF1234567890", "events": [{"time": "2024-05-01 10:00:00",
                                                      "desc": "已揽收"}]}  # fmt: skip
        return Response(render_xml(data, "tracking"), media_type="application/xml")

    @app.post("/api/form")
    async def form(request: Request) -> dict[str, Any]:
        fields = parse_qsl((await request.body()).decode("ascii"), keep_blank_values=True)
        return {"fields": [list(pair) for pair in fields],
                "contentType": request.headers.get("content-type")}  # fmt: skip

    @app.post("/api/xml-in")
    async def xml_in(request: Request) -> dict[str, Any]:
        body = await request.body()
        return {"root": fromstring(body).tag, "fields": parse_xml(body),
                "contentType": request.headers.get("content-type")}  # fmt: skip

    @app.api_route("/api/signed", methods=["GET", "POST"])
    async def signed(request: Request) -> JSONResponse:
        header = request.headers.get("appKey") is not None
        spec = SIGNING_HEADER if header else SIGNING
        source: Mapping[str, str] = request.headers if header else request.query_params
        params = {k: v for k, v in request.query_params.items() if k != "sign"}
        if header:
            params = dict(request.query_params)
        body = (await request.body()).decode()
        expected = sign(spec, params, body, APP_SECRET, source["appKey"], source["timestamp"],
                        source["nonce"], request.method, request.url.path)  # fmt: skip
        if not hmac.compare_digest(expected, source.get("sign", "")):
            return JSONResponse({"code": "BAD_SIGN"}, status_code=401)
        return JSONResponse({"ok": True, "body": json.loads(body) if body else None})

    @app.get("/api/big")
    async def big() -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(6):
                yield b"x" * MIB

        return StreamingResponse(chunks(), media_type="application/json")

    @app.get("/api/garbage")
    async def garbage() -> Response:
        return Response("<html>Bad gateway</html>", status_code=502, media_type="text/html")

    @app.get("/api/slow")
    async def slow() -> dict[str, bool]:
        await asyncio.sleep(2)
        return {"ok": True}

    return app


@contextlib.asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn on a free 127.0.0.1 port; yield its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_config=None, access_log=False, log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        assert not task.done(), "the test server did not start"
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()


@pytest.fixture(scope="module")
async def base_url() -> AsyncIterator[str]:
    async with serve(echo_app()) as url:
        yield url


SPEC = """
apiVersion: relaydesk.io/v1
kind: http
name: shop
config:
  base_url: {type: string, required: true}
  shop: {type: string}
  app_key: {type: string}
  app_secret: {type: string, secret: true}
http:
  base_url: "{{ config.base_url }}"
  headers: {X-Shop: "{{ config.shop }}", Accept: application/json}
AUTH
actions:
  get_order:
    effect: read
    params:
      order_no: {type: string, required: true}
      page: {type: integer, default: 1}
      tags: {type: array}
      mobile: {type: string, pii: phone}
    request:
      path: "/api/orders/{{ params.order_no }}"
      query: {page: "{{ params.page }}", tag: "{{ params.tags }}", mobile: "{{ params.mobile }}"}
    response: {select: data}
  customer_orders:
    effect: read
    params:
      mobile: {type: string, required: true, pii: phone}
    request: {path: "/api/orders/by-mobile/{{ params.mobile }}"}
  tracking:
    effect: read
    request: {path: /api/xml/tracking}
    response: {format: xml}
  create_note:
    effect: write
    params:
      name: {type: string, required: true}
      qty: {type: integer, required: true}
      note: {type: string}
    request:
      method: POST
      path: /api/form
      body: {name: "{{ params.name }}", qty: "{{ params.qty }}", note: "{{ params.note }}"}
      body_format: form
  create_xml:
    effect: write
    params:
      order_no: {type: string, required: true}
      items: {type: array, required: true}
    request:
      method: POST
      path: /api/xml-in
      body: {orderNo: "{{ params.order_no }}", items: "{{ params.items }}"}
      body_format: xml
      xml_root: refundRequest
  signed_get:
    effect: read
    params: {q: {type: string, required: true}}
    request: {path: /api/signed, query: {q: "{{ params.q }}", page: 1}}
  signed_post:
    effect: write
    params: {amount: {type: number, required: true}}
    request:
      method: POST
      path: /api/signed
      query: {v: 2}
      body: {amount: "{{ params.amount }}", reason: 七天无理由}
  big: {effect: read, request: {path: /api/big}}
  garbage: {effect: read, request: {path: /api/garbage}}
  slow: {effect: read, request: {path: /api/slow}}
"""
QUERY_SIGNING = """auth: {type: signing, app_key: "{{ config.app_key }}",
  secret: "{{ config.app_secret }}", algorithm: hmac_sha256, placement: query}"""
HEADER_SIGNING = """auth: {type: signing, app_key: "{{ config.app_key }}",
  secret: "{{ config.app_secret }}", algorithm: md5, placement: header}"""


def make_spec(auth: str = "") -> ConnectorSpec:
    return load_spec(SPEC.replace("AUTH", auth))


async def call(
    base: str,
    action: str,
    params: Mapping[str, Any] | None = None,
    *,
    auth: str = "",
    allow: list[str] | None = None,
    limit: float = 5,
    config: Mapping[str, Any] | None = None,
) -> RawResult:
    spec = make_spec(auth)
    config = config or {"base_url": base, "shop": "flagship-01", "app_key": APP_KEY,
                        "app_secret": APP_SECRET}  # fmt: skip
    http = make_http_client(spec, config, ["127.0.0.1/32"] if allow is None else allow)
    async with http:
        ctx = CallContext(uuid.uuid4(), uuid.uuid4(), spec, config, http,
                          make_auth_handler(spec, config, http), limit)  # fmt: skip
        executor = executor_for(spec, config)
        try:
            return await executor.execute(action, dict(params or {}), ctx)
        finally:
            await executor.aclose()


async def test_json_get_with_chinese_path_value_url_encoded(base_url: str) -> None:
    result = await call(
        base_url,
        "get_order",
        {"order_no": "订单/1?x", "page": 2, "tags": ["a", "b"], "mobile": None},
    )
    assert result.status == 200
    order = result.data["data"]
    assert order["orderNo"] == "订单/1?x"  # arrived whole: / and ? did not change the path
    assert order["rawPath"] == "/api/orders/%E8%AE%A2%E5%8D%95%2F1%3Fx"
    assert order["query"] == [["page", "2"], ["tag", "a"], ["tag", "b"]]  # null left out
    assert order["shop"] == "flagship-01" and order["accept"] == "application/json"
    assert result.body_json == result.data
    assert result.headers["content-type"] == "application/json"


async def test_request_line_has_no_query_values_and_masks_pii_in_the_path(base_url: str) -> None:
    result = await call(base_url, "get_order", {"order_no": "YQ1", "page": 3,
                                                "mobile": "13812345678"})  # fmt: skip
    assert result.request_line == "GET /api/orders/YQ1?page&mobile"
    assert "13812345678" not in result.request_line and "3" not in result.request_line
    by_mobile = await call(base_url, "customer_orders", {"mobile": "13812345678"})
    assert by_mobile.data["data"]["orderNo"] == "by-mobile/13812345678"  # sent in clear
    assert "13812345678" not in by_mobile.request_line
    assert by_mobile.request_line.startswith("GET /api/orders/by-mobile/138")


async def test_xml_response_is_decoded_to_a_dict(base_url: str) -> None:
    result = await call(base_url, "tracking")
    assert result.data == {
        "waybill": "SF1234567890",
        "events": [{"time": "2024-05-01 10:00:00", "desc": "已揽收"}],
    }
    assert result.body_json == result.data  # error rules run on XML answers too


async def test_form_body(base_url: str) -> None:
    result = await call(base_url, "create_note", {"name": "张三", "qty": 2, "note": None})
    assert result.data == {
        "fields": [["name", "张三"], ["qty", "2"]],
        "contentType": "application/x-www-form-urlencoded",
    }
    assert result.request_line == "POST /api/form"


async def test_xml_body_under_its_root(base_url: str) -> None:
    items = [{"sku": "SKU-1", "qty": 2}, {"sku": "SKU-2", "qty": 1}]
    result = await call(base_url, "create_xml", {"order_no": "YQ20240501", "items": items})
    assert result.data["root"] == "refundRequest"
    assert result.data["fields"] == {"orderNo": "YQ20240501", "items": [
        {"sku": "SKU-1", "qty": "2"}, {"sku": "SKU-2", "qty": "1"}]}  # fmt: skip
    assert result.data["contentType"].startswith("application/xml")


async def test_query_signing_verified_by_the_server(base_url: str) -> None:
    result = await call(base_url, "signed_get", {"q": "退款 & 换货"}, auth=QUERY_SIGNING)
    assert result.status == 200 and result.data["ok"] is True
    assert result.request_line == "GET /api/signed?q&page"  # no appKey/sign, no values


async def test_header_signing_covers_the_json_body(base_url: str) -> None:
    result = await call(base_url, "signed_post", {"amount": 99.5}, auth=HEADER_SIGNING)
    assert result.status == 200
    assert result.data["body"] == {"amount": 99.5, "reason": "七天无理由"}


async def test_wrong_secret_is_refused_by_the_server(base_url: str) -> None:
    config = {"base_url": base_url, "app_key": APP_KEY, "app_secret": "wrong"}
    result = await call(base_url, "signed_get", {"q": "x"}, auth=QUERY_SIGNING, config=config)
    assert result.status == 401 and result.body_json == {"code": "BAD_SIGN"}


async def test_loopback_is_refused_without_the_allow_list(base_url: str) -> None:
    with pytest.raises(BlockedDestination, match="allow-list"):
        await call(base_url, "tracking", allow=[])
    with pytest.raises(BlockedDestination):
        await call(base_url, "tracking", allow=["10.0.0.0/8", "erp.example.com"])


async def test_a_host_name_on_the_allow_list_opens_it(base_url: str) -> None:
    url = base_url.replace("127.0.0.1", "localhost")
    result = await call(url, "tracking", allow=["localhost"],
                        config={"base_url": url})  # fmt: skip
    assert result.status == 200


async def test_response_over_5_mib_is_refused(base_url: str) -> None:
    with pytest.raises(ResponseTooLarge):
        await call(base_url, "big")


async def test_undecodable_body_gives_status_and_no_data(base_url: str) -> None:
    result = await call(base_url, "garbage")
    assert result.status == 502
    assert result.data is None and result.body_json is None


async def test_timeout_raises_the_httpx_error(base_url: str) -> None:
    with pytest.raises(httpx.TimeoutException):
        await call(base_url, "slow", limit=0.3)


def test_allow_list_entries_split_into_networks_and_hosts() -> None:
    policy = outbound_policy([" 10.0.0.0/8", "192.168.1.5", "fd00::/8", "erp.intranet", ""])
    assert policy.allow_cidrs == ["10.0.0.0/8", "192.168.1.5", "fd00::/8"]
    assert policy.allow_hosts == ["erp.intranet"]
    with pytest.raises(ValueError, match="not a valid network"):
        outbound_policy(["10.0.0.1/8"])  # host bits set: a typo, not a network


async def test_base_url_must_be_http() -> None:
    spec = make_spec()
    with pytest.raises(ExecutorError) as caught:
        make_http_client(spec, {"base_url": "file:///etc/passwd"}, [])
    assert caught.value.code == "invalid_base_url"
    async with make_http_client(spec, {"base_url": "https://erp.example.com/v2"}, []) as http:
        assert str(http.base_url) == "https://erp.example.com/v2/"
        assert http.timeout.read == 5
