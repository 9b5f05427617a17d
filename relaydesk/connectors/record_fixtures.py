"""Record the prebuilt connectors' fixtures from the real demo systems.

    python -m relaydesk.connectors.record_fixtures            # every system
    python -m relaydesk.connectors.record_fixtures orders crm # some of them

The demo systems are started on free loopback ports (a fresh membership database in a
temporary directory), each connector's actions are called the way the runtime calls them
(the spec's request template, its auth -- signing, OAuth 2.0, API key, Basic -- and its
executor for sql and soap), and the answers are written to ``<system>/fixtures/``:

* http actions: the response body as received (JSON re-indented, XML indented; the data
  does not change);
* sql and soap actions: the executor's result as JSON (what the mapping reads); for soap
  also the raw SOAP envelope of one call (``*.envelope.xml``);
* the ticket system's status callback and the order system's push messages: their exact body
  bytes (``*.body.json``) with their headers (and, for the orders, the signed query) in the
  manifest.

``fixtures/manifest.json`` lists every file with the action, the parameters, the request
line and the HTTP status. Read fixtures are deterministic (the demo data has fixed seeds and
a fixed timeline); write fixtures carry the time of recording.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
from defusedxml.ElementTree import fromstring as safe_fromstring

from relaydesk.connectors import CONNECTORS_DIR, load_connector
from relaydesk.connectors.demo_instances import ALLOW_NETWORK, demo_config
from relaydesk.demo_systems import credentials
from relaydesk.demo_systems.orders_admin import ORDERS_ADMIN_TOKEN
from relaydesk.demo_systems.runner import start_all, start_server, stop_all
from relaydesk.integrations.mapping import decode_body
from relaydesk.integrations.runtime import (
    CallContext,
    Executor,
    executor_for,
    make_auth_handler,
    make_http_client,
)
from relaydesk.integrations.runtime.http import build_request
from relaydesk.integrations.spec import ConnectorSpec, validate_params

__all__ = ["SYSTEMS", "Recorder", "record"]

RECORDER = "relaydesk.connectors.record_fixtures"


class Recorder:
    """Calls one connector's actions against a running demo system and saves the answers."""

    def __init__(self, spec: ConnectorSpec, config: Mapping[str, Any], out: Path) -> None:
        self.spec, self.config, self.out = spec, dict(config), out
        self.entries: list[dict[str, Any]] = []
        self.http = make_http_client(spec, self.config, ALLOW_NETWORK)
        self.auth = make_auth_handler(spec, self.config, self.http)
        self._executor: Executor | None = None

    async def aclose(self) -> None:
        if self._executor is not None:
            await self._executor.aclose()
        await self.http.aclose()

    def _entry(self, file: str, action: str, params: Mapping[str, Any], **facts: Any) -> None:
        self.entries.append({"file": file, "action": action, "params": dict(params), **facts})

    async def http_call(
        self, file: str, action: str, raw: Mapping[str, Any], *, auth: bool = True
    ) -> Any:
        """One http action as the runtime sends it; saves the body, returns it decoded."""
        params = validate_params(self.spec, action, raw, mode="json")
        act = self.spec.action(action)
        request, line = build_request(self.http, self.spec, act, params, self.config)
        if auth:
            request = await self.auth.apply(request)
        response = await self.http.send(request)
        body = response.content
        data = decode_body(body, act.response.format) if body.strip() else None
        (self.out / file).write_bytes(_pretty(body, file))
        self._entry(
            file, action, raw, request=line, status=response.status_code,
            content_type=response.headers.get("content-type"),
        )  # fmt: skip
        return data

    async def run(self, file: str, action: str, raw: Mapping[str, Any]) -> Any:
        """One sql/soap action through its executor; saves the result as JSON."""
        if self._executor is None:
            self._executor = executor_for(self.spec, self.config, allow_network=ALLOW_NETWORK)
        params = validate_params(self.spec, action, raw)
        ctx = CallContext(
            uuid.uuid4(), uuid.uuid4(), self.spec, self.config, self.http, self.auth, 10.0
        )
        result = await self._executor.execute(action, params, ctx)
        save_json(self.out / file, result.data)
        self._entry(file, action, raw, request=result.request_line, status=None)
        return result.data

    def write_manifest(self, **extra: Any) -> None:
        manifest = {"system": self.spec.name, **extra, "fixtures": self.entries}
        save_json(self.out / "manifest.json", manifest)


