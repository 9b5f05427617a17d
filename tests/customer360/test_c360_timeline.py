"""The customer timeline: messages on every channel, call records, internal notes, external
events linked by the ``customer360.timeline`` consumer, merged customers, masking, cursors,
and the linking rules."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from c360_support import API, ZHANG_MOBILE, customer, wire
from conftest import Org, login

from relaydesk.audit.service import SYSTEM
from relaydesk.conversations.models import Inbox
from relaydesk.conversations.service import ConversationService
from relaydesk.customer360.consumers import CONSUMER
from relaydesk.customer360.models import CustomerEvent
from relaydesk.customers.models import Customer
from relaydesk.customers.resolution import IdentityClaim, resolve
from relaydesk.events.dispatch import Dispatcher
from relaydesk.events.outbox import emit
from relaydesk.kit.db import Database

ORDERS_SOURCE = {"kind": "callback", "connector": "orders", "instance": "orders",
                 "callback": "order_status"}  # fmt: skip
SHIPPED = {"order_no": "YQ20261118001234", "status": "shipped", "customer_id": "880000000",
           "customer_phone": ZHANG_MOBILE, "carrier": "圆通速递",
           "tracking_no": "YT5974940606424", "receiver_name": "张伟",
           "receiver_phone": "13800000000"}  # fmt: skip


@pytest.fixture
def c360_app(app: Any) -> Any:
    return wire(app)


async def inbox(db: Database, org: Org, channel: str = "web_chat") -> uuid.UUID:
    async with db.job(org.id) as session:
        row = Inbox(tenant_id=org.id, name=f"{channel} 客服", channel=channel)
        session.add(row)
        await session.flush()
        return row.id


async def says(db: Database, org: Org, inbox_id: uuid.UUID, customer_id: str, text: str,
               **kwargs: Any) -> uuid.UUID:  # fmt: skip
    """What a channel does with an inbound message (or call record); the conversation id."""
    async with db.job(org.id) as session:
        box = await session.get(Inbox, inbox_id)
        who = await session.get(Customer, uuid.UUID(customer_id))
        assert box is not None and who is not None
        conversation, _, _ = await ConversationService(session, SYSTEM).receive(
            box, who, text, **kwargs
        )
        return conversation.id


async def event(db: Database, org: Org, event_type: str, payload: dict[str, Any],
                source: dict[str, Any] | None = None) -> uuid.UUID:  # fmt: skip
    """An event emitted (as the callback inbox does), then delivered to the consumer."""
    async with db.job(org.id) as session:
        envelope = await emit(
            session,
            event_type,
            payload,
            tenant_id=org.id,
            source=source if source is not None else ORDERS_SOURCE,
        )
    await Dispatcher(db).deliver(CONSUMER, [envelope])
    return envelope.id


async def timeline(client: httpx.AsyncClient, headers: dict[str, str], customer_id: str,
                   **params: Any) -> dict[str, Any]:  # fmt: skip
    r = await client.get(f"{API}/customers/{customer_id}/timeline", headers=headers,
                         params=params)  # fmt: skip
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_one_timeline_across_channels_with_notes_calls_and_linked_events(
    client: httpx.AsyncClient, c360_app: Any, db: Database, org_a: Org
) -> None:
    owner = await login(client, org_a, "owner")
    zhang = await customer(client, owner)
    other = await customer(client, owner, name="王芳", phone="15049726814")
    chat, sms = await inbox(db, org_a), await inbox(db, org_a, "sms")
    first = await says(db, org_a, chat, zhang, f"我的手机 {ZHANG_MOBILE}，订单还没到")
    r = await client.post(f"{API}/conversations/{first}/messages", headers=owner,
                          json={"text": "您好，马上为您查询"})  # fmt: skip
    assert r.status_code == 201, r.text
    r = await client.post(f"{API}/conversations/{first}/messages", headers=owner,
                          json={"text": "客户情绪激动，优先处理", "private": True})  # fmt: skip
    assert r.status_code == 201, r.text
    await says(db, org_a, sms, zhang, "来电", content_type="call",
               content={"from": ZHANG_MOBILE, "duration_seconds": 95,
                        "recording_url": "https://rec.example.com/1.mp3"})  # fmt: skip
    await says(db, org_a, chat, other, "王芳的消息")
    shipped = await event(db, org_a, "order.shipped", SHIPPED)
    await event(db, org_a, "order.shipped", {**SHIPPED, "order_no": "YQ1", "customer_id": "1",
                                             "customer_phone": "13700000000"})  # fmt: skip

    page = await timeline(client, owner, zhang)
    assert [i["kind"] for i in page["items"]] == ["event", "call", "note", "message", "message"]
    assert page["next_cursor"] is None
    ev, call, note, reply, inbound = page["items"]
    assert (ev["event_id"], ev["event_type"], ev["source"]) == (str(shipped), "order.shipped",
                                                                 "orders")  # fmt: skip
    assert ev["matched_by"] == "phone" and ev["payload"]["customer_phone"] == ZHANG_MOBILE
    assert (call["channel"], call["content"]["duration_seconds"]) == ("sms", 95)
    assert (note["direction"], note["body"]) == ("internal", "客户情绪激动，优先处理")
    assert (reply["direction"], reply["author_type"]) == ("out", "agent")
    assert inbound["direction"] == "in" and ZHANG_MOBILE in inbound["body"]
    assert inbound["conversation_id"] == str(first) and inbound["channel"] == "web_chat"
    assert not any(i["masked"] for i in page["items"])

    # an agent: personal data masked, in text, call details and the event's payload
    masked = (await timeline(client, await login(client, org_a, "agent"), zhang))["items"]
    assert [i["kind"] for i in masked] == ["event", "call", "note", "message", "message"]
    assert masked[0]["payload"]["customer_phone"] == "139****4964"
    assert masked[0]["payload"]["receiver_name"] == "张*"
    assert masked[1]["content"]["from"] == "139****4964"
    assert ZHANG_MOBILE not in str(masked) and "139****4964" in masked[4]["body"]

    # without conversations.read: no internal notes
    r = await client.post(
        f"{API}/roles",
        headers=owner,
        json={"name": "customer-viewer", "permissions": ["customers.read"]},
    )
    assert r.status_code == 201, r.text
    r = await client.patch(f"{API}/users/{org_a.users['read-only']}", headers=owner,
                           json={"roles": ["customer-viewer"]})  # fmt: skip
    assert r.status_code == 200, r.text
    viewer = await login(client, org_a, "read-only")
    kinds = [i["kind"] for i in (await timeline(client, viewer, zhang))["items"]]
    assert kinds == ["event", "call", "message", "message"]

    only = await timeline(client, owner, zhang, kind=["event", "call"])
    assert [i["kind"] for i in only["items"]] == ["event", "call"]


async def test_pages_follow_the_cursor_newest_first_without_gaps(
    client: httpx.AsyncClient, c360_app: Any, db: Database, org_a: Org
) -> None:
    owner = await login(client, org_a, "owner")
    zhang = await customer(client, owner)
    chat = await inbox(db, org_a)
    for n in range(3):
        await says(db, org_a, chat, zhang, f"消息 {n}")
        await event(db, org_a, "order.paid", {**SHIPPED, "order_no": f"YQ{n}"})
    seen: list[dict[str, Any]] = []
    cursor = None
    for _ in range(4):
        page = await timeline(client, owner, zhang, limit=4,
                              **({"cursor": cursor} if cursor else {}))  # fmt: skip
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 6 and len({i["id"] for i in seen}) == 6
    assert [i["id"] for i in seen] == sorted((i["id"] for i in seen), reverse=True)
    assert [i["payload"]["order_no"] for i in seen if i["kind"] == "event"] == ["YQ2", "YQ1", "YQ0"]
    assert [i["body"] for i in seen if i["kind"] == "message"] == ["消息 2", "消息 1", "消息 0"]


async def test_a_survivor_shows_the_merged_customers_items(
    client: httpx.AsyncClient, c360_app: Any, db: Database, org_a: Org
) -> None:
    owner = await login(client, org_a, "owner")
    survivor = await customer(client, owner)
    duplicate = await customer(client, owner, name="张伟(微信)", phone="13700001111")
    chat = await inbox(db, org_a)
    await says(db, org_a, chat, survivor, "主账号的消息")
    await says(db, org_a, chat, duplicate, "微信号的消息")
    await event(db, org_a, "order.shipped", {**SHIPPED, "customer_phone": "13700001111",
                                             "customer_id": None})  # fmt: skip
    r = await client.post(f"{API}/customers/{survivor}/merge", headers=owner,
                          json={"merge_ids": [duplicate]})  # fmt: skip
    assert r.status_code == 200, r.text
    items = (await timeline(client, owner, survivor))["items"]
    assert [i["kind"] for i in items] == ["event", "message", "message"]
    assert {i["body"] for i in items if i["body"]} == {"主账号的消息", "微信号的消息"}
    assert items[0]["customer_id"] == survivor, "the link moved with the merge"
    r = await client.get(f"{API}/customers/{duplicate}/timeline", headers=owner)
    assert r.status_code == 404 and r.json()["error"]["code"] == "customer_merged"
    # an event for the merged customer's phone now links to the survivor
    await event(db, org_a, "order.delivered", {**SHIPPED, "customer_phone": "13700001111",
                                               "customer_id": None})  # fmt: skip
    assert (await timeline(client, owner, survivor))["items"][0]["event_type"] == "order.delivered"


async def test_events_link_by_trusted_identities_only(
    client: httpx.AsyncClient, c360_app: Any, db: Database, org_a: Org
) -> None:
    owner = await login(client, org_a, "owner")
    zhang = await customer(client, owner, phone=None)
    r = await client.post(f"{API}/customers/{zhang}/identities", headers=owner,
                          json={"kind": "external", "namespace": "orders:buyer",
                                "value": "880000000", "verified": True})  # fmt: skip
    assert r.status_code == 201, r.text
    # the order system's buyer id, from an event the orders instance delivered
    await event(db, org_a, "order.paid", {**SHIPPED, "customer_phone": None})
    # the same id from another system means someone else
    await event(
        db,
        org_a,
        "order.paid",
        {**SHIPPED, "customer_phone": None},
        source={"kind": "callback", "instance": "tickets"},
    )
    # a Relaydesk customer id (custom events)
    await event(
        db,
        org_a,
        "custom.vip_upgraded",
        {"customer_id": zhang, "level": "gold"},
        source={"kind": "api"},
    )
    # the receiver's phone is never used
    await event(db, org_a, "order.shipped", {**SHIPPED, "customer_phone": None,
                                             "customer_id": None,
                                             "receiver_phone": "15049726814"})  # fmt: skip
    # a phone a web visitor typed (unverified) does not pull in the real owner's orders
    async with db.job(org_a.id) as session:
        visitor = await resolve(session, org_a.id, [
            IdentityClaim("visitor", "v-c360-2", verified=True),
            IdentityClaim("phone", "13600001111", verified=False)],
            verified=True, source="webchat")  # fmt: skip
    await event(db, org_a, "order.shipped", {**SHIPPED, "customer_id": None,
                                             "customer_phone": "136 0000 1111"})  # fmt: skip
    items = (await timeline(client, owner, zhang))["items"]
    assert [(i["event_type"], i["matched_by"]) for i in items] == [
        ("custom.vip_upgraded", "customer_id"),
        ("order.paid", "external:orders:buyer"),
    ]
    assert (await timeline(client, owner, str(visitor.customer.id)))["items"] == []
    async with db.job(org_a.id) as session:
        links = (await session.execute(CustomerEvent.__table__.select())).all()
    assert len(links) == 2


async def test_another_tenants_customer_is_not_found(
    client: httpx.AsyncClient, c360_app: Any, org_a: Org, org_b: Org
) -> None:
    zhang = await customer(client, await login(client, org_a, "owner"))
    owner_b = await login(client, org_b, "owner")
    for path in ("timeline", "panels"):
        r = await client.get(f"{API}/customers/{zhang}/{path}", headers=owner_b)
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", r.text
