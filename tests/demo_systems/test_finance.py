"""The SOAP finance service over a real loopback socket, called through zeep as Relaydesk will.

zeep is synchronous (requests), so its calls run in a worker thread while the server keeps
serving on the test's event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from defusedxml.ElementTree import fromstring
from demo_support import serving

from relaydesk.demo_systems.dataset import COMPANY_TAX_NO, is_valid_uscc, people
from relaydesk.demo_systems.finance import create_finance_app
from relaydesk.demo_systems.seed_finance import seed_invoices

zeep = pytest.importorskip("zeep", reason="zeep>=4.2 is a dependency of the soap connector kind")
requests = pytest.importorskip("requests")

AUTH = ("relaydesk", "yq-finance-demo-4c2d")
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
NS = "http://finance.yunqi.example.com/invoice/v1"


@pytest.fixture(scope="module")
async def finance() -> AsyncIterator[str]:
    async with serving(create_finance_app()) as url:  # read-only: one server per module
        yield url


def soap_client(base: str, auth: tuple[str, str] = AUTH) -> Any:
    session = requests.Session()
    session.auth = auth
    return zeep.Client(f"{base}/finance?wsdl", transport=zeep.Transport(session=session))


def envelope(inner: str, env: str = SOAP_ENV) -> str:
    return (f'<?xml version="1.0"?><s:Envelope xmlns:s="{env}"><s:Body>{inner}</s:Body>'
            "</s:Envelope>")


async def test_zeep_get_invoices_returns_the_customers_records(finance: str) -> None:
    mobile = max(people(), key=lambda p: sum(i.customer_mobile == p.mobile
                                             for i in seed_invoices())).mobile
    expected = sorted((i for i in seed_invoices() if i.customer_mobile == mobile),
                      key=lambda i: i.issue_date, reverse=True)
    assert len(expected) >= 2
    client = await asyncio.to_thread(soap_client, finance)
    records = await asyncio.to_thread(client.service.GetInvoices, customerMobile=mobile)
    assert [r.invoiceNo for r in records] == [i.invoice_no for i in expected]
    for record, invoice in zip(records, expected, strict=True):
        assert record.totalAmount == invoice.total_amount  # xs:decimal -> Decimal
        assert record.amount + record.taxAmount == record.totalAmount
        assert record.taxRate == Decimal("0.13")
        assert record.issueDate == invoice.issue_date  # xs:date -> date
        assert record.status in ("ISSUED", "RED_FLUSHED", "VOID")
        assert record.sellerTaxNo == COMPANY_TAX_NO and is_valid_uscc(record.sellerTaxNo)
        assert record.buyerTaxNo in (None, invoice.buyer_tax_no)


async def test_zeep_get_invoice_and_faults(finance: str) -> None:
    invoice = next(i for i in seed_invoices() if i.buyer_tax_no)
    client = await asyncio.to_thread(soap_client, finance)
    record = await asyncio.to_thread(client.service.GetInvoice, invoiceNo=invoice.invoice_no)
    assert (record.invoiceNo, record.buyerName) == (invoice.invoice_no, invoice.buyer_name)
    assert is_valid_uscc(record.buyerTaxNo)

    with pytest.raises(zeep.exceptions.Fault) as fault:
        await asyncio.to_thread(client.service.GetInvoice, invoiceNo="26000000000000000000")
    assert fault.value.code.endswith("Client")
    assert "发票不存在" in fault.value.message
    assert fault.value.detail.findtext(f".//{{{NS}}}code") == "INVOICE_NOT_FOUND"

    with pytest.raises(zeep.exceptions.Fault) as fault:
        await asyncio.to_thread(client.service.GetInvoices, customerMobile="not-a-phone")
    assert fault.value.detail.findtext(f".//{{{NS}}}code") == "INVALID_MOBILE"
    assert await asyncio.to_thread(client.service.GetInvoices, customerMobile="13000000000") == []


async def test_wrong_credentials_are_refused(finance: str) -> None:
    client = await asyncio.to_thread(soap_client, finance, ("relaydesk", "guess"))
    with pytest.raises((zeep.exceptions.Fault, zeep.exceptions.TransportError)):
        await asyncio.to_thread(client.service.GetInvoices, customerMobile=people()[0].mobile)
    async with httpx.AsyncClient() as http:
        r = await http.post(f"{finance}/finance", content=envelope(""))
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Basic")


async def test_wsdl_names_the_port_it_was_fetched_from(finance: str) -> None:
    async with httpx.AsyncClient() as http:
        r = await http.get(f"{finance}/finance?wsdl")
        assert r.status_code == 200
        assert f'location="{finance}/finance"' in r.text
        assert (await http.get(f"{finance}/finance")).status_code == 400


@pytest.mark.parametrize(
    ("payload", "faultcode", "code"),
    [
        ("<not-xml", "soap:Client", "MALFORMED_REQUEST"),
        (envelope(""), "soap:Client", "MALFORMED_REQUEST"),
        (envelope(f'<x:Pay xmlns:x="{NS}"/>'), "soap:Client", "UNKNOWN_OPERATION"),
        (envelope('<x:GetInvoice xmlns:x="urn:other"/>'), "soap:Client", "UNKNOWN_OPERATION"),
        (envelope(f'<x:GetInvoice xmlns:x="{NS}"/>', "http://www.w3.org/2003/05/soap-envelope"),
         "soap:VersionMismatch", "SOAP_VERSION"),
        ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]>'
         f'<s:Envelope xmlns:s="{SOAP_ENV}"><s:Body>&e;</s:Body></s:Envelope>',
         "soap:Client", "MALFORMED_REQUEST"),
    ],
)
async def test_bad_envelopes_get_soap_11_faults(
    finance: str, payload: str, faultcode: str, code: str
) -> None:
    async with httpx.AsyncClient(auth=AUTH) as http:
        r = await http.post(f"{finance}/finance", content=payload.encode(),
                            headers={"Content-Type": "text/xml; charset=utf-8"})
    assert r.status_code == 500
    assert r.headers["content-type"].startswith("text/xml")
    fault = fromstring(r.content).find(f"{{{SOAP_ENV}}}Body/{{{SOAP_ENV}}}Fault")
    assert fault is not None
    assert fault.findtext("faultcode") == faultcode
    assert fault.findtext(f"detail/{{{NS}}}FinanceFault/{{{NS}}}code") == code