def save_json(path: Path, data: Any) -> None:
    text = json.dumps(data, ensure_ascii=False, indent=2)
    path.write_text(text + "\n", encoding="utf-8")


def _pretty(body: bytes, file: str) -> bytes:
    """JSON re-indented, XML indented (the data is unchanged)."""
    if file.endswith(".json") and body.strip():
        return (json.dumps(json.loads(body), ensure_ascii=False, indent=2) + "\n").encode()
    if file.endswith(".xml") and body.strip():
        root = safe_fromstring(body)
        ET.indent(root)
        text: bytes = ET.tostring(root, "utf-8")
        return b'<?xml version="1.0" encoding="UTF-8"?>\n' + text + b"\n"
    return body


# --------------------------------------------------------------------------------------
# What is recorded, per system
# --------------------------------------------------------------------------------------

ZHANG_WEI = "13937704964"  # 张伟 (普通): four orders that show every order rule
WANG_FANG = "15049726814"  # 王芳 (银卡): CRM contact C010014, a company invoice
ZHAO_MIN = "13476694409"  # 赵敏 (金卡)


#: (file, admin request, body): each makes the order system push one message
ORDER_PUSHES: tuple[tuple[str, str, dict[str, str]], ...] = (
    ("order_paid.body.json", "/admin/orders/YQ20261120001851/pay", {}),
    ("order_shipped.body.json", "/admin/orders/YQ20261118001347/ship", {"carrier": "YT"}),
    ("order_delivered.body.json", "/admin/orders/YQ20261118001234/deliver", {}),
    ("order_cancelled.body.json", "/admin/orders/YQ20261120001870/close", {}),
    ("order_refunded.body.json", "/admin/refunds/RF20261120000005/complete", {}),
)


async def record_order_pushes(rec: Recorder, catcher: CallbackCatcher, hook: str) -> None:
    """The order system's signed push messages, byte for byte; the signed query goes into
    the manifest (the signature covers it and the body)."""
    admin = {"X-Admin-Token": ORDERS_ADMIN_TOKEN}
    async with httpx.AsyncClient(base_url=str(rec.config["base_url"]), headers=admin) as client:
        (await client.put("/admin/callback", json={"url": f"{hook}/hooks"})).raise_for_status()
        for file, path, body in ORDER_PUSHES:
            count = len(catcher.received)
            (await client.post(path, json=body)).raise_for_status()
            async with asyncio.timeout(10):
                while len(catcher.received) == count:  # noqa: ASYNC110 (a test peer's list)
                    await asyncio.sleep(0.01)
            headers, raw = catcher.received[-1]
            (rec.out / file).write_bytes(raw)
            kept = ("content-type", "user-agent", "x-order-msg-type")
            rec.entries.append({"file": file, "callback": "order_status",
                                "request": f"POST {path}",
                                "query": dict(parse_qsl(catcher.queries[-1])),
                                "headers": {k: headers[k] for k in kept if k in headers}})


async def record_orders(rec: Recorder, catcher: CallbackCatcher, hook: str) -> None:
    await rec.http_call("list_orders_by_mobile.json", "list_orders_by_mobile",
                        {"mobile": ZHANG_WEI})  # fmt: skip
    await rec.http_call("get_order.json", "get_order", {"order_no": "YQ20261118001234"})
    refund = {"order_no": "YQ20261118001420", "amount": "34.00", "reason": "少发配件",
              "out_refund_no": "RD-REC-0001"}  # fmt: skip
    created = await rec.http_call("request_refund.json", "request_refund", refund)
    await rec.http_call("request_refund_again.json", "request_refund", refund)
    await rec.http_call("cancel_refund.json", "cancel_refund",
                        {"refund_id": created["data"]["refundId"]})  # fmt: skip
    address = {"receiver_name": "张伟", "receiver_mobile": ZHANG_WEI, "province": "四川省",
               "city": "成都市", "district": "高新区", "address": "天府五街200号菁蓉汇3栋12楼"}
    await rec.http_call("change_shipping_address.json", "change_shipping_address",
                        {"order_no": "YQ20261118001420", **address})  # fmt: skip
    await rec.http_call("error_order_shipped.json", "change_shipping_address",
                        {"order_no": "YQ20261118001234", **address})  # fmt: skip
    await rec.http_call("error_refund_needs_review.json", "request_refund",
                        {"order_no": "YQ20261022000640", "amount": "5499.00",
                         "reason": "整单退货", "out_refund_no": "RD-REC-0002"})  # fmt: skip
    await rec.http_call("error_order_not_found.json", "get_order",
                        {"order_no": "YQ20261118999999"})  # fmt: skip
    wrong = Recorder(rec.spec, {**rec.config, "app_secret": "not-the-secret"}, rec.out)
    try:
        await wrong.http_call("error_signature_rejected.json", "get_order",
                              {"order_no": "YQ20261118001234"})  # fmt: skip
    finally:
        await wrong.aclose()
    rec.entries += wrong.entries
    await record_order_pushes(rec, catcher, hook)


