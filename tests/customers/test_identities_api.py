"""Identities over the API: attach, search by any identity, verify, remove, reveal, masking."""

from __future__ import annotations

import httpx
import pytest
from conftest import Org, login
from customers_support import BASE, ZHANG, add_identity, audit_rows, create, outbox, with_xml
from fastapi import FastAPI

from relaydesk.kit.db import Database
from relaydesk.kit.xmlio import parse_xml


@pytest.fixture
def app(app: FastAPI) -> FastAPI:
    return with_xml(app)


OPENID = {"kind": "openid", "value": "oWx-9fK2LmQp", "namespace": "wx1234567890abcdef"}
CRM = {"kind": "external", "value": "C010001", "namespace": "crm:contact", "verified": True}


async def test_profile_phone_and_email_become_identities_and_more_can_be_added(
    client: httpx.AsyncClient, org_a: Org, db: Database
) -> None:
    owner = await login(client, org_a, "owner")
    zhang = await create(client, owner)
    profile = {(i["kind"], i["value"], i["source"], i["verified"]) for i in zhang["identities"]}
    assert profile == {("phone", "+8613812345678", "profile", False),
                       ("email", "zhang.wei@example.com", "profile", False)}  # fmt: skip

    wechat = await add_identity(client, owner, zhang["id"], **OPENID)
    assert (wechat["kind"], wechat["namespace"], wechat["value"]) == (
        "openid",
        "wx1234567890abcdef",
        "oWx-9fK2LmQp",
    )
    assert wechat["verified"] is False and wechat["origin"] == "staff"
    crm = await add_identity(client, owner, zhang["id"], **CRM)
    assert crm["verified"] is True and crm["verified_at"] is not None

    listed = (await client.get(f"{BASE}/{zhang['id']}/identities", headers=owner)).json()
    assert [i["kind"] for i in listed["items"]] == ["phone", "email", "openid", "external"]
    got = (await client.get(f"{BASE}/{zhang['id']}", headers=owner)).json()
    assert [i["id"] for i in got["identities"]] == [i["id"] for i in listed["items"]]

    rows = await audit_rows(db, org_a.id, "customer.identity_added")
    assert [r.details["kind"] for r in rows] == ["openid", "external"]
    events = await outbox(db, org_a.id, "customer.created", "customer.updated")
    assert [e.type for e in events] == ["customer.created", "customer.updated",
                                        "customer.updated"]  # fmt: skip
    assert events[1].payload["changed"] == ["identities"]
    assert events[0].key == zhang["id"]


async def test_search_by_any_identity_normalised(client: httpx.AsyncClient, org_a: Org) -> None:
    owner = await login(client, org_a, "owner")
    zhang = await create(client, owner)
    li = await create(client, owner, name="李娜", phone="0755-2345 6789", email="li.na@example.cn",
                      id_number=None)  # fmt: skip
    await add_identity(client, owner, zhang["id"], **CRM)
    await add_identity(client, owner, li["id"], kind="visitor", value="v_77f1")

    async def found(**params: str) -> list[str]:
        r = await client.get(BASE, params=params, headers=owner)
        assert r.status_code == 200, r.text
        return [c["name"] for c in r.json()["items"]]

    assert await found(identity="138-1234-5678") == ["张伟"]
    assert await found(identity="+86 138 1234 5678") == ["张伟"]
    assert await found(identity="008613812345678") == ["张伟"]
    assert await found(identity="(0755) 23456789") == ["李娜"]  # a landline
    assert await found(identity="LI.NA@EXAMPLE.CN") == ["李娜"]
    assert await found(identity="C010001") == ["张伟"]  # an external id, any namespace
    assert await found(identity="C010001", identity_kind="external",
                       namespace="crm:contact") == ["张伟"]  # fmt: skip
    assert await found(identity="C010001", identity_kind="external",
                       namespace="orders:buyer") == []  # fmt: skip
    assert await found(identity="v_77f1", identity_kind="visitor") == ["李娜"]
    assert await found(identity="13900000000") == []

    for params, loc in [
        ({"identity": "x", "identity_kind": "fax"}, ["query", "identity_kind"]),
        ({"identity": "12", "identity_kind": "phone"}, ["query", "identity"]),
        ({"identity": "C1", "identity_kind": "external"}, ["query", "namespace"]),
        ({"identity": "有 空格"}, ["query", "identity"]),
    ]:
        r = await client.get(BASE, params=params, headers=owner)
        assert r.status_code == 422, (params, r.text)
        assert r.json()["error"]["details"][0]["loc"] == loc


async def test_an_identity_belongs_to_one_customer_and_bad_ones_name_the_field(
    client: httpx.AsyncClient, org_a: Org
) -> None:
    owner = await login(client, org_a, "owner")
    zhang = await create(client, owner)
    li = await create(client, owner, name="李娜", phone=None, email=None, id_number=None)
    await add_identity(client, owner, zhang["id"], **OPENID)

    taken = await client.post(f"{BASE}/{li['id']}/identities", headers=owner,
                              json={**OPENID, "value": " oWx-9fK2LmQp "})  # fmt: skip
    assert taken.status_code == 409
    detail = taken.json()["error"]["details"][0]
    assert detail["loc"] == ["body", "value"] and detail["customer_id"] == zhang["id"]
    phone = await client.post(f"{BASE}/{li['id']}/identities", headers=owner,
                              json={"kind": "phone", "value": "138-1234-5678"})  # fmt: skip
    assert phone.status_code == 409  # the same number, written differently

    for body, loc in [
        ({"kind": "openid", "value": "oWx"}, ["body", "namespace"]),
        ({"kind": "phone", "value": "12345"}, ["body", "value"]),
        ({"kind": "email", "value": "li@", "namespace": None}, ["body", "value"]),
        ({"kind": "external", "value": "C1", "namespace": "crm contact"}, ["body", "namespace"]),
        ({"kind": "fax", "value": "1"}, ["body", "kind"]),
    ]:
        r = await client.post(f"{BASE}/{li['id']}/identities", json=body, headers=owner)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["error"]["details"][0]["loc"] == loc, body

    r = await client.post(
        BASE,
        headers=owner,
        json={"name": "王芳", "identities": [{"kind": "visitor", "value": "v1"}, OPENID]},
    )
    assert r.status_code == 409
    assert r.json()["error"]["details"][0]["loc"] == ["body", "identities", 1, "value"]
    names = [c["name"] for c in (await client.get(BASE, headers=owner)).json()["items"]]
    assert "王芳" not in names  # nothing was written


