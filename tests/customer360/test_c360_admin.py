"""Administration of the Customer 360 panels: validation against the connector spec (422
naming the field), permissions, conflicts, audit; the demo organisation's panels; the
template context built from a customer's trusted identities."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import pytest
from c360_support import API, connect, wire
from conftest import Org, login, make_org
from sqlalchemy import select

from relaydesk.audit.models import AuditEntry
from relaydesk.config import Settings
from relaydesk.customer360.context import customer_context
from relaydesk.customers.models import Customer, CustomerIdentity
from relaydesk.demo.panels import DEMO_PANELS, seed_panels
from relaydesk.kit.db import Database

URLS = {"orders": "http://127.0.0.1:9", "logistics": "http://127.0.0.1:9",
        "crm": "http://127.0.0.1:9", "membership": "sqlite+aiosqlite:///:memory:"}  # fmt: skip
ORDERS = {"key": "orders", "title_zh": "最近订单", "title_en": "Latest orders",
          "instance": "orders", "action": "list_orders_by_mobile",
          "params": {"mobile": "{{ customer.phone_national }}"}}  # fmt: skip


@pytest.fixture
async def owner(client: httpx.AsyncClient, app: Any, org_a: Org) -> dict[str, str]:
    wire(app)
    headers = await login(client, org_a, "owner")
    await connect(client, headers, URLS)
    return headers


BAD = [
    ({"instance": "nope"}, ["body", "instance"]),
    ({"action": "request_refund"}, ["body", "action"]),  # panels only read
    ({"action": "no_such_action"}, ["body", "action"]),
    ({"params": {"mobile": "{{ customer.phone }}", "colour": "red"}}, ["body", "params", "colour"]),
    ({"params": {}}, ["body", "params", "mobile"]),
    ({"params": {"mobile": "{{ config.app_secret }}"}}, ["body", "params", "mobile"]),
    ({"params": {"mobile": "{{ source.x }}"}}, ["body", "params", "mobile"]),
    ({"params": {"mobile": "{{ customer.( }}"}}, ["body", "params", "mobile"]),
    ({"params": {"mobile": "{{ customer.phone }}", "page_size": "many"}},
     ["body", "params", "page_size"]),
    ({"fields": [{"path": "order_no"}, {"path": "secret_field"}]}, ["body", "fields", 1, "path"]),
    ({"source_panel": "orders"}, ["body", "source_panel"]),
    ({"source_panel": "ghost"}, ["body", "source_panel"]),
    ({"timeout_seconds": 0}, ["body", "timeout_seconds"]),
]  # fmt: skip


async def test_a_bad_panel_is_refused_naming_the_field(
    client: httpx.AsyncClient, owner: dict[str, str]
) -> None:
    for change, loc in BAD:
        r = await client.post(f"{API}/customer-panels", headers=owner, json={**ORDERS, **change})
        assert r.status_code == 422, (change, r.text)
        assert r.json()["error"]["details"][0]["loc"] == loc, (change, r.text)
    assert (await client.get(f"{API}/customer-panels", headers=owner)).json()["items"] == []


async def test_panels_are_created_changed_ordered_and_deleted_with_audit(
    client: httpx.AsyncClient, owner: dict[str, str], db: Database, org_a: Org
) -> None:
    for body in DEMO_PANELS:
        r = await client.post(f"{API}/customer-panels", headers=owner, json=body)
        assert r.status_code == 201, r.text
    listed = (await client.get(f"{API}/customer-panels", headers=owner)).json()["items"]
    assert [p["key"] for p in listed] == ["orders", "logistics", "membership", "crm"]
    assert listed[1]["source_panel"] == "orders" and listed[1]["instance"] == "logistics"

    r = await client.post(f"{API}/customer-panels", headers=owner, json=DEMO_PANELS[0])
    assert r.status_code == 409 and r.json()["error"]["code"] == "panel_exists"
    r = await client.delete(f"{API}/customer-panels/orders", headers=owner)
    assert r.status_code == 409 and r.json()["error"]["details"] == {"used_by": ["logistics"]}
    # one level of sources only
    r = await client.patch(f"{API}/customer-panels/membership", headers=owner,
                           json={"source_panel": "logistics"})  # fmt: skip
    assert r.status_code == 422, r.text

    r = await client.patch(
        f"{API}/customer-panels/crm",
        headers=owner,
        json={"position": 1, "timeout_seconds": 1.5, "enabled": False},
    )
    assert r.status_code == 200, r.text
    assert (r.json()["position"], r.json()["timeout_seconds"], r.json()["enabled"]) == (
        1,
        1.5,
        False,
    )
    r = await client.patch(
        f"{API}/customer-panels/logistics",
        headers=owner,
        json={"source_panel": None, "params": {"waybill_no": "SF1234567890"}},
    )
    assert r.status_code == 200 and r.json()["source_panel"] is None, r.text
    listed = (await client.get(f"{API}/customer-panels", headers=owner)).json()["items"]
    assert [p["key"] for p in listed][:2] == ["crm", "orders"]
    assert (await client.delete(f"{API}/customer-panels/orders", headers=owner)).status_code == 204
    assert (await client.get(f"{API}/customer-panels/orders", headers=owner)).status_code == 404

    # listing needs connectors.read; changing connectors.manage or tenant.manage
    agent = await login(client, org_a, "agent")
    assert (await client.get(f"{API}/customer-panels", headers=agent)).status_code == 200
    r = await client.patch(f"{API}/customer-panels/crm", headers=agent, json={"position": 3})
    assert r.status_code == 403, r.text
    assert r.json()["error"]["details"]["missing"] == ["connectors.manage", "tenant.manage"]
    admin = await login(client, org_a, "admin")  # holds connectors.manage
    r = await client.patch(f"{API}/customer-panels/crm", headers=admin, json={"position": 3})
    assert r.status_code == 200, r.text

    async with db.job(org_a.id) as session:
        actions = (
            await session.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.action.startswith("customer360."))
                .order_by(AuditEntry.seq)
            )
        ).all()
    assert actions == ["customer360.panel_created"] * 4 + ["customer360.panel_updated"] * 2 + [
        "customer360.panel_deleted",
        "customer360.panel_updated",
    ]


async def test_the_demo_organisation_gets_its_four_panels_once(
    client: httpx.AsyncClient, app: Any, db: Database, settings: Settings
) -> None:
    demo = await make_org(db, "demo", roles=("owner",))
    await connect(client, await login(client, demo, "owner"), URLS)
    assert await seed_panels(db, settings) == ["orders", "logistics", "membership", "crm"]
    assert await seed_panels(db, settings) == []


def test_templates_see_only_trusted_identities() -> None:
    customer = Customer(id=uuid.uuid4(), name="张伟", tags=["VIP"], attributes={"level": 3})

    def identity(kind: str, value: str, namespace: str = "", verified: bool = False,
                 origin: str = "staff") -> CustomerIdentity:  # fmt: skip
        return CustomerIdentity(id=uuid.uuid4(), kind=kind, namespace=namespace, value=value,
                                verified=verified, origin=origin,
                                created_at=dt.datetime.now(dt.UTC))  # fmt: skip

    context = customer_context(customer, [
        identity("phone", "+8613600001111", origin="contact"),  # typed by a visitor
        identity("phone", "+8613937704964", verified=True, origin="contact"),
        identity("external", "C010001", "crm:contact", verified=True),
        identity("external", "880000000", "orders"),
        identity("openid", "o-123", "wx-app", verified=True),
        identity("email", "zhang@example.com"),
    ])  # fmt: skip
    assert (context["phone"], context["phone_national"]) == ("+8613937704964", "13937704964")
    assert context["phones"] == ["+8613937704964"]
    assert context["external"] == {"crm": {"contact": "C010001"}, "orders": {"id": "880000000"}}
    assert context["external_ids"] == {"crm:contact": "C010001", "orders": "880000000"}
    assert context["identities"] == {"openid": ["o-123"]}
    assert (context["email"], context["attributes"], context["tags"]) == (
        "zhang@example.com",
        {"level": 3},
        ["VIP"],
    )
