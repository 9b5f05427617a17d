"""物流查询 — the logistics system's tracking API (XML over HTTP, API key in a header).

``GET /track?waybill=SF1234567890123`` with ``X-Logistics-Key`` answers::

    <response>
      <waybill>SF…</waybill><company>顺丰速运</company><orderNo>YQ…</orderNo>
      <status>IN_TRANSIT</status><statusText>运输中</statusText>
      <events>
        <event><time>2026-11-18 10:22:00</time><location>深圳转运中心</location>
               <desc>快件已发出</desc></event> …
      </events>
    </response>

Events are newest first (as most carriers list them). Errors are ``<error><code>…</code>
<message>…</message></error>``: 401 UNAUTHORIZED, 400 INVALID_WAYBILL, 404 NOT_FOUND.
"""

from __future__ import annotations

import hmac
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from relaydesk.demo_systems import credentials
from relaydesk.demo_systems.dataset import fmt_time
from relaydesk.demo_systems.seed_commerce import seed_shipments

__all__ = ["STATUS_TEXT", "LogisticsConfig", "create_logistics_app"]

STATUS_TEXT = {
    "WAIT_PICKUP": "待揽收",
    "ACCEPTED": "已揽收",
    "IN_TRANSIT": "运输中",
    "DELIVERING": "派送中",
    "SIGNED": "已签收",
    "EXCEPTION": "问题件",
}
_WAYBILL_RE = re.compile(r"^[A-Z]{2,4}[0-9]{10,15}$")
XML_TYPE = "application/xml; charset=utf-8"


@dataclass
class LogisticsConfig:
    api_keys: set[str] = field(default_factory=lambda: {credentials.LOGISTICS_API_KEY})


def _xml(root: ET.Element, status: int = 200) -> Response:
    body = b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8")
    return Response(body, status_code=status, media_type=XML_TYPE)


def _error(status: int, code: str, message: str) -> Response:
    root = ET.Element("error")
    ET.SubElement(root, "code").text = code
    ET.SubElement(root, "message").text = message
    return _xml(root, status)


def create_logistics_app(config: LogisticsConfig | None = None) -> FastAPI:
    cfg = config or LogisticsConfig()
    shipments = seed_shipments()
    app = FastAPI(title="云栖优选 物流查询 (demo)", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.shipments = shipments

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> Response:
        return _error(
            exc.status_code, "API_NOT_FOUND" if exc.status_code == 404 else "ERROR", str(exc.detail)
        )

    @app.get("/track")
    async def track(request: Request) -> Response:
        key = request.headers.get("x-logistics-key", "")
        if not any(hmac.compare_digest(key, k) for k in cfg.api_keys):
            return _error(401, "UNAUTHORIZED", "X-Logistics-Key 缺失或无效")
        waybill = request.query_params.get("waybill", "").strip().upper()
        if not _WAYBILL_RE.match(waybill):
            return _error(400, "INVALID_WAYBILL", "运单号格式不正确")
        shipment = shipments.get(waybill)
        if shipment is None:
            return _error(404, "NOT_FOUND", f"未查询到运单 {waybill} 的物流信息")
        root = ET.Element("response")
        ET.SubElement(root, "waybill").text = shipment.waybill_no
        ET.SubElement(root, "company").text = shipment.carrier
        ET.SubElement(root, "orderNo").text = shipment.order_no
        ET.SubElement(root, "status").text = shipment.status
        ET.SubElement(root, "statusText").text = STATUS_TEXT[shipment.status]
        events = ET.SubElement(root, "events")
        for event in reversed(shipment.events):
            node = ET.SubElement(events, "event")
            ET.SubElement(node, "time").text = fmt_time(event.time)
            ET.SubElement(node, "location").text = event.location
            ET.SubElement(node, "desc").text = event.desc
        return _xml(root)

    return app
