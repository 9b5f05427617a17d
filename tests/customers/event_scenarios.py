"""Event scenarios of the customer events (contract: tests/events/test_every_event.py).

Each drives the customer API as an organisation's owner and asserts the outbox row it wrote.
"""

from __future__ import annotations

from typing import Any

import httpx
from conftest import Org, login
from customers_support import BASE, add_identity, create, outbox

from relaydesk.events.models import OutboxEvent
from relaydesk.kit.db import Database


def _only(rows: list[OutboxEvent]) -> OutboxEvent:
    assert len(rows) == 1, [(r.type, r.payload) for r in rows]
    return rows[0]


def _by_user(row: OutboxEvent, org: Org) -> None:
    assert row.source == {"kind": "customers", "actor_type": "user",
                          "actor_id": str(org.users["owner"])}  # fmt: skip


async def customer_created(client: httpx.AsyncClient, db: Database, org_a: Org) -> None:
    customer = await create(client, await login(client, org_a, "owner"))
    row = _only(await outbox(db, org_a.id, "customer.created"))
    assert row.key == customer["id"]
    assert row.payload["customer_id"] == customer["id"]
    assert (row.payload["name"], row.payload["phone"]) == ("张伟", "+8613812345678")
    assert {"name", "phone", "email", "attributes", "identities"} <= set(row.payload["changed"])
    _by_user(row, org_a)


async def customer_updated(client: httpx.AsyncClient, db: Database, org_a: Org) -> None:
    owner = await login(client, org_a, "owner")
    customer = await create(client, owner)
    r = await client.patch(f"{BASE}/{customer['id']}", json={"company": "新公司", "tags": ["VIP"]},
                           headers=owner)  # fmt: skip
    assert r.status_code == 200, r.text
    row = _only(await outbox(db, org_a.id, "customer.updated"))
    assert row.key == customer["id"]
    assert row.payload["changed"] == ["company", "tags"] and row.payload["tags"] == ["VIP"]
    _by_user(row, org_a)


async def customer_merged(client: httpx.AsyncClient, db: Database, org_a: Org) -> None:
    owner = await login(client, org_a, "owner")
    survivor = await create(client, owner)
    duplicate = await create(client, owner, name="张伟(微信)", phone="13900001111", email=None,
                             id_number=None, tags=["微信"])  # fmt: skip
    r = await client.post(f"{BASE}/{survivor['id']}/merge", json={"merge_ids": [duplicate["id"]]},
                          headers=owner)  # fmt: skip
    assert r.status_code == 200, r.text
    row = _only(await outbox(db, org_a.id, "customer.merged"))
    assert row.key == survivor["id"]
    expected: dict[str, Any] = {
        "customer_id": survivor["id"],
        "merged_ids": [duplicate["id"]],
        "identities_moved": 1,
        "conflicts": ["phone"],
        "tags": ["VIP", "北京", "微信"],
        "actor_type": "user",
        "actor_id": str(org_a.users["owner"]),
    }
    assert row.payload == expected
    _by_user(row, org_a)


async def customer_split(client: httpx.AsyncClient, db: Database, org_a: Org) -> None:
    owner = await login(client, org_a, "owner")
    customer = await create(client, owner)
    wechat = await add_identity(client, owner, customer["id"], kind="openid", value="oWx-1",
                                namespace="wx1234567890abcdef")  # fmt: skip
    r = await client.post(f"{BASE}/{customer['id']}/split",
                          json={"identity_ids": [wechat["id"]], "name": "微信用户"},
                          headers=owner)  # fmt: skip
    assert r.status_code == 201, r.text
    row = _only(await outbox(db, org_a.id, "customer.split"))
    assert row.key == customer["id"]
    assert row.payload == {
        "customer_id": customer["id"],
        "new_customer_id": r.json()["id"],
        "identity_ids": [wechat["id"]],
        "identity_kinds": ["openid"],
        "actor_type": "user",
        "actor_id": str(org_a.users["owner"]),
    }
    _by_user(row, org_a)


SCENARIOS = {
    "customer.created": customer_created,
    "customer.updated": customer_updated,
    "customer.merged": customer_merged,
    "customer.split": customer_split,
}
