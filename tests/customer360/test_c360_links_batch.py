"""The ``customer360.timeline`` consumer on a batch: one delivery of several events links
each exactly as one at a time would (phone, e-mail, both, none), only within the event's
tenant, and a batch delivered again links nothing twice."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from c360_support import API, ZHANG_MOBILE, customer
from conftest import Org, login
from sqlalchemy import select

from relaydesk.customer360.consumers import CONSUMER, handle_batch
from relaydesk.customer360.models import CustomerEvent
from relaydesk.events.dispatch import Dispatcher
from relaydesk.events.envelope import Envelope
from relaydesk.events.outbox import emit
from relaydesk.kit.db import Database

SOURCE = {"kind": "callback", "instance": "orders"}
SHIPPED = {"order_no": "YQ20261118001234", "status": "shipped", "carrier": "圆通速递",
           "tracking_no": "YT5974940606424", "receiver_phone": "13800000000"}  # fmt: skip


async def _emit(db: Database, org: Org, event_type: str, payload: dict[str, Any]) -> Envelope:
    async with db.job(org.id) as session:
        return await emit(session, event_type, payload, tenant_id=org.id, source=SOURCE)


async def _links(db: Database, org: Org) -> dict[uuid.UUID, set[tuple[str, str]]]:
    async with db.job(org.id) as session:
        rows = (await session.execute(select(CustomerEvent))).scalars().all()
    out: dict[uuid.UUID, set[tuple[str, str]]] = {}
    for row in rows:
        assert row.tenant_id == org.id
        out.setdefault(row.event_id, set()).add((str(row.customer_id), row.matched_by))
    return out


async def test_a_batch_links_each_event_as_one_at_a_time_would(
    client: httpx.AsyncClient, db: Database, org_a: Org, org_b: Org
) -> None:
    owner = await login(client, org_a, "owner")
    zhang = await customer(client, owner)
    li = await customer(client, owner, name="李娜", phone=None)
    r = await client.post(f"{API}/customers/{li}/identities", headers=owner,
                          json={"kind": "email", "value": "Li.Na@Example.com",
                                "verified": True})  # fmt: skip
    assert r.status_code == 201, r.text
    # the same phone in another tenant is someone else
    other = await customer(client, await login(client, org_b, "owner"))

    shipped = await _emit(db, org_a, "order.shipped", {**SHIPPED, "customer_phone": ZHANG_MOBILE})
    paid = await _emit(db, org_a, "custom.paid", {"customer_email": "li.na@example.com"})
    both = await _emit(
        db,
        org_a,
        "custom.created",
        {"buyer_phone": f"+86 {ZHANG_MOBILE}", "email": "LI.NA@example.com"},
    )
    nobody = await _emit(db, org_a, "custom.ping", {"phone": "13600001111"})
    batch = [shipped, paid, both, nobody]
    await Dispatcher(db).deliver(CONSUMER, batch)

    links = await _links(db, org_a)
    assert links == {
        shipped.id: {(zhang, "phone")},
        paid.id: {(li, "email")},
        both.id: {(zhang, "phone"), (li, "email")},
    }
    assert other not in {c for found in links.values() for c, _ in found}
    assert await _links(db, org_b) == {}

    # delivered again (processed records skip it) and handed over again: nothing twice
    await Dispatcher(db).deliver(CONSUMER, batch)
    async with db.job(org_a.id) as session:
        assert await handle_batch(session, batch) is None
    assert await _links(db, org_a) == links
