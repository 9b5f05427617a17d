"""The finance connector (soap kind): invoices mapped to the canonical shape, SOAP faults,
the permission ordinary agents lack, and calls to the real SOAP service over Basic auth."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from connectors.support import Instance, fixture_data, instance, map_fixture, recorded, serving
from relaydesk.auth import permissions
from relaydesk.connectors import load_connector
from relaydesk.connectors.demo_instances import demo_config
from relaydesk.demo_systems.finance import create_finance_app
from relaydesk.integrations.resilience import ErrorClass
from relaydesk.integrations.runtime import ExecutorError
from relaydesk.integrations.spec import action_permission, register_permissions

pytest.importorskip("zeep", reason="zeep runs the soap connector kind")


def test_spec_validates_with_basic_auth_over_the_wsdl() -> None:
    spec = load_connector("finance")
    assert spec.kind == "soap" and spec.soap is not None
    assert spec.soap.wsdl == "{{ config.wsdl_url }}"
    assert spec.auth.type == "basic" and spec.config["password"].secret
    assert {a.soap.operation for a in spec.actions.values() if a.soap} == {
        "GetInvoices", "GetInvoice"}


def test_finance_actions_need_a_permission_no_agent_holds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # registered as the hub registers them, in a copy of the process-wide registry
    monkeypatch.setattr(permissions, "PERMISSIONS", dict(permissions.PERMISSIONS))
    spec = load_connector("finance")
    names = register_permissions(spec)
    assert names == ["connector_action:finance.get_invoices_by_mobile",
                     "connector_action:finance.get_invoice"]  # fmt: skip
    assert action_permission(spec, "get_invoice") == "connector_action:finance.get_invoice"
    roles = permissions.builtin_roles()
    for role in ("agent", "supervisor", "read-only"):
        assert not set(names) & set(roles[role][1]), role
    assert "*" in roles["owner"][1]


def test_a_customers_invoices_map_to_canonical_invoices() -> None:
    company, void = map_fixture("finance", "get_invoices_by_mobile")
    assert (company["invoice_no"], company["status"]) == ("26332000000000000021", "issued")
    assert company["title"] == "北京知行教育咨询有限公司"
    assert company["buyer_tax_no"] == "91110108JU6XYHXB0E"
    # xs:date → the start of that day in Shanghai; amounts stay exact decimal strings
    assert (company["issue_date"], company["issued_at"]) == (
        "2026-11-14", "2026-11-14T00:00:00+08:00")
    assert (company["amount"], company["tax"], company["total"], company["tax_rate"]) == (
        "5977.88", "777.12", "6755.00", "0.13")
    assert company["currency"] == "CNY" and company["order_no"] == "YQ20261111001077"
    assert (void["status"], void["title"], void["buyer_tax_no"]) == ("void", "王芳", None)


def test_a_red_flushed_invoice_maps_to_reversed() -> None:
    invoice = map_fixture("finance", "get_invoice")
    assert (invoice["invoice_no"], invoice["status"], invoice["title"]) == (
        "26332000000000000010", "reversed", "胡军")
    assert invoice["seller_name"] == "杭州云栖优选电子商务有限公司"
    assert invoice["seller_tax_no"] == "913301104JURQ2830U"


def test_the_raw_envelope_holds_the_same_invoices_as_the_executor_result() -> None:
    envelope = fixture_data("finance", "get_invoices_by_mobile.envelope.xml")
    invoices = envelope["soap:Body"]["fin:GetInvoicesResponse"]["fin:invoice"]
    assert [i["fin:invoiceNo"] for i in invoices] == [
        i["invoiceNo"] for i in fixture_data("finance", "get_invoices_by_mobile.json")]
    assert recorded("finance", "error_invoice_not_found.envelope.xml")["status"] == 500
    fault = fixture_data("finance", "error_invoice_not_found.envelope.xml")["soap:Body"]
    assert fault["soap:Fault"]["faultstring"] == "发票不存在: 11111111111111111111"


@pytest.fixture
async def finance() -> AsyncIterator[Instance]:
    async with serving(create_finance_app()) as url, instance(
        "finance", demo_config("finance", {"finance": f"{url}/finance?wsdl"})
    ) as live:
        yield live


async def test_invoices_through_the_soap_executor_match_the_fixtures(finance: Instance) -> None:
    raw = await finance.call("get_invoices_by_mobile", {"mobile": "15049726814"})
    assert raw.request_line == "SOAP GetInvoices"
    assert finance.map("get_invoices_by_mobile", raw) == map_fixture(
        "finance", "get_invoices_by_mobile")
    invoice = await finance.run("get_invoice", {"invoice_no": "26332000000000000010"})
    assert invoice == map_fixture("finance", "get_invoice")
    assert await finance.run("get_invoices_by_mobile", {"mobile": "13800000000"}) == []


async def test_an_unknown_invoice_is_a_fault_with_its_chinese_message(finance: Instance) -> None:
    with pytest.raises(ExecutorError) as caught:
        await finance.call("get_invoice", {"invoice_no": "11111111111111111111"})
    error = caught.value
    assert error.error_class is ErrorClass.fail and not error.retryable
    assert error.message == "发票不存在: 11111111111111111111"
    assert error.details["detail"]["FinanceFault"]["code"] == "INVOICE_NOT_FOUND"


async def test_wrong_credentials_are_refused() -> None:
    async with serving(create_finance_app()) as url:
        config = {**demo_config("finance", {"finance": f"{url}/finance?wsdl"}), "password": "x"}
        async with instance("finance", config) as live:
            with pytest.raises(ExecutorError) as caught:
                await live.call("get_invoices_by_mobile", {"mobile": "15049726814"})
    assert caught.value.message == "用户名或密码错误"
