"""Merge and split by an agent: what moves, the audit rows, the events, the merged pointer."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from conftest import Org, login
from customers_support import BASE, add_identity, audit_rows, create, outbox, with_xml
from fastapi import FastAPI

from relaydesk.customers.resolution import IdentityClaim, resolve
from relaydesk.kit.db import Database
from relaydesk.kit.xmlio import parse_xml


@pytest.fixture
def app(app: FastAPI) -> FastAPI:
    return with_xml(app)


async def _merge(client: httpx.AsyncClient, headers: dict[str, str], survivor: str,
                 *others: str) -> httpx.Response:  # fmt: skip
    return await client.post(f"{BASE}/{survivor}/merge", json={"merge_ids": list(others)},
                             headers=headers)  # fmt: skip


async def test_merge_moves_everything_to_the_survivor_and_leaves_a_pointer(
    client: httpx.AsyncClient, org_a: Org, db: Database
) -> None:
    owner = await login(client, org_a, "owner")
    survivor = await create(client, owner, company=None, address=None,
                            attributes={"crm_id": "C-1001", "level": "金牌"})  # fmt: skip
    wechat = await create(client, owner, name="微信用户", phone="13900001111", email=None,
                          id_number=None, bank_card=None, company="华贸", tags=["微信", "VIP"],
                          attributes={"level": "银牌", "openid_app": "shop"})  # fmt: skip
    crm = await add_identity(client, owner, wechat["id"], kind="external", value="C010001",
                             namespace="crm:contact", verified=True)  # fmt: skip

    r = await _merge(client, owner, survivor["id"], wechat["id"])
    assert r.status_code == 200, r.text
    merged = r.json()
    assert merged["phone"] == "+8613812345678"  # the survivor's value stays
    assert merged["company"] == "华贸"  # its empty fields are filled
    assert merged["tags"] == ["VIP", "北京", "微信"]
    assert merged["attributes"] == {"crm_id": "C-1001", "level": "金牌", "openid_app": "shop"}
    assert {(i["kind"], i["value"]) for i in merged["identities"]} == {
        ("phone", "+8613812345678"), ("email", "zhang.wei@example.com"),
        ("phone", "+8613900001111"), ("external", "C010001")}  # fmt: skip

    gone = await client.get(f"{BASE}/{wechat['id']}", headers=owner)
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "customer_merged"
    assert gone.json()["error"]["details"] == {"merged_into": survivor["id"]}
    as_xml = await client.get(f"{BASE}/{wechat['id']}", headers={**owner, "Accept": "text/xml"})
    assert parse_xml(as_xml.content)["details"]["merged_into"] == survivor["id"]
    for method, path in [("PATCH", ""), ("DELETE", ""), ("GET", "/identities")]:
        r = await client.request(method, f"{BASE}/{wechat['id']}{path}", headers=owner,
                                 json={"name": "x"} if method == "PATCH" else None)  # fmt: skip
        assert r.json()["error"]["code"] == "customer_merged", (method, path)
    listed = (await client.get(BASE, headers=owner)).json()["items"]
    assert [c["id"] for c in listed] == [survivor["id"]]
    found = await client.get(BASE, params={"identity": "C010001"}, headers=owner)
    assert [c["id"] for c in found.json()["items"]] == [survivor["id"]]

    (row,) = await audit_rows(db, org_a.id, "customer.merged")
    assert row.target_id == survivor["id"] and row.actor_id == str(org_a.users["owner"])
    assert row.details == {"merged_ids": [wechat["id"]], "identities_moved": 2,
                           "conflicts": ["phone", "attributes.level"]}  # fmt: skip
    (event,) = await outbox(db, org_a.id, "customer.merged")
    assert event.key == survivor["id"] and event.payload["identities_moved"] == 2
    assert crm["id"] in {i["id"] for i in merged["identities"]}


async def test_merges_chain_and_deleting_the_survivor_deletes_the_merged(
    client: httpx.AsyncClient, org_a: Org
) -> None:
    owner = await login(client, org_a, "owner")
    a, b, c = [await create(client, owner, name=n, phone=None, email=None, id_number=None)
               for n in ("甲", "乙", "丙")]  # fmt: skip
    assert (await _merge(client, owner, b["id"], a["id"])).status_code == 200
    assert (await _merge(client, owner, c["id"], b["id"])).status_code == 200
    pointer = (await client.get(f"{BASE}/{a['id']}", headers=owner)).json()["error"]["details"]
    assert pointer == {"merged_into": c["id"]}  # always the final survivor
    again = await _merge(client, owner, c["id"], a["id"])
    assert again.status_code == 409
    assert again.json()["error"]["details"][0]["merged_into"] == c["id"]
    assert (await client.delete(f"{BASE}/{c['id']}", headers=owner)).status_code == 204
    for x in (a, b, c):
        r = await client.get(f"{BASE}/{x['id']}", headers=owner)
        assert r.json()["error"]["code"] == "not_found"


async def test_bad_merges_name_the_field_and_need_customers_merge(
    client: httpx.AsyncClient, org_a: Org, org_b: Org
) -> None:
    owner = await login(client, org_a, "owner")
    a = await create(client, owner)
    b = await create(client, owner, name="李娜")
    foreign = await create(client, await login(client, org_b, "owner"))
    cases: list[tuple[Any, list[Any]]] = [
        ([a["id"]], ["body", "merge_ids", 0]),
        ([b["id"], b["id"]], ["body", "merge_ids", 1]),
        ([str(uuid.uuid4())], ["body", "merge_ids", 0]),
        ([foreign["id"]], ["body", "merge_ids", 0]),  # another tenant's: simply not found
        ([], ["body", "merge_ids"]),
        (["not-an-id"], ["body", "merge_ids", 0]),
    ]
    for ids, loc in cases:
        r = await _merge(client, owner, a["id"], *ids)
        assert r.status_code == 422, (ids, r.text)
        assert r.json()["error"]["details"][0]["loc"] == loc, ids
    agent = await login(client, org_a, "agent")
    denied = await _merge(client, agent, a["id"], b["id"])
    assert denied.status_code == 403
    assert denied.json()["error"]["details"] == {"missing": ["customers.merge"]}
    assert (await client.get(f"{BASE}/{b['id']}", headers=owner)).status_code == 200


async def test_split_moves_chosen_identities_to_a_new_customer(
    client: httpx.AsyncClient, org_a: Org, db: Database
) -> None:
    owner = await login(client, org_a, "owner")
    zhang = await create(client, owner)
    second = await add_identity(client, owner, zhang["id"], kind="phone", value="13900001111")
    first_phone = next(i for i in zhang["identities"] if i["kind"] == "phone")
    url = f"{BASE}/{zhang['id']}/split"

    r = await client.post(url, json={"identity_ids": [first_phone["id"]], "name": "张伟的家人"},
                          headers=owner)  # fmt: skip
    assert r.status_code == 201, r.text
    new = r.json()
    assert new["name"] == "张伟的家人" and new["phone"] == "+8613812345678"
    assert [i["id"] for i in new["identities"]] == [first_phone["id"]]
    left = (await client.get(f"{BASE}/{zhang['id']}", headers=owner)).json()
    assert left["phone"] == "+8613900001111"  # the profile shows its remaining phone
    assert {i["id"] for i in left["identities"]} == {second["id"], zhang["identities"][1]["id"]}

    (row,) = await audit_rows(db, org_a.id, "customer.split")
    assert row.details == {"new_customer_id": new["id"], "identity_ids": [first_phone["id"]],
                           "kinds": ["phone"]}  # fmt: skip
    events = await outbox(db, org_a.id, "customer.created", "customer.split")
    assert [(e.type, e.key) for e in events[-2:]] == [
        ("customer.created", new["id"]),
        ("customer.split", zhang["id"]),
    ]

    for body, loc in [
        ({"identity_ids": [first_phone["id"]]}, ["body", "identity_ids", 0]),
        ({"identity_ids": []}, ["body", "identity_ids"]),
        ({"identity_ids": [second["id"]], "name": ""}, ["body", "name"]),
    ]:
        r = await client.post(url, json=body, headers=owner)
        assert r.status_code == 422, body
        assert r.json()["error"]["details"][0]["loc"] == loc


async def test_suggestions_are_closed_by_a_merge_and_can_be_dismissed(
    client: httpx.AsyncClient, org_a: Org, org_b: Org, db: Database
) -> None:
    owner = await login(client, org_a, "owner")
    zhang = await create(client, owner)
    duplicate = await create(client, owner, name="张伟二号")  # same phone and e-mail
    other = await create(client, owner, name="李娜", phone=None, email=None, id_number=None)
    async with db.job(org_a.id) as session:
        contact = await resolve(session, org_a.id, [IdentityClaim("visitor", "v9"),
                                IdentityClaim("email", "zhang.wei@example.com")],
                                verified=False)  # fmt: skip
    suggestions = f"{BASE}/merge-suggestions"
    items = (await client.get(suggestions, headers=owner)).json()["items"]
    pairs = {(i["customer"]["id"], i["candidate"]["id"]) for i in items}
    assert pairs == {(duplicate["id"], zhang["id"]), (str(contact.customer.id), zhang["id"])}
    reasons = next(i for i in items if i["customer"]["id"] == duplicate["id"])["reasons"]
    assert [(x["why"], x["kind"]) for x in reasons] == [
        ("profile_duplicate", "phone"),
        ("profile_duplicate", "email"),
    ]

    assert (await _merge(client, owner, zhang["id"], duplicate["id"])).status_code == 200
    items = (await client.get(suggestions, headers=owner)).json()["items"]
    assert [i["customer"]["id"] for i in items] == [str(contact.customer.id)]
    merged = (await client.get(suggestions, params={"status": "merged"}, headers=owner)).json()
    assert [i["customer"]["id"] for i in merged["items"]] == [duplicate["id"]]

    dismiss = f"{suggestions}/{items[0]['id']}/dismiss"
    assert (
        await client.post(dismiss, headers=await login(client, org_b, "owner"))
    ).status_code == 404
    r = await client.post(dismiss, headers=owner)
    assert r.status_code == 200 and r.json()["status"] == "dismissed"
    assert (await client.get(suggestions, headers=owner)).json()["items"] == []
    assert len(await audit_rows(db, org_a.id, "customer.merge_dismissed")) == 1
    merged_id = merged["items"][0]["id"]
    assert (
        await client.post(f"{suggestions}/{merged_id}/dismiss", headers=owner)
    ).status_code == 409
    assert other["id"] not in str(items)
