"""Customer 360 panels against the real demo systems on loopback: four panels from four
systems, masking by role, the cache and its freshness labels, a stopped system, a slow
system, a forbidden panel, and a customer the panels do not apply to."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from c360_support import (
    API,
    READS,
    ZHANG_MOBILE,
    Systems,
    add_panels,
    connect,
    count,
    customer,
    grant,
    panels,
    systems,
    wire,
)
from conftest import Org, login
from sqlalchemy import select

from relaydesk.audit.models import AuditEntry
from relaydesk.customers.resolution import IdentityClaim, resolve
from relaydesk.demo_systems.orders import create_orders_app
from relaydesk.demo_systems.runner import start_server
from relaydesk.integrations.models import ConnectorCall
from relaydesk.kit.db import Database

__all__ = ["systems"]  # the module-scoped fixture

WAYBILL = "YT5974940606424"  # 张伟's shipped order YQ20261118001234


@pytest.fixture
def c360_app(app: Any) -> Any:
    return wire(app)


@pytest.fixture
async def desk(
    client: httpx.AsyncClient, c360_app: Any, org_a: Org, systems: Systems
) -> dict[str, Any]:
    """Org A connected to the demo systems, the demo panels, an agent allowed the reads."""
    owner = await login(client, org_a, "owner")
    ids = await connect(client, owner, systems.urls)
    await add_panels(client, owner)
    await grant(client, owner, org_a.users["agent"], "agent", list(READS.values()), "desk")
    return {"owner": owner, "agent": await login(client, org_a, "agent"), "ids": ids,
            "customer": await customer(client, owner)}  # fmt: skip


async def test_four_panels_from_four_systems_masked_for_an_agent_clear_for_the_owner(
    client: httpx.AsyncClient, desk: dict[str, Any], db: Database, org_a: Org, systems: Systems
) -> None:
    shown = await panels(client, desk["agent"], desk["customer"])
    assert list(shown) == ["orders", "logistics", "membership", "crm"]
    assert {k: p["state"] for k, p in shown.items()} == dict.fromkeys(shown, "ok"), shown["crm"]
    orders = shown["orders"]
    assert orders["title"] == {"zh": "最近订单", "en": "Latest orders"} and orders["many"]
    assert [o["order_no"] for o in orders["data"]][:4] == [
        "YQ20261120001851",
        "YQ20261118001420",
        "YQ20261118001234",
        "YQ20261022000640",
    ]
    assert set(orders["data"][0]) == {f["path"] for f in orders["fields"]}, "only the fields"
    assert orders["masked"] and orders["data"][2]["receiver_phone"] == "139****4964"
    tracking = shown["logistics"]["data"]
    assert tracking["tracking_no"] == WAYBILL and tracking["events"], "the latest shipment"
    member = shown["membership"]["data"]
    assert member["tier"] == "normal" and isinstance(member["points"], int)
    crm = shown["crm"]["data"]
    assert len(crm) == 1 and crm[0]["tier_label"] == "普通" and crm[0]["tags"] == []
    for panel in shown.values():
        assert panel["cached"] is False and panel["fetched_at"] and panel["call_id"]

    owner_view = await panels(client, desk["owner"], desk["customer"])
    assert owner_view["orders"]["data"][2]["receiver_phone"] == ZHANG_MOBILE
    assert owner_view["orders"]["masked"] is False
    assert all(p["cached"] for p in owner_view.values()), "served from the panel cache"
    assert owner_view["orders"]["fetched_at"] == orders["fetched_at"]

    # every panel read is in the call log and audited, cache hits included
    calls = await count(db, org_a.id, ConnectorCall)
    assert calls == 8
    async with db.job(org_a.id) as session:
        rows = (await session.scalars(select(AuditEntry).where(
            AuditEntry.action == "connector.action_called"))).all()  # fmt: skip
    assert len(rows) == 8
    assert ZHANG_MOBILE not in str([r.details for r in rows]), "parameters masked"
    assert sorted(r.details["cached"] for r in rows) == [False] * 4 + [True] * 4

    # one panel, from the cache; refresh asks the system again
    before = systems.switches["crm"].requests
    again = await panels(client, desk["agent"], desk["customer"], "crm")
    assert list(again) == ["crm"] and again["crm"]["cached"] is True
    assert systems.switches["crm"].requests == before, "the CRM was not asked again"
    fresh = await panels(client, desk["agent"], desk["customer"], "crm", refresh="true")
    assert fresh["crm"]["cached"] is False and fresh["crm"]["state"] == "ok"
    assert fresh["crm"]["fetched_at"] > shown["crm"]["fetched_at"]
    assert systems.switches["crm"].requests > before
    r = await client.get(f"{API}/customers/{desk['customer']}/panels/nope", headers=desk["agent"])
    assert r.status_code == 404


async def test_a_stopped_system_fails_soft_unavailable_then_stale_from_the_cache(
    client: httpx.AsyncClient, c360_app: Any, org_a: Org, systems: Systems
) -> None:
    own_orders = await start_server(create_orders_app(), "127.0.0.1", 0, "orders-c360")
    owner = await login(client, org_a, "owner")
    await connect(client, owner, {**systems.urls, "orders": own_orders.url})
    await add_panels(client, owner)
    zhang = await customer(client, owner)
    other = await customer(client, owner, name="王芳", phone="15049726814")
    warm = await panels(client, owner, zhang)
    assert warm["orders"]["state"] == "ok"
    await own_orders.stop()

    started = time.perf_counter()
    cold = await panels(client, owner, other)
    assert time.perf_counter() - started < 5
    assert cold["orders"]["state"] == "unavailable"
    assert cold["orders"]["error"]["code"] == "connection_failed"
    assert cold["orders"]["error"]["class"] == "retry" and cold["orders"]["data"] is None
    assert cold["logistics"]["state"] == "not_applicable"
    assert cold["logistics"]["missing"] == ["source:orders"]
    assert cold["membership"]["state"] == "ok" and cold["crm"]["state"] == "ok"
    assert cold["membership"]["data"]["tier"] == "silver", "王芳's own membership"

    stale = await panels(client, owner, zhang, "orders", refresh="true")
    assert stale["orders"]["state"] == "stale"
    assert stale["orders"]["stale"] is True and stale["orders"]["cached"] is True
    assert stale["orders"]["fetched_at"] == warm["orders"]["fetched_at"]
    assert stale["orders"]["error"]["code"] in ("connection_failed", "circuit_open")
    assert stale["orders"]["data"] == warm["orders"]["data"], "the last good answer"


async def test_a_slow_system_is_cut_by_the_panel_timeout(
    client: httpx.AsyncClient, desk: dict[str, Any], systems: Systems
) -> None:
    r = await client.patch(f"{API}/customer-panels/crm", headers=desk["owner"],
                           json={"timeout_seconds": 0.3})  # fmt: skip
    assert r.status_code == 200, r.text
    systems.switches["crm"].delay = 2.0
    try:
        started = time.perf_counter()
        shown = await panels(client, desk["agent"], desk["customer"])
        elapsed = time.perf_counter() - started
    finally:
        systems.switches["crm"].delay = 0.0
    assert elapsed < 1.5, "the panels did not wait for the slow CRM"
    assert shown["crm"]["state"] == "unavailable"
    assert shown["crm"]["error"]["code"] == "timeout"
    assert shown["crm"]["error"]["kind"] == "transient"
    assert [shown[k]["state"] for k in ("orders", "logistics", "membership")] == ["ok"] * 3


async def test_forbidden_and_not_applicable_panels_are_not_fetched(
    client: httpx.AsyncClient, desk: dict[str, Any], org_a: Org, db: Database
) -> None:
    partial = [p for k, p in READS.items() if k != "membership"]
    await grant(client, desk["owner"], org_a.users["supervisor"], "supervisor", partial, "part")
    supervisor = await login(client, org_a, "supervisor")
    shown = await panels(client, supervisor, desk["customer"])
    assert shown["membership"]["state"] == "forbidden"
    assert shown["membership"]["missing"] == [READS["membership"]]
    assert shown["membership"]["data"] is None and shown["membership"]["call_id"] is None
    assert [shown[k]["state"] for k in ("orders", "logistics", "crm")] == ["ok"] * 3
    assert await count(db, org_a.id, ConnectorCall) == 3, "the membership base was not asked"

    reader = await login(client, org_a, "read-only")  # customers.read, no connector actions
    shown = await panels(client, reader, desk["customer"])
    assert {p["state"] for p in shown.values()} == {"forbidden"}
    # the tracking panel needs the orders permission too: its waybill comes from there
    assert shown["logistics"]["missing"] == [READS["logistics"], READS["orders"]]

    owner = desk["owner"]
    no_phone = await customer(client, owner, name="访客", phone=None)
    shown = await panels(client, owner, no_phone)
    assert {k: (p["state"], p["missing"]) for k, p in shown.items()} == {
        "orders": ("not_applicable", ["mobile"]),
        "logistics": ("not_applicable", ["source:orders"]),
        "membership": ("not_applicable", ["mobile"]),
        "crm": ("not_applicable", ["mobile"]),
    }
    # a phone a web visitor typed (unverified, not entered by staff) fetches nothing
    async with db.job(org_a.id) as session:
        visitor = await resolve(
            session, org_a.id,
            [IdentityClaim("visitor", "v-c360-1", verified=True),
             IdentityClaim("phone", "15049726814", verified=False)],
            verified=True, source="webchat", name="网页访客",
        )  # fmt: skip
        visitor_id = str(visitor.customer.id)
    shown = await panels(client, owner, visitor_id)
    assert shown["orders"]["state"] == "not_applicable"
    assert shown["membership"]["missing"] == ["mobile"]
    assert await count(db, org_a.id, ConnectorCall) == 3, "nothing more was fetched"

    # parameters from the customer's external ids (the CRM contact id)
    r = await client.post(f"{API}/customer-panels", headers=owner, json={
        "key": "crm_contact", "title_zh": "CRM 联系人", "title_en": "CRM contact",
        "instance": "crm", "action": "get_contact",
        "params": {"contact_id": "{{ customer.external.crm.contact }}"},
        "fields": [{"path": "id"}, {"path": "tags"}, {"path": "name"}], "position": 50,
    })  # fmt: skip
    assert r.status_code == 201, r.text
    r = await client.post(f"{API}/customers/{desk['customer']}/identities", headers=owner,
                          json={"kind": "external", "namespace": "crm:contact",
                                "value": "C010001", "verified": True})  # fmt: skip
    assert r.status_code == 201, r.text
    shown = await panels(client, owner, desk["customer"], "crm_contact")
    contact = shown["crm_contact"]
    assert contact["state"] == "ok", contact
    assert contact["data"] == {"id": "C010001", "tags": [], "name": "张伟"}
    # the agent was not given get_contact
    shown = await panels(client, desk["agent"], desk["customer"], "crm_contact")
    assert shown["crm_contact"]["state"] == "forbidden"
