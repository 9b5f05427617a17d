"""Personal data typed into a customer's free-text fields is masked for roles without pii.view.

A visitor who types a mobile number as their name, an agent who writes it into a tag or the
company field, or another system that maps it into an attribute: ``GET /customers`` must not
hand the clear number to an agent, while the owner (``customers.pii.view``) still sees it.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
from conftest import Org, login
from customers_support import BASE

#: the browser suite's CLEAR_MOBILE (frontend/e2e/helpers.ts)
CLEAR_MOBILE = re.compile(r"(?<![\d*])(?:\+?86)?1[3-9]\d{9}(?![\d*])")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

FREE_TEXT: dict[str, Any] = {
    "name": "13912345678",
    "company": "联系人 王经理 +86 139 1234 5678",
    "tags": ["回访 13912345678", "VIP"],
    "attributes": {
        "note": "请拨打13912345678或发邮件 wang.li@example.cn",
        "backup_mobile": 13912345678,
        "contacts": [{"mobile": "139-1234-5678", "level": 2}],
        "order_count": 12,
        "newsletter": True,
    },
}


def clear_mobiles(text: str) -> list[str]:
    return [m.group(0) for m in CLEAR_MOBILE.finditer(UUID.sub("<id>", text))]


async def test_mobile_in_name_company_tags_and_attributes_is_masked_for_an_agent(
    client: httpx.AsyncClient, org_a: Org
) -> None:
    owner = await login(client, org_a, "owner")
    created = await client.post(BASE, json=FREE_TEXT, headers=owner)
    assert created.status_code == 201, created.text
    url = f"{BASE}/{created.json()['id']}"

    agent = await login(client, org_a, "agent")
    listed = await client.get(BASE, params={"limit": 20}, headers=agent)
    one = await client.get(url, headers=agent)
    for response in (listed, one):
        assert response.status_code == 200, response.text
        assert clear_mobiles(response.text) == []
        assert "wang.li@example.cn" not in response.text
    item = one.json()
    assert item["name"] == "139****5678"
    assert item["company"] == "联系人 王经理 +86 139****5678"
    assert item["tags"] == ["回访 139****5678", "VIP"]
    assert item["attributes"] == {
        "note": "请拨打139****5678或发邮件 w***i@example.cn",
        "backup_mobile": "139****5678",
        "contacts": [{"mobile": "139****5678", "level": 2}],
        "order_count": 12,
        "newsletter": True,
    }
    assert listed.json()["items"][0]["name"] == "139****5678"


async def test_owner_with_pii_view_sees_the_free_text_as_written(
    client: httpx.AsyncClient, org_a: Org
) -> None:
    owner = await login(client, org_a, "owner")
    created = await client.post(BASE, json=FREE_TEXT, headers=owner)
    assert created.status_code == 201, created.text
    got = (await client.get(f"{BASE}/{created.json()['id']}", headers=owner)).json()
    assert got["masked"] is False
    assert {k: got[k] for k in FREE_TEXT} == FREE_TEXT


async def test_an_agent_saving_what_they_read_keeps_the_stored_values(
    client: httpx.AsyncClient, org_a: Org
) -> None:
    """The agent's edit form sends the masked values back with its one real change: the
    stored values stay as written, and only the change is applied."""
    owner = await login(client, org_a, "owner")
    body = {**FREE_TEXT, "phone": "13912345678", "email": "wang.li@example.cn"}
    created = await client.post(BASE, json=body, headers=owner)
    assert created.status_code == 201, created.text
    url = f"{BASE}/{created.json()['id']}"
    agent = await login(client, org_a, "agent")
    seen = (await client.get(url, headers=agent)).json()
    assert seen["phone"] != "13912345678" and seen["name"] == "139****5678"
    # (a masked phone or e-mail sent back is refused as invalid, so forms leave them out)
    echo = {k: seen[k] for k in ("name", "company", "attributes")}
    echo["tags"] = [*seen["tags"], "已回访"]
    echo["attributes"] = {**seen["attributes"], "order_count": 13}
    saved = await client.patch(url, json=echo, headers=agent)
    assert saved.status_code == 200, saved.text
    stored = (await client.get(url, headers=owner)).json()
    assert stored["tags"] == [*FREE_TEXT["tags"], "已回访"]
    assert stored["attributes"] == {**FREE_TEXT["attributes"], "order_count": 13}
    for name in ("name", "company"):
        assert stored[name] == FREE_TEXT[name]
    assert (stored["phone"], stored["email"]) == ("+8613912345678", "wang.li@example.cn")
