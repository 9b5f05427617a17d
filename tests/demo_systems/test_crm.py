"""The CRM over a real loopback socket: client credentials, contacts, tiers, tags, notes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from demo_support import serving

from relaydesk.demo_systems.crm import CrmConfig, create_crm_app
from relaydesk.demo_systems.dataset import people

CLIENT = ("relaydesk-demo", "yq-crm-demo-secret-5d1c")
TIERS = {"normal": "普通", "silver": "银卡", "gold": "金卡", "diamond": "钻石"}


class Clock:
    def __init__(self) -> None:
        self.now = 1_795_162_920.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def crm(clock: Clock) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    app = create_crm_app(CrmConfig(token_ttl_seconds=300, clock=clock))
    async with serving(app) as url, httpx.AsyncClient(base_url=url) as client:
        yield client, app.state.crm


async def token(client: httpx.AsyncClient, **form: str) -> str:
    r = await client.post("/oauth/token", data={"grant_type": "client_credentials", **form},
                          auth=CLIENT)
    assert r.status_code == 200, r.text
    assert r.json()["token_type"] == "Bearer"
    return str(r.json()["access_token"])


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


async def test_token_by_basic_or_form_body_and_counted(crm: tuple[httpx.AsyncClient, Any]) -> None:
    client, state = crm
    r = await client.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=CLIENT)
    assert r.json()["expires_in"] == 300
    assert r.headers["cache-control"] == "no-store"
    r = await client.post("/oauth/token", data={"grant_type": "client_credentials",
                                                "client_id": CLIENT[0], "client_secret": CLIENT[1]})
    assert r.status_code == 200
    assert state.tokens_issued == 2


async def test_token_errors_follow_rfc_6749(crm: tuple[httpx.AsyncClient, Any]) -> None:
    client, state = crm
    r = await client.post("/oauth/token", data={"grant_type": "client_credentials"},
                          auth=(CLIENT[0], "wrong"))
    assert (r.status_code, r.json()["error"]) == (401, "invalid_client")
    assert r.headers["www-authenticate"].startswith("Basic")
    r = await client.post("/oauth/token", data={"grant_type": "password"}, auth=CLIENT)
    assert (r.status_code, r.json()["error"]) == (400, "unsupported_grant_type")
    r = await client.post("/oauth/token", data={"grant_type": "client_credentials",
                                                "scope": "admin"}, auth=CLIENT)
    assert (r.status_code, r.json()["error"]) == (400, "invalid_scope")
    assert state.tokens_issued == 0


async def test_expired_token_is_401_invalid_token(
    crm: tuple[httpx.AsyncClient, Any], clock: Clock
) -> None:
    client, _ = crm
    access = await token(client)
    person = people()[3]
    r = await client.get("/api/v1/contacts", params={"mobile": person.mobile},
                         headers=bearer(access))
    assert r.status_code == 200
    clock.now += 300
    r = await client.get("/api/v1/contacts", params={"mobile": person.mobile},
                         headers=bearer(access))
    assert (r.status_code, r.json()["error"]) == (401, "invalid_token")
    assert 'error="invalid_token"' in r.headers["www-authenticate"]
    r = await client.get("/api/v1/contacts", params={"mobile": person.mobile})
    assert (r.status_code, r.json()["error"]) == (401, "invalid_token")


async def test_search_by_mobile_gives_the_contact_with_its_tier(
    crm: tuple[httpx.AsyncClient, Any],
) -> None:
    client, _ = crm
    access = await token(client)
    for person in (people()[0], people()[2], people()[-1]):
        r = await client.get("/api/v1/contacts", params={"mobile": person.mobile},
                             headers=bearer(access))
        assert r.json()["total"] == 1
        contact = r.json()["data"][0]
        assert (contact["id"], contact["name"]) == (person.crm_id, person.name)
        assert contact["memberTier"] == TIERS[person.tier]
        assert contact["createdAt"].endswith("+08:00")
        detail = await client.get(f"/api/v1/contacts/{person.crm_id}", headers=bearer(access))
        assert detail.json() == contact
    r = await client.get("/api/v1/contacts", params={"mobile": "13000000000"},
                         headers=bearer(access))
    assert r.json() == {"data": [], "total": 0}
    r = await client.get("/api/v1/contacts/C999999", headers=bearer(access))
    assert (r.status_code, r.json()["error"]) == (404, "not_found")


async def test_tags_add_list_remove(crm: tuple[httpx.AsyncClient, Any]) -> None:
    client, _ = crm
    access = await token(client)
    person = people()[5]
    url = f"/api/v1/contacts/{person.crm_id}/tags"
    before = (await client.get(url, headers=bearer(access))).json()["tags"]
    r = await client.post(url, json={"tags": ["投诉", "投诉", "物流延误"]}, headers=bearer(access))
    assert r.json()["added"] == ["投诉", "物流延误"]
    assert r.json()["tags"] == [*before, "投诉", "物流延误"]
    again = await client.post(url, json={"tag": "投诉"}, headers=bearer(access))
    assert again.json()["added"] == []
    await client.delete(f"{url}/投诉", headers=bearer(access))
    assert (await client.get(url, headers=bearer(access))).json()["tags"] == [*before, "物流延误"]
    bad = await client.post(url, json={"tags": ["x" * 21]}, headers=bearer(access))
    assert (bad.status_code, bad.json()["error"]) == (400, "invalid_request")


async def test_notes_add_list_delete(crm: tuple[httpx.AsyncClient, Any]) -> None:
    client, _ = crm
    access = await token(client)
    person = people()[7]
    url = f"/api/v1/contacts/{person.crm_id}/notes"
    count = (await client.get(url, headers=bearer(access))).json()["total"]
    r = await client.post(url, json={"content": "客户来电：催发货，已加急。", "author": "王小燕"},
                          headers=bearer(access))
    assert r.status_code == 201
    note = r.json()
    listed = (await client.get(url, headers=bearer(access))).json()
    assert listed["total"] == count + 1
    assert listed["data"][0] == note  # newest first
    assert (await client.delete(f"{url}/{note['id']}", headers=bearer(access))).status_code == 204
    assert (await client.get(url, headers=bearer(access))).json()["total"] == count
    empty = await client.post(url, json={"content": "  "}, headers=bearer(access))
    assert empty.status_code == 400


async def test_a_read_only_token_cannot_write(crm: tuple[httpx.AsyncClient, Any]) -> None:
    client, _ = crm
    access = await token(client, scope="contacts.read")
    person = people()[1]
    r = await client.post(f"/api/v1/contacts/{person.crm_id}/tags", json={"tag": "x"},
                          headers=bearer(access))
    assert (r.status_code, r.json()["error"]) == (403, "insufficient_scope")
