"""Customers over XML, as ERP/CRM integrations use them: create, read, errors, OpenAPI."""

from __future__ import annotations

import httpx
import pytest
from conftest import Org, login
from customers_support import BASE, with_xml
from fastapi import FastAPI

from relaydesk.kit.xmlio import parse_xml

XML = {"Content-Type": "application/xml", "Accept": "application/xml"}

CUSTOMER_XML = """<?xml version="1.0" encoding="UTF-8"?>
<customer>
  <name>欧阳娜娜 &amp; 合伙人</name>
  <phone>139 0000 1111</phone>
  <email>ouyang@example.cn</email>
  <id_number>44030419851212100x</id_number>
  <address>广东省深圳市南山区科技园南路88号</address>
  <company>深圳“未来”科技有限公司</company>
  <tags><item>重要客户</item><item>深圳</item></tags>
  <attributes><erp_code>SZ-0001</erp_code><level>金牌</level></attributes>
</customer>
"""


@pytest.fixture
def app(app: FastAPI) -> FastAPI:
    return with_xml(app)


async def test_xml_create_and_read_round_trip_with_chinese_text(
    client: httpx.AsyncClient, org_a: Org
) -> None:
    owner = await login(client, org_a, "owner")
    r = await client.post(BASE, content=CUSTOMER_XML.encode(), headers={**owner, **XML})
    assert r.status_code == 201, r.text
    assert r.headers["content-type"] == "application/xml; charset=utf-8"
    assert int(r.headers["content-length"]) == len(r.content)
    assert r.content.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<response>')
    created = parse_xml(r.content)
    assert created["name"] == "欧阳娜娜 & 合伙人"
    assert created["phone"] == "+8613900001111"
    assert created["id_number"] == "44030419851212100X"
    assert created["tags"] == ["重要客户", "深圳"]
    assert created["attributes"] == {"erp_code": "SZ-0001", "level": "金牌"}
    assert created["masked"] == "false"

    got = await client.get(f"{BASE}/{created['id']}", headers={**owner, "Accept": "text/xml"})
    assert got.status_code == 200
    assert "Accept" in got.headers["vary"]
    assert parse_xml(got.content) == created

    as_json = await client.get(f"{BASE}/{created['id']}", headers=owner)
    assert as_json.headers["content-type"] == "application/json"
    assert as_json.json()["company"] == "深圳“未来”科技有限公司"

    listed = parse_xml((await client.get(BASE, headers={**owner, **XML})).content)
    assert [item["name"] for item in listed["items"]] == ["欧阳娜娜 & 合伙人"]
    assert listed["next_cursor"] is None


async def test_xml_reads_are_masked_for_agents(client: httpx.AsyncClient, org_a: Org) -> None:
    owner = await login(client, org_a, "owner")
    r = await client.post(BASE, content=CUSTOMER_XML.encode(), headers={**owner, **XML})
    customer_id = parse_xml(r.content)["id"]
    agent = await login(client, org_a, "agent")
    got = await client.get(f"{BASE}/{customer_id}", headers={**agent, "Accept": "application/xml"})
    text = got.content.decode()
    for clear in ("13900001111", "44030419851212100X", "ouyang@", "科技园南路88号"):
        assert clear not in text
    assert parse_xml(got.content)["masked"] == "true"


async def test_gbk_body_declared_in_the_document(client: httpx.AsyncClient, org_a: Org) -> None:
    owner = await login(client, org_a, "owner")
    body = '<?xml version="1.0" encoding="GBK"?><c><name>张三</name></c>'.encode("gbk")
    r = await client.post(BASE, content=body, headers={**owner, "Content-Type": "text/xml"})
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "张三"  # JSON out: the client did not ask for XML


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<customer><name>x</customer>", "Malformed XML at line 1"),
        (
            b'<?xml version="1.0"?><!DOCTYPE c [<!ENTITY x "boom">]><c><name>&x;</name></c>',
            "(DTDs) are not allowed",
        ),
        (b'<!DOCTYPE c SYSTEM "file:///etc/passwd"><c><name>x</name></c>', "are not allowed"),
    ],
)
async def test_malformed_or_dtd_xml_is_400_and_never_reaches_the_handler(
    client: httpx.AsyncClient, org_a: Org, body: bytes, message: str
) -> None:
    owner = await login(client, org_a, "owner")
    r = await client.post(BASE, content=body, headers={**owner, "Content-Type": "application/xml"})
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["code"] == "bad_request"
    assert message in error["message"]
    assert error["request_id"] == r.headers["x-request-id"]
    assert (await client.get(BASE, headers=owner)).json()["items"] == []

    as_xml = await client.post(BASE, content=body, headers={**owner, **XML})
    assert as_xml.status_code == 400
    assert as_xml.content.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<error>')
    assert parse_xml(as_xml.content)["code"] == "bad_request"


async def test_validation_errors_come_back_as_xml(client: httpx.AsyncClient, org_a: Org) -> None:
    owner = await login(client, org_a, "owner")
    body = "<c><name>李四</name><id_number>110105199003071230</id_number></c>".encode()
    r = await client.post(BASE, content=body, headers={**owner, **XML})
    assert r.status_code == 422
    error = parse_xml(r.content)
    assert error["code"] == "validation_error"
    assert error["details"][0]["loc"] == ["body", "id_number"]


async def test_xml_is_only_for_the_customer_resource(client: httpx.AsyncClient, org_a: Org) -> None:
    owner = await login(client, org_a, "owner")
    r = await client.get("/api/v1/auth/me", headers={**owner, "Accept": "application/xml"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert "vary" not in r.headers


async def test_openapi_documents_xml_for_customer_routes(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/api/v1/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    create = spec["paths"]["/api/v1/customers"]["post"]
    assert set(create["requestBody"]["content"]) == {
        "application/json",
        "application/xml",
        "text/xml",
    }
    refs = []
    for path, item in spec["paths"].items():
        if not path.startswith("/api/v1/customers"):
            continue
        for operation in item.values():
            for status, response in operation["responses"].items():
                content = response.get("content", {})
                if status != "204":
                    assert "application/xml" in content, (path, status)
                refs += [c["schema"]["$ref"] for c in content.values() if "$ref" in c["schema"]]
            body = operation.get("requestBody", {}).get("content", {})
            refs += [c["schema"]["$ref"] for c in body.values() if "$ref" in c["schema"]]
    missing = {ref for ref in refs if ref.rpartition("/")[2] not in schemas}
    assert not missing
