"""Customers over JSON: CRUD, search, masking by role, audited reveal, tenant isolation."""

from __future__ import annotations

import json

import httpx
import pytest
from conftest import Org, login
from customers_support import (
    BASE,
    CLEAR_VALUES,
    ZHANG,
    ZHANG_STORED,
    audit_rows,
    create,
    with_xml,
)
from fastapi import FastAPI

from relaydesk.kit.db import Database

PII = ("phone", "email", "id_number", "bank_card", "address")


@pytest.fixture
def app(app: FastAPI) -> FastAPI:
    """The conftest app with XML negotiation registered, as in production: JSON unaffected."""
    return with_xml(app)


def assert_no_clear_pii(text: str) -> None:
    leaked = [value for value in CLEAR_VALUES if value in text]
    assert not leaked, f"clear personal data in a masked response: {leaked}"


async def test_owner_crud_round_trip_with_normalised_clear_values(
    client: httpx.AsyncClient, org_a: Org, db: Database
) -> None:
    owner = await login(client, org_a, "owner")
    created = await create(client, owner)
    assert created["masked"] is False
    assert {k: created[k] for k in PII} == ZHANG_STORED
    assert created["name"] == "张伟" and created["tags"] == ["VIP", "北京"]
    assert created["attributes"] == {"crm_id": "C-1001"}
    url = f"{BASE}/{created['id']}"

    got = await client.get(url, headers=owner)
    assert got.status_code == 200 and got.json() == created

    r = await client.patch(
        url, json={"company": "新公司", "address": None, "tags": ["VIP", "VIP"]}, headers=owner
    )
    assert r.status_code == 200, r.text
    patched = r.json()
    assert patched["company"] == "新公司" and patched["address"] is None
    assert patched["tags"] == ["VIP"]
    assert patched["phone"] == "+8613812345678"  # untouched fields stay
    assert patched["updated_at"] > created["updated_at"]

    r = await client.delete(url, headers=owner)
    assert r.status_code == 204 and r.content == b""
    assert (await client.get(url, headers=owner)).status_code == 404
    rows = await audit_rows(db, org_a.id, "customer.deleted")
    assert [(row.target_type, row.target_id, row.actor_id) for row in rows] == [
        ("customer", created["id"], str(org_a.users["owner"]))
    ]


async def test_agent_never_sees_clear_personal_data(client: httpx.AsyncClient, org_a: Org) -> None:
    agent = await login(client, org_a, "agent")
    r = await client.post(BASE, json=ZHANG, headers=agent)
    assert r.status_code == 201
    assert_no_clear_pii(r.text)
    created = r.json()
    assert created["masked"] is True
    assert {k: created[k] for k in PII} == {
        "phone": "+86138****5678",
        "email": "z***i@example.com",
        "id_number": "110***********1239",
        "bank_card": "***************0128",
        "address": "北京市朝阳区****",
    }
    assert created["name"] == "张伟"  # not a masked field
    url = f"{BASE}/{created['id']}"
    responses = [
        await client.get(url, headers=agent),
        await client.get(BASE, headers=agent),
        await client.get(BASE, params={"phone": "13812345678"}, headers=agent),
        await client.patch(url, json={"company": "x", "email": "li.si@example.cn"}, headers=agent),
    ]
    for resp in responses:
        assert resp.status_code == 200, resp.text
        assert_no_clear_pii(resp.text)
        assert "li.si@example.cn" not in resp.text
    assert responses[1].json()["items"][0]["masked"] is True
    assert responses[3].json()["email"] == "l***i@example.cn"


async def test_admin_without_pii_view_is_masked_and_owner_sees_clear(
    client: httpx.AsyncClient, org_a: Org
) -> None:
    created = await create(client, await login(client, org_a, "owner"))
    admin = await client.get(f"{BASE}/{created['id']}", headers=await login(client, org_a, "admin"))
    assert admin.json()["masked"] is True
    assert_no_clear_pii(admin.text)
    owner_list = await client.get(BASE, headers=await login(client, org_a, "owner"))
    item = owner_list.json()["items"][0]
    assert item["masked"] is False and item["id_number"] == "110105199003071239"


async def test_reveal_needs_permission_and_is_audited_without_the_value(
    client: httpx.AsyncClient, org_a: Org, db: Database
) -> None:
    created = await create(client, await login(client, org_a, "agent"))
    url = f"{BASE}/{created['id']}/reveal"

    denied = await client.post(
        url, json={"field": "id_number"}, headers=await login(client, org_a, "agent")
    )
    assert denied.status_code == 403
    assert denied.json()["error"]["details"] == {"missing": ["customers.pii.reveal"]}
    assert await audit_rows(db, org_a.id, "customer.pii_revealed") == []

    supervisor = await login(client, org_a, "supervisor")
    r = await client.post(url, json={"field": "id_number"}, headers=supervisor)
    assert r.status_code == 200
    assert r.json() == {"field": "id_number", "value": "110105199003071239"}
    assert r.headers["cache-control"] == "no-store"

    rows = await audit_rows(db, org_a.id, "customer.pii_revealed")
    assert len(rows) == 1
    row = rows[0]
    assert (row.target_type, row.target_id) == ("customer", created["id"])
    assert row.actor_id == str(org_a.users["supervisor"])
    assert row.details["field"] == "id_number"
    stored = json.dumps(
        [row.details, row.actor_label, row.target_id, row.outcome], ensure_ascii=False
    )
    assert "110105199003071239" not in stored

    # the supervisor's ordinary reads stay masked
    got = await client.get(f"{BASE}/{created['id']}", headers=supervisor)
    assert_no_clear_pii(got.text)


