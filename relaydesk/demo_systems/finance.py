"""财务系统 — the finance service: invoices over SOAP 1.1 (document/literal).

``GET /finance?wsdl`` serves the WSDL (no credentials needed, as such services usually
publish it); ``POST /finance`` takes a SOAP 1.1 envelope with HTTP Basic credentials and
answers ``GetInvoices(customerMobile)`` with every invoice of that customer (an empty list
when there is none) and ``GetInvoice(invoiceNo)`` with one. Errors are SOAP 1.1 faults
(HTTP 500) with a ``<FinanceFault><code/><message/></FinanceFault>`` detail; a request that
is not a SOAP 1.1 envelope is a ``soap:Client`` (or ``soap:VersionMismatch``) fault.

The envelope is parsed with defusedxml (no DTDs, entities or external references); the
answer is built with ElementTree. No SOAP server library is involved.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from decimal import Decimal

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError
from defusedxml.ElementTree import fromstring as safe_fromstring
from fastapi import FastAPI, Request
from fastapi.responses import Response

from relaydesk.demo_systems import credentials
from relaydesk.demo_systems.dataset import COMPANY, COMPANY_TAX_NO, MOBILE_RE
from relaydesk.demo_systems.finance_wsdl import NAMESPACE, SOAP_ENV, wsdl
from relaydesk.demo_systems.seed_finance import TAX_RATE, Invoice, seed_invoices

__all__ = ["FinanceConfig", "create_finance_app"]

XML_TYPE = "text/xml; charset=utf-8"
SOAP12_ENV = "http://www.w3.org/2003/05/soap-envelope"
MAX_BODY = 64 * 1024
# prefixes of the documents this service writes (faultcode's "soap:" needs this one)
ET.register_namespace("soap", SOAP_ENV)
ET.register_namespace("fin", NAMESPACE)


@dataclass
class FinanceConfig:
    users: dict[str, str] = field(
        default_factory=lambda: {credentials.FINANCE_USERNAME: credentials.FINANCE_PASSWORD}
    )


class Fault(Exception):
    def __init__(self, faultcode: str, code: str, message: str, status: int = 500) -> None:
        super().__init__(message)
        self.faultcode, self.code, self.message, self.status = faultcode, code, message, status


def _envelope(payload: ET.Element) -> bytes:
    envelope = ET.Element(f"{{{SOAP_ENV}}}Envelope")
    ET.SubElement(envelope, f"{{{SOAP_ENV}}}Body").append(payload)
    document: bytes = ET.tostring(envelope, encoding="utf-8")
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + document


def _fault_response(fault: Fault) -> Response:
    node = ET.Element(f"{{{SOAP_ENV}}}Fault")
    ET.SubElement(node, "faultcode").text = f"soap:{fault.faultcode}"
    ET.SubElement(node, "faultstring").text = fault.message
    detail = ET.SubElement(ET.SubElement(node, "detail"), f"{{{NAMESPACE}}}FinanceFault")
    ET.SubElement(detail, f"{{{NAMESPACE}}}code").text = fault.code
    ET.SubElement(detail, f"{{{NAMESPACE}}}message").text = fault.message
    headers = {"WWW-Authenticate": 'Basic realm="finance"'} if fault.status == 401 else None
    return Response(_envelope(node), status_code=fault.status, media_type=XML_TYPE, headers=headers)


def _invoice(parent: ET.Element, invoice: Invoice) -> None:
    node = ET.SubElement(parent, f"{{{NAMESPACE}}}invoice")
    values: list[tuple[str, str | Decimal | None]] = [
        ("invoiceNo", invoice.invoice_no),
        ("invoiceType", invoice.invoice_type),
        ("status", invoice.status),
        ("issueDate", invoice.issue_date.isoformat()),
        ("orderNo", invoice.order_no),
        ("customerMobile", invoice.customer_mobile),
        ("buyerName", invoice.buyer_name),
        ("buyerTaxNo", invoice.buyer_tax_no or None),
        ("sellerName", COMPANY),
        ("sellerTaxNo", COMPANY_TAX_NO),
        ("amount", invoice.amount),
        ("taxRate", TAX_RATE),
        ("taxAmount", invoice.tax_amount),
        ("totalAmount", invoice.total_amount),
        ("currency", "CNY"),
    ]
    for name, value in values:
        if value is not None:
            ET.SubElement(node, f"{{{NAMESPACE}}}{name}").text = str(value)


def _operation(body: bytes) -> tuple[str, dict[str, str]]:
    """The operation named by the SOAP body and its (text) arguments."""
    try:
        root = safe_fromstring(body)
    except (ParseError, DefusedXmlException, ValueError) as exc:
        raise Fault("Client", "MALFORMED_REQUEST", f"请求不是合法的 XML: {exc}") from None
    if root.tag == f"{{{SOAP12_ENV}}}Envelope":
        raise Fault("VersionMismatch", "SOAP_VERSION", "只支持 SOAP 1.1")
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise Fault("Client", "MALFORMED_REQUEST", "根元素必须是 SOAP 1.1 Envelope")
    soap_body = root.find(f"{{{SOAP_ENV}}}Body")
    if soap_body is None or len(soap_body) == 0:
        raise Fault("Client", "MALFORMED_REQUEST", "SOAP Body 为空")
    request = soap_body[0]
    namespace, _, name = (
        request.tag[1:].partition("}") if request.tag.startswith("{") else ("", "", request.tag)
    )
    if namespace != NAMESPACE:
        raise Fault("Client", "UNKNOWN_OPERATION", f"未知操作 {request.tag}")
    args = {child.tag.rpartition("}")[2]: (child.text or "").strip() for child in request}
    return name, args


def _authorized(request: Request, users: dict[str, str]) -> bool:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("basic "):
        return False
    try:
        user, _, password = (
            base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
        )
    except (binascii.Error, UnicodeDecodeError):
        return False
    expected = users.get(user)
    return expected is not None and hmac.compare_digest(expected, password)


def create_finance_app(config: FinanceConfig | None = None) -> FastAPI:
    cfg = config or FinanceConfig()
    invoices = seed_invoices()
    by_no = {i.invoice_no: i for i in invoices}
    app = FastAPI(title="云栖优选 财务系统 (demo)", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.invoices = invoices

    @app.get("/finance")
    async def get_wsdl(request: Request) -> Response:
        if "wsdl" not in {k.lower() for k in request.query_params}:
            return Response(
                "Add ?wsdl to fetch the service description.\n",
                status_code=400,
                media_type="text/plain; charset=utf-8",
            )
        location = str(request.url.replace(query="", fragment=""))
        return Response(wsdl(location), media_type=XML_TYPE)

    @app.post("/finance")
    async def soap(request: Request) -> Response:
        try:
            if not _authorized(request, cfg.users):
                raise Fault("Client", "UNAUTHORIZED", "用户名或密码错误", status=401)
            body = await request.body()
            if len(body) > MAX_BODY:
                raise Fault("Client", "MALFORMED_REQUEST", "请求过大")
            name, args = _operation(body)
            response = ET.Element(f"{{{NAMESPACE}}}{name}Response")
            if name == "GetInvoices":
                mobile = args.get("customerMobile", "")
                if not MOBILE_RE.match(mobile):
                    raise Fault("Client", "INVALID_MOBILE", f"手机号格式不正确: {mobile}")
                for invoice in sorted(
                    (i for i in invoices if i.customer_mobile == mobile),
                    key=lambda i: i.issue_date,
                    reverse=True,
                ):
                    _invoice(response, invoice)
            elif name == "GetInvoice":
                found = by_no.get(args.get("invoiceNo", ""))
                if found is None:
                    raise Fault(
                        "Client", "INVOICE_NOT_FOUND", f"发票不存在: {args.get('invoiceNo', '')}"
                    )
                _invoice(response, found)
            else:
                raise Fault("Client", "UNKNOWN_OPERATION", f"未知操作 {name}")
        except Fault as fault:
            return _fault_response(fault)
        return Response(_envelope(response), media_type=XML_TYPE)

    return app
