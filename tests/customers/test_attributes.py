"""Typed custom attributes: definitions, validation with field paths, masking, reveal."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from conftest import Org, login
from customers_support import BASE, audit_rows, create, with_xml
from fastapi import FastAPI

from relaydesk.kit.db import Database
from relaydesk.kit.xmlio import parse_xml

DEFS = f"{BASE}/attribute-definitions"
XML = {"Content-Type": "application/xml", "Accept": "application/xml"}

VIP = {"key": "vip_level", "label_zh": "VIP 等级", "label_en": "VIP level", "type": "enum",
       "options": ["银卡", "金卡", "钻石"], "required": True}  # fmt: skip
DEFINITIONS: list[dict[str, Any]] = [
    VIP,
    {"key": "credit_limit", "label_zh": "信用额度", "label_en": "Credit limit", "type": "number"},
    {"key": "opt_in", "label_zh": "接受营销", "label_en": "Marketing opt-in", "type": "boolean"},
    {"key": "birthday", "label_zh": "生日", "label_en": "Birthday", "type": "date", "pii": True},
    {"key": "nickname", "label_zh": "昵称", "label_en": "Nickname", "type": "string"},
]


@pytest.fixture
def app(app: FastAPI) -> FastAPI:
    return with_xml(app)


async def _define(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    for body in DEFINITIONS:
        r = await client.post(DEFS, json=body, headers=headers)
        assert r.status_code == 201, r.text


async def test_definitions_crud_is_audited_and_needs_tenant_manage(
    client: httpx.AsyncClient, org_a: Org, db: Database
) -> None:
    admin = await login(client, org_a, "admin")
    await _define(client, admin)
    listed = (await client.get(DEFS, headers=await login(client, org_a, "agent"))).json()
    assert [d["key"] for d in listed["items"]] == sorted(d["key"] for d in DEFINITIONS)

    supervisor = await login(client, org_a, "supervisor")
    denied = await client.post(DEFS, json={**VIP, "key": "x"}, headers=supervisor)
    assert denied.status_code == 403
    assert denied.json()["error"]["details"] == {"missing": ["tenant.manage"]}

    duplicate = await client.post(DEFS, json=VIP, headers=admin)
    assert duplicate.status_code == 409
    assert duplicate.json()["error"]["details"][0]["loc"] == ["body", "key"]

    r = await client.patch(f"{DEFS}/vip_level", json={"label_en": "VIP tier",
                                                     "options": ["银卡", "金卡", "钻石", "黑卡"]},
                           headers=admin)  # fmt: skip
    assert r.status_code == 200 and r.json()["options"][-1] == "黑卡"
    assert (await client.get(f"{DEFS}/vip_level", headers=admin)).json()["label_en"] == "VIP tier"
    assert (await client.delete(f"{DEFS}/nickname", headers=admin)).status_code == 204
    assert (await client.get(f"{DEFS}/nickname", headers=admin)).status_code == 404
    actions = [r.action for r in await audit_rows(db, org_a.id, "customer_attribute.updated")]
    assert actions == ["customer_attribute.updated"]
    assert len(await audit_rows(db, org_a.id, "customer_attribute.created")) == len(DEFINITIONS)


async def test_bad_definitions_name_the_field(client: httpx.AsyncClient, org_a: Org) -> None:
    owner = await login(client, org_a, "owner")
    cases: list[tuple[dict[str, Any], list[str]]] = [
        ({**VIP, "key": "VIP"}, ["body", "key"]),
        ({**VIP, "options": []}, ["body", "options"]),
        ({**VIP, "options": ["金卡", "金卡"]}, ["body", "options"]),
        ({**VIP, "type": "number"}, ["body", "options"]),  # options only for enums
        ({**VIP, "type": "json"}, ["body", "type"]),
        ({**VIP, "label_zh": ""}, ["body", "label_zh"]),
    ]
    for body, loc in cases:
        r = await client.post(DEFS, json=body, headers=owner)
        assert r.status_code == 422, r.text
        assert r.json()["error"]["details"][0]["loc"] == loc, body
    r = await client.post(DEFS, json={**VIP, "required": False}, headers=owner)
    assert r.status_code == 201
    patches: list[tuple[dict[str, Any], list[str]]] = [
        ({"type": "number"}, ["body", "type"]),
        ({"options": []}, ["body", "options"]),
        ({"label_en": None}, ["body", "label_en"]),
    ]
    for patch, loc in patches:
        r = await client.patch(f"{DEFS}/vip_level", json=patch, headers=owner)
        assert r.status_code == 422, (patch, r.text)
        assert r.json()["error"]["details"][0]["loc"] == loc, patch
    assert (await client.get(f"{DEFS}/Not-A-Key", headers=owner)).status_code == 422


async def test_values_are_typed_and_bad_ones_are_422_at_the_attribute(
    client: httpx.AsyncClient, org_a: Org
) -> None:
    owner = await login(client, org_a, "owner")
    await _define(client, owner)
    created = await create(client, owner, attributes={
        "vip_level": "金卡", "credit_limit": "5000.50", "opt_in": "true", "birthday": "1990-03-07",
        "crm_id": "C-1001"})  # fmt: skip
    assert created["attributes"] == {"vip_level": "金卡", "credit_limit": 5000.5, "opt_in": True,
                                     "birthday": "1990-03-07", "crm_id": "C-1001"}  # fmt: skip

    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"vip_level": "铜卡"}, "vip_level", "must be one of: 银卡, 金卡, 钻石"),
        ({"vip_level": "金卡", "credit_limit": "lots"}, "credit_limit", "must be a number"),
        ({"vip_level": "金卡", "credit_limit": True}, "credit_limit", "must be a number"),
        ({"vip_level": "金卡", "opt_in": "maybe"}, "opt_in", "must be true or false"),
        ({"vip_level": "金卡", "birthday": "1990-02-30"}, "birthday", "must be a date"),
        ({"vip_level": "金卡", "birthday": "1990-03-07T10:00"}, "birthday", "must be a date"),
        ({}, "vip_level", "required attribute"),
        ({"vip_level": None}, "vip_level", "required attribute"),
    ]
    for attributes, key, message in cases:
        r = await client.post(BASE, json={"name": "李娜", "attributes": attributes}, headers=owner)
        assert r.status_code == 422, (attributes, r.text)
        error = r.json()["error"]
        assert error["details"][0]["loc"] == ["body", "attributes", key], attributes
        assert message in error["details"][0]["msg"]
        assert error["message"].startswith(f"attributes.{key}: ")

    url = f"{BASE}/{created['id']}"
    r = await client.patch(url, json={"attributes": {"credit_limit": 1}}, headers=owner)
    assert r.status_code == 422  # replacing the map drops the required vip_level
    r = await client.patch(url, json={"company": "新公司"}, headers=owner)
    assert r.status_code == 200  # attributes untouched: not re-checked
    r = await client.patch(url, json={"attributes": {"vip_level": "钻石", "credit_limit": 7}},
                           headers=owner)  # fmt: skip
    assert r.json()["attributes"] == {"vip_level": "钻石", "credit_limit": 7}

    # an option in use cannot be removed; an unused one can
    r = await client.patch(f"{DEFS}/vip_level", json={"options": ["银卡", "金卡"]}, headers=owner)
    assert r.status_code == 409 and r.json()["error"]["details"][0]["customers"] == 1
    r = await client.patch(f"{DEFS}/vip_level", json={"options": ["金卡", "钻石"]}, headers=owner)
    assert r.status_code == 200


async def test_xml_values_arrive_as_text_and_are_stored_typed(
    client: httpx.AsyncClient, org_a: Org
) -> None:
    owner = await login(client, org_a, "owner")
    await _define(client, owner)
    body = (
        "<customer><name>赵敏</name><attributes><vip_level>银卡</vip_level>"
        "<credit_limit>1200</credit_limit><opt_in>false</opt_in></attributes></customer>"
    )
    r = await client.post(BASE, content=body.encode(), headers={**owner, **XML})
    assert r.status_code == 201, r.text
    got = await client.get(f"{BASE}/{parse_xml(r.content)['id']}", headers=owner)
    assert got.json()["attributes"] == {"vip_level": "银卡", "credit_limit": 1200, "opt_in": False}
    bad = body.replace("1200", "很多")
    r = await client.post(BASE, content=bad.encode(), headers={**owner, **XML})
    assert r.status_code == 422
    assert parse_xml(r.content)["details"][0]["loc"] == ["body", "attributes", "credit_limit"]


async def test_personal_attributes_are_masked_and_revealed_with_an_audit_row(
    client: httpx.AsyncClient, org_a: Org, db: Database
) -> None:
    owner = await login(client, org_a, "owner")
    await _define(client, owner)
    created = await create(
        client, owner, attributes={"vip_level": "金卡", "birthday": "1990-03-07"}
    )
    agent = await login(client, org_a, "agent")
    for accept in ("application/json", "application/xml"):
        r = await client.get(f"{BASE}/{created['id']}", headers={**agent, "Accept": accept})
        assert "1990-03-07" not in r.text
    r = await client.get(BASE, headers=agent)
    assert r.json()["items"][0]["attributes"] == {"vip_level": "金卡", "birthday": "1********7"}

    url = f"{BASE}/{created['id']}/reveal"
    supervisor = await login(client, org_a, "supervisor")
    r = await client.post(url, json={"field": "attributes.birthday"}, headers=supervisor)
    assert r.status_code == 200 and r.json() == {"field": "attributes.birthday",
                                                 "value": "1990-03-07"}  # fmt: skip
    row = (await audit_rows(db, org_a.id, "customer.pii_revealed"))[0]
    assert row.details == {"field": "attributes.birthday", "empty": False}
    r = await client.post(url, json={"field": "attributes.vip_level"}, headers=supervisor)
    assert r.status_code == 422  # not personal: nothing to reveal
    assert r.json()["error"]["details"][0]["loc"] == ["body", "field"]