async def test_verify_and_remove_keep_the_profile_fields_in_step(
    client: httpx.AsyncClient, org_a: Org, db: Database
) -> None:
    owner = await login(client, org_a, "owner")
    zhang = await create(client, owner)
    url = f"{BASE}/{zhang['id']}"
    second = await add_identity(client, owner, zhang["id"], kind="phone", value="13900001111")
    first = next(i for i in zhang["identities"] if i["kind"] == "phone")

    verified = await client.post(f"{url}/identities/{second['id']}/verify", headers=owner)
    assert verified.status_code == 200 and verified.json()["verified"] is True
    assert (await audit_rows(db, org_a.id, "customer.identity_verified"))[0].details == {
        "identity_id": second["id"],
        "kind": "phone",
        "namespace": "",
        "verified": True,
    }

    r = await client.delete(f"{url}/identities/{first['id']}", headers=owner)
    assert r.status_code == 204
    assert (await client.get(url, headers=owner)).json()["phone"] == "+8613900001111"
    assert (
        await client.delete(f"{url}/identities/{first['id']}", headers=owner)
    ).status_code == 404

    # changing the profile phone replaces the unverified profile identity, keeps verified ones
    r = await client.patch(url, json={"phone": "13700002222"}, headers=owner)
    kinds = sorted(
        (i["value"], i["source"]) for i in r.json()["identities"] if i["kind"] == "phone"
    )
    assert kinds == [("+8613700002222", "profile"), ("+8613900001111", "agent")]
    r = await client.patch(url, json={"email": None}, headers=owner)
    assert [i["kind"] for i in r.json()["identities"]] == ["phone", "phone"]
    last = (await outbox(db, org_a.id, "customer.updated"))[-1]
    assert last.payload["changed"] == ["email"] and last.payload["email"] is None


async def test_identities_are_masked_for_agents_and_revealed_with_an_audit_row(
    client: httpx.AsyncClient, org_a: Org, db: Database
) -> None:
    owner = await login(client, org_a, "owner")
    zhang = await create(client, owner)
    wechat = await add_identity(client, owner, zhang["id"], **OPENID)
    agent = await login(client, org_a, "agent")
    url = f"{BASE}/{zhang['id']}/identities"
    clear = ["13812345678", "zhang.wei@example.com", "oWx-9fK2LmQp"]

    for accept in ("application/json", "application/xml"):
        r = await client.get(url, headers={**agent, "Accept": accept})
        assert r.status_code == 200
        assert not [c for c in clear if c in r.text], r.text
    r = await client.get(url, headers=agent)
    values = {i["kind"]: i["value"] for i in r.json()["items"]}
    assert values == {"phone": "+86138****5678", "email": "z***i@example.com",
                      "openid": "o**********p"}  # fmt: skip
    xml = parse_xml(
        (
            await client.get(
                f"{BASE}/{zhang['id']}", headers={**agent, "Accept": "application/xml"}
            )
        ).content
    )
    assert xml["identities"][0]["value"] == "+86138****5678"

    reveal = f"{url}/{wechat['id']}/reveal"
    denied = await client.post(reveal, headers=agent)
    assert denied.status_code == 403
    supervisor = await login(client, org_a, "supervisor")
    r = await client.post(reveal, headers=supervisor)
    assert r.status_code == 200 and r.json()["value"] == "oWx-9fK2LmQp"
    assert r.headers["cache-control"] == "no-store"
    row = (await audit_rows(db, org_a.id, "customer.pii_revealed"))[0]
    assert row.details == {"field": "identities", "identity_id": wechat["id"], "kind": "openid"}
    assert row.actor_id == str(org_a.users["supervisor"])


async def test_other_tenants_identities_are_not_found(
    client: httpx.AsyncClient, org_a: Org, org_b: Org
) -> None:
    owner_a = await login(client, org_a, "owner")
    zhang = await create(client, owner_a)
    identity = zhang["identities"][0]["id"]
    other = await login(client, org_b, "owner")
    url = f"{BASE}/{zhang['id']}/identities"
    assert (await client.get(url, headers=other)).status_code == 404
    assert (await client.post(url, json=OPENID, headers=other)).status_code == 404
    for method, path in [("POST", f"{url}/{identity}/verify"), ("POST", f"{url}/{identity}/reveal"),
                         ("DELETE", f"{url}/{identity}")]:  # fmt: skip
        assert (await client.request(method, path, headers=other)).status_code == 404
    # B may hold the same identity: uniqueness is per tenant
    b_customer = await create(client, other, name="张伟")
    assert b_customer["identities"][0]["value"] == "+8613812345678"
    assert (await client.get(BASE, params={"identity": "13812345678"}, headers=other)).json()[
        "items"
    ][0]["id"] == b_customer["id"]
    assert ZHANG["phone"] == "138 1234 5678"