async def test_reveal_rejects_fields_that_are_not_personal(
    client: httpx.AsyncClient, org_a: Org
) -> None:
    owner = await login(client, org_a, "owner")
    created = await create(client, owner)
    r = await client.post(f"{BASE}/{created['id']}/reveal", json={"field": "name"}, headers=owner)
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["loc"] == ["body", "field"]


async def test_other_tenants_customer_is_not_found(
    client: httpx.AsyncClient, org_a: Org, org_b: Org
) -> None:
    created = await create(client, await login(client, org_a, "owner"))
    other = await login(client, org_b, "owner")
    url = f"{BASE}/{created['id']}"
    assert (await client.get(url, headers=other)).status_code == 404
    assert (await client.patch(url, json={"name": "x"}, headers=other)).status_code == 404
    assert (await client.delete(url, headers=other)).status_code == 404
    reveal = await client.post(f"{url}/reveal", json={"field": "phone"}, headers=other)
    assert reveal.status_code == 404
    assert (await client.get(BASE, headers=other)).json()["items"] == []
    # and it is still there for its own tenant
    owner_a = await login(client, org_a, "owner")
    assert (await client.get(url, headers=owner_a)).json()["name"] == "张伟"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id_number", "110105199003071230"),  # checksum should be 9
        ("id_number", "11010519900307123"),  # 17 characters
        ("id_number", "110105199002301236"),  # 30 February
        ("phone", "12345"),
        ("phone", "1381234567"),  # 10 digits
        ("email", "zhang@"),
        ("bank_card", "6222021234567890123"),  # Luhn fails
        ("bank_card", "1234abcd5678"),
    ],
)
async def test_invalid_personal_fields_are_422_at_the_field(
    client: httpx.AsyncClient, org_a: Org, field: str, value: str
) -> None:
    owner = await login(client, org_a, "owner")
    r = await client.post(BASE, json={**ZHANG, field: value}, headers=owner)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "validation_error"
    assert [d["loc"] for d in error["details"]] == [["body", field]]


async def test_unknown_fields_and_null_name_are_422(client: httpx.AsyncClient, org_a: Org) -> None:
    owner = await login(client, org_a, "owner")
    r = await client.post(BASE, json={**ZHANG, "nickname": "伟哥"}, headers=owner)
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["loc"] == ["body", "nickname"]
    created = await create(client, owner)
    r = await client.patch(f"{BASE}/{created['id']}", json={"name": None}, headers=owner)
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["loc"] == ["body", "name"]


async def test_search_filters_and_cursor_pages(client: httpx.AsyncClient, org_a: Org) -> None:
    owner = await login(client, org_a, "owner")
    zhang = await create(client, owner)
    li = await create(
        client,
        owner,
        name="李娜",
        phone="+86 139-0000-1111",
        company="Acme 100%",
        email="li.na@example.cn",
        tags=["VIP_CN"],
        id_number=None,
    )
    wang = await create(
        client,
        owner,
        name="王芳",
        phone=None,
        company=None,
        email=None,
        tags=["北京"],
        id_number=None,
    )

    async def names(**params: str) -> list[str]:
        r = await client.get(BASE, params=params, headers=owner)
        assert r.status_code == 200, r.text
        return [item["name"] for item in r.json()["items"]]

    assert await names() == ["王芳", "李娜", "张伟"]  # newest first
    assert await names(q="华贸") == ["张伟"]  # company
    assert await names(q="李") == ["李娜"]  # name
    assert await names(q="100%") == ["李娜"]  # % is literal, not a wildcard
    assert await names(q="acme") == ["李娜"]  # case-insensitive
    assert await names(phone="13900001111") == ["李娜"]  # normalised like stored numbers
    assert await names(phone="+8613812345678") == ["张伟"]
    assert await names(email="LI.NA@example.cn") == ["李娜"]
    assert await names(tag="VIP") == ["张伟"]  # whole tags only: not VIP_CN
    assert await names(tag="北京") == ["王芳", "张伟"]
    assert await names(tag="北京", q="王") == ["王芳"]

    first = await client.get(BASE, params={"limit": 2}, headers=owner)
    page1 = first.json()
    assert [i["id"] for i in page1["items"]] == [wang["id"], li["id"]]
    assert page1["next_cursor"]
    second = await client.get(
        BASE, params={"limit": 2, "cursor": page1["next_cursor"]}, headers=owner
    )
    assert [i["id"] for i in second.json()["items"]] == [zhang["id"]]
    assert second.json()["next_cursor"] is None

    bad = await client.get(BASE, params={"phone": "12"}, headers=owner)
    assert bad.status_code == 422
    assert bad.json()["error"]["details"][0]["loc"] == ["query", "phone"]


async def test_permissions_per_role(client: httpx.AsyncClient, org_a: Org) -> None:
    assert (await client.get(BASE)).status_code == 401
    read_only = await login(client, org_a, "read-only")
    assert (await client.get(BASE, headers=read_only)).status_code == 200
    r = await client.post(BASE, json=ZHANG, headers=read_only)
    assert r.status_code == 403
    assert r.json()["error"]["details"] == {"missing": ["customers.write"]}
