"""The soap executor against the demo finance service (a real SOAP 1.1 server on loopback).

The WSDL and every operation go through the instance's SSRF-safe client with its auth
(HTTP Basic here).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import Response

from relaydesk.demo_systems import credentials
from relaydesk.demo_systems.finance import create_finance_app
from relaydesk.demo_systems.finance_wsdl import wsdl
from relaydesk.demo_systems.seed_finance import seed_invoices
from relaydesk.integrations.resilience import ErrorClass, ErrorKind
from relaydesk.integrations.runtime import (
    CallContext,
    Executor,
    ExecutorError,
    executor_for,
    make_auth_handler,
    make_http_client,
)
from relaydesk.integrations.spec import ConnectorSpec, load_spec
from relaydesk.kit.safehttp import BlockedDestination

pytest.importorskip("zeep", reason="zeep>=4.2 runs the soap connector kind")

SPEC = """
apiVersion: relaydesk.io/v1
kind: soap
name: finance
config:
  wsdl_url: {type: string, required: true}
  username: {type: string, required: true}
  password: {type: string, required: true, secret: true}
soap: {wsdl: "{{ config.wsdl_url }}"}
auth: {type: basic, username: "{{ config.username }}", password: "{{ config.password }}"}
actions:
  invoices:
    effect: read
    params: {mobile: {type: string, required: true, pii: phone}}
    soap: {operation: GetInvoices, args: {customerMobile: "{{ params.mobile }}"}}
    many: true
  invoice:
    effect: read
    params: {invoice_no: {type: string, required: true}}
    soap: {operation: GetInvoice, args: {invoiceNo: "{{ params.invoice_no }}"}}
  refund: {effect: write, soap: {operation: RefundInvoice}}