async def record_logistics(rec: Recorder) -> None:
    await rec.http_call("track_shipment.xml", "track_shipment", {"waybill_no": "YT5974940606424"})
    await rec.http_call("track_shipment_signed.xml", "track_shipment",
                        {"waybill_no": "SF3917063926178"})  # fmt: skip
    await rec.http_call("error_not_found.xml", "track_shipment",
                        {"waybill_no": "SF0000000000000"})  # fmt: skip
    await rec.http_call("error_unauthorized.xml", "track_shipment",
                        {"waybill_no": "YT5974940606424"}, auth=False)  # fmt: skip


async def record_crm(rec: Recorder) -> None:
    await rec.http_call("find_contact_by_mobile.json", "find_contact_by_mobile",
                        {"mobile": ZHAO_MIN})  # fmt: skip
    await rec.http_call("get_contact.json", "get_contact", {"contact_id": "C010014"})
    await rec.http_call("list_tags.json", "list_tags", {"contact_id": "C010014"})
    await rec.http_call("add_tag.json", "add_tag", {"contact_id": "C010014", "tag": "投诉"})
    await rec.http_call("remove_tag.json", "remove_tag", {"contact_id": "C010014", "tag": "投诉"})
    await rec.http_call("add_note.json", "add_note", {
        "contact_id": "C010014", "content": "客户来电询问发票抬头，已告知开票进度。",
        "author": "客服-小周"})  # fmt: skip
    await rec.http_call("error_contact_not_found.json", "get_contact", {"contact_id": "C999999"})
    await rec.http_call("error_invalid_token.json", "get_contact",
                        {"contact_id": "C010014"}, auth=False)  # fmt: skip


async def record_membership(rec: Recorder) -> None:
    await rec.run("get_member_by_mobile.json", "get_member_by_mobile", {"mobile": ZHAO_MIN})
    await rec.run("list_points.json", "list_points", {"mobile": ZHAO_MIN, "limit": 5})
    at = "2026-11-20T20:30:00"
    await rec.run("add_points.json", "add_points",
                  {"mobile": ZHAO_MIN, "delta": 200, "reason": "客服补偿：物流延误", "at": at})
    await rec.run("sync_points.json", "sync_points", {"mobile": ZHAO_MIN, "at": at})
    await rec.run("add_points_refused.json", "add_points",
                  {"mobile": ZHAO_MIN, "delta": -1_000_000, "reason": "超额扣减", "at": at})