"""


@contextlib.asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn on a free 127.0.0.1 port; yield its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, log_level="warning"))
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
async def finance() -> AsyncIterator[tuple[str, list[str]]]:
    """The finance service; the second item records the paths of its GET requests."""
    app = create_finance_app()
    gets: list[str] = []

    @app.middleware("http")
    async def record(request: Request, call_next: Any) -> Any:
        if request.method == "GET":
            gets.append(str(request.url.query))
        return await call_next(request)

    async with serve(app) as url:
        yield url, gets


def config(base: str, password: str = credentials.FINANCE_PASSWORD) -> dict[str, str]:
    return {"wsdl_url": f"{base}/finance?wsdl", "username": credentials.FINANCE_USERNAME,
            "password": password}  # fmt: skip


@contextlib.asynccontextmanager
async def executor(
    cfg: Mapping[str, Any], allow: list[str] | None = None, limit: float = 10
) -> AsyncIterator[tuple[Executor, CallContext]]:
    spec: ConnectorSpec = load_spec(SPEC)
    http = make_http_client(spec, cfg, ["127.0.0.1/32"] if allow is None else allow)
    ctx = CallContext(uuid.uuid4(), uuid.uuid4(), spec, cfg, http,
                      make_auth_handler(spec, cfg, http), limit)  # fmt: skip
    runner = executor_for(spec, cfg)
    try:
        yield runner, ctx
    finally:
        await runner.aclose()
        await http.aclose()


def busiest_mobile() -> str:
    counts: dict[str, int] = {}
    for invoice in seed_invoices():
        counts[invoice.customer_mobile] = counts.get(invoice.customer_mobile, 0) + 1
    return max(counts, key=lambda mobile: counts[mobile])


async def test_operation_result_is_plain_json_safe_data(finance: tuple[str, list[str]]) -> None:
    base, _ = finance
    mobile = busiest_mobile()
    expected = sorted((i for i in seed_invoices() if i.customer_mobile == mobile),
                      key=lambda i: i.issue_date, reverse=True)  # fmt: skip
    async with executor(config(base)) as (runner, ctx):
        result = await runner.execute("invoices", {"mobile": mobile}, ctx)
    assert result.status is None and result.request_line == "SOAP GetInvoices"
    assert isinstance(result.data, list) and len(result.data) == len(expected) >= 2
    first, invoice = result.data[0], expected[0]
    assert type(first) is dict and first["invoiceNo"] == invoice.invoice_no
    assert first["totalAmount"] == format(invoice.total_amount, "f")  # exact, as text
    assert first["taxRate"] == "0.13"
    assert first["issueDate"] == invoice.issue_date.isoformat()
    assert first["customerMobile"] == mobile
    assert result.body_json == result.data


async def test_wsdl_is_loaded_once_per_executor(finance: tuple[str, list[str]]) -> None:
    base, gets = finance
    invoice = seed_invoices()[0]
    before = gets.count("wsdl")
    async with executor(config(base)) as (runner, ctx):
        for _ in range(3):
            result = await runner.execute("invoice", {"invoice_no": invoice.invoice_no}, ctx)
            assert result.data["invoiceNo"] == invoice.invoice_no
    assert gets.count("wsdl") - before == 1


async def test_soap_fault_is_a_failure_with_code_and_detail(finance: tuple[str, list[str]]) -> None:
    base, _ = finance
    async with executor(config(base)) as (runner, ctx):
        with pytest.raises(ExecutorError) as caught:
            await runner.execute("invoice", {"invoice_no": "NO-SUCH-INVOICE"}, ctx)
    error = caught.value
    assert error.error_class is ErrorClass.fail and not error.retryable
    assert error.code is not None and error.code.endswith("Client")
    assert error.message == "发票不存在: NO-SUCH-INVOICE"
    assert error.details["detail"]["FinanceFault"]["code"] == "INVOICE_NOT_FOUND"


async def test_wrong_password_gives_the_services_fault(finance: tuple[str, list[str]]) -> None:
    base, _ = finance
    async with executor(config(base, password="wrong")) as (runner, ctx):
        with pytest.raises(ExecutorError) as caught:
            await runner.execute("invoices", {"mobile": busiest_mobile()}, ctx)
    assert caught.value.message == "用户名或密码错误"
    assert "wrong" not in str(caught.value.details)


async def test_unknown_operation_lists_the_wsdls(finance: tuple[str, list[str]]) -> None:
    base, _ = finance
    async with executor(config(base)) as (runner, ctx):
        with pytest.raises(ExecutorError) as caught:
            await runner.execute("refund", {}, ctx)
    assert caught.value.code == "unknown_operation"
    assert caught.value.kind is ErrorKind.config
    assert "GetInvoice, GetInvoices" in caught.value.message


async def test_wsdl_on_loopback_is_blocked_without_the_allow_list(
    finance: tuple[str, list[str]],
) -> None:
    base, _ = finance
    async with executor(config(base), allow=[]) as (runner, ctx):
        with pytest.raises(BlockedDestination):
            await runner.execute("invoices", {"mobile": busiest_mobile()}, ctx)


def test_wsdl_must_be_an_http_url() -> None:
    spec = load_spec(SPEC)
    for location in ("file:///etc/passwd", "/etc/passwd", ""):
        with pytest.raises(ExecutorError) as caught:
            executor_for(spec, {"wsdl_url": location, "username": "u", "password": "p"})
        assert caught.value.code == "invalid_wsdl_location"


def broken_service(status: int, body: str) -> FastAPI:
    """Publishes the finance WSDL but answers every operation with ``body``."""
    app = FastAPI()

    @app.get("/finance")
    async def description(request: Request) -> Response:
        location = str(request.url.replace(query="", fragment=""))
        return Response(wsdl(location), media_type="text/xml")

    @app.post("/finance")
    async def operation() -> Response:
        return Response(body, status_code=status, media_type="text/html")

    return app


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [(200, "<html><body>维护中</body></html>", ErrorKind.system),
     (503, "", ErrorKind.transient)],
)  # fmt: skip
async def test_garbage_answers_are_classified(status: int, body: str, kind: ErrorKind) -> None:
    async with serve(broken_service(status, body)) as base, executor(config(base)) as (runner, ctx):
        with pytest.raises(ExecutorError) as caught:
            await runner.execute("invoices", {"mobile": busiest_mobile()}, ctx)
    assert caught.value.kind is kind


async def test_missing_wsdl_is_a_config_error_and_is_retried(
    finance: tuple[str, list[str]],
) -> None:
    base, _ = finance
    cfg = {**config(base), "wsdl_url": f"{base}/nope?wsdl"}
    async with executor(cfg) as (runner, ctx):
        for _ in range(2):  # a failed load is not cached: the next call tries again
            with pytest.raises(ExecutorError) as caught:
                await runner.execute("invoices", {"mobile": busiest_mobile()}, ctx)
            assert (caught.value.kind, caught.value.code) == (ErrorKind.config, "wsdl_unavailable")
            assert "HTTP 404" in caught.value.message