async def record_finance(rec: Recorder) -> None:
    await rec.run("get_invoices_by_mobile.json", "get_invoices_by_mobile", {"mobile": WANG_FANG})
    await rec.run("get_invoice.json", "get_invoice", {"invoice_no": "26332000000000000010"})
    # the raw envelope of the same GetInvoices call, and of a fault
    address = str(rec.config["wsdl_url"]).split("?", 1)[0]
    auth = (credentials.FINANCE_USERNAME, credentials.FINANCE_PASSWORD)
    calls = [("get_invoices_by_mobile.envelope.xml", "GetInvoices", "customerMobile", WANG_FANG),
             ("error_invoice_not_found.envelope.xml", "GetInvoice", "invoiceNo", "1" * 20)]
    async with httpx.AsyncClient(auth=auth) as client:
        for file, operation, name, value in calls:
            envelope = _soap_request(operation, name, value)
            response = await client.post(address, content=envelope, headers={
                "Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{operation}"'})
            (rec.out / file).write_bytes(_pretty(response.content, file))
            rec._entry(file, operation, {name: value}, request=f"SOAP {operation} (raw)",
                       status=response.status_code,
                       content_type=response.headers.get("content-type"))  # fmt: skip


def _soap_request(operation: str, name: str, value: str) -> bytes:
    namespace = "http://finance.yunqi.example.com/invoice/v1"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" '
        f'xmlns:fin="{namespace}"><soap:Body><fin:{operation}><fin:{name}>{value}</fin:{name}>'
        f"</fin:{operation}></soap:Body></soap:Envelope>"
    ).encode()


class CallbackCatcher:
    """A tiny ASGI app standing in for Relaydesk's hook endpoint: keeps each request."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.queries: list[str] = []
        self.arrived = asyncio.Event()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        self.received.append((headers, body))
        self.queries.append(scope["query_string"].decode("latin-1"))
        self.arrived.set()
        await send({"type": "http.response.start", "status": 202, "headers": []})
        await send({"type": "http.response.body", "body": b""})


async def record_tickets(rec: Recorder, catcher: CallbackCatcher) -> None:
    await rec.http_call("get_ticket.json", "get_ticket", {"ticket_no": "GD202611190011"})
    await rec.http_call("list_tickets_by_mobile.json", "list_tickets_by_mobile",
                        {"mobile": ZHANG_WEI})  # fmt: skip
    created = await rec.http_call("create_ticket.json", "create_ticket", {
        "customer_mobile": ZHANG_WEI, "customer_name": "张伟", "title": "修改收货地址",
        "content": "订单YQ20261118001420收货地址改到公司", "category": "修改地址",
        "priority": 3, "order_no": "YQ20261118001420", "operator": "Relaydesk"})  # fmt: skip
    ticket_no = created["data"]["ticketNo"]
    await rec.http_call("close_ticket.json", "close_ticket",
                        {"ticket_no": ticket_no, "reason": "已在订单系统中修改地址"})  # fmt: skip
    await rec.http_call("error_ticket_closed.json", "close_ticket",
                        {"ticket_no": ticket_no, "reason": "再次关闭"})  # fmt: skip
    async with asyncio.timeout(10):
        await catcher.arrived.wait()
    headers, body = catcher.received[0]
    file = "ticket_status_changed.body.json"
    (rec.out / file).write_bytes(body)  # byte for byte: the signature covers it
    kept = ("content-type", "user-agent", "x-ticket-event", "x-ticket-timestamp",
            "x-ticket-signature")  # fmt: skip
    rec.entries.append({"file": file, "callback": "ticket_status_changed",
                        "headers": {k: headers[k] for k in kept if k in headers}})


Step = Callable[[Recorder], Awaitable[None]]
SYSTEMS = ("orders", "logistics", "crm", "membership", "tickets", "finance")


async def record(systems: list[str] | None = None, base: Path = CONNECTORS_DIR) -> None:
    """Start the demo systems, record the fixtures of ``systems`` (default: all)."""
    wanted = systems or list(SYSTEMS)
    unknown = sorted(set(wanted) - set(SYSTEMS))
    if unknown:
        raise SystemExit(f"unknown system(s): {', '.join(unknown)} (have: {', '.join(SYSTEMS)})")
    catcher, orders_catcher = CallbackCatcher(), CallbackCatcher()
    hook = await start_server(catcher, "127.0.0.1", 0, "callback-catcher")
    orders_hook = await start_server(orders_catcher, "127.0.0.1", 0, "orders-push-catcher")
    steps: dict[str, Step] = {
        "orders": lambda rec: record_orders(rec, orders_catcher, orders_hook.url),
        "logistics": record_logistics, "crm": record_crm,
        "membership": record_membership, "finance": record_finance,
        "tickets": lambda rec: record_tickets(rec, catcher),
    }  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="relaydesk-fixtures-") as tmp:
        try:
            urls = dict(await start_all(base_port=0, data_dir=Path(tmp),
                                        ticket_callback_url=f"{hook.url}/hooks"))  # fmt: skip
            async with AsyncExitStack() as stack:
                for name in wanted:
                    out = base / name / "fixtures"
                    out.mkdir(parents=True, exist_ok=True)
                    for old in out.iterdir():
                        old.unlink()
                    rec = Recorder(load_connector(name), demo_config(name, urls), out)
                    stack.push_async_callback(rec.aclose)
                    await steps[name](rec)
                    rec.write_manifest(recorded_with=f"python -m {RECORDER}")
                    print(f"{name}: {len(rec.entries)} fixture(s) in {out}")
        finally:
            await stop_all()
            await hook.stop()
            await orders_hook.stop()


def main(argv: list[str] | None = None) -> None:
    asyncio.run(record(list(argv if argv is not None else sys.argv[1:]) or None))


if __name__ == "__main__":
    main()
