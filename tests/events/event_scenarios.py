"""Event scenarios of the events from existing systems: ``order.*`` and ``ticket.status_changed``.

Each drives the real path: the demo order (or ticket) system, served on loopback, changes an
order (a ticket) through its admin (public) API and sends its signed callback over HTTP to
Relaydesk served by uvicorn; the hook verifies and stores it in the inbox; the inbox processor
maps it and writes the event to the outbox. The scenario then asserts that outbox row. The
contract is described in tests/events/test_every_event.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from conftest import Org
from fastapi import FastAPI
from sqlalchemy import select

from relaydesk.config import Settings
from relaydesk.connectors import CONNECTORS_DIR
from relaydesk.demo_systems import credentials
from relaydesk.demo_systems.orders import OrdersConfig, create_orders_app
from relaydesk.demo_systems.orders_admin import ORDERS_ADMIN_TOKEN
from relaydesk.demo_systems.orders_callbacks import ORDERS_CALLBACK_SECRET
from relaydesk.demo_systems.runner import start_server
from relaydesk.demo_systems.tickets import TicketsConfig, create_tickets_app
from relaydesk.events.models import OutboxEvent
from relaydesk.integrations import secrets
from relaydesk.integrations.inbox import process_pending
from relaydesk.integrations.models import CallbackInbox, ConnectorInstance
from relaydesk.integrations.spec import load_spec_file
from relaydesk.kit.crypto import Keyring
from relaydesk.kit.db import Database
from relaydesk.kit.ids import uuid7

Scenario = Callable[..., Awaitable[None]]


@contextlib.asynccontextmanager
async def serve_relaydesk(app: FastAPI) -> AsyncIterator[str]:
    """Relaydesk on a free loopback port (lifespan off: the test owns the database)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_config=None, access_log=False))
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(10):
            while not server.started:  # noqa: ASYNC110 - uvicorn offers no event
                await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()


async def connect(
    db: Database, settings: Settings, org: Org, system: str, config: Mapping[str, Any]
) -> ConnectorInstance:
    """A connector instance of the prebuilt ``system`` connector (its real spec.yaml)."""
    spec = load_spec_file(Path(CONNECTORS_DIR / system / "spec.yaml"))
    instance = ConnectorInstance(
        id=uuid7(),
        tenant_id=org.id,
        name=system,
        connector=spec.name,
        title=spec.title or "",
        spec=spec.to_document(),
        enabled=True,
        sandbox=False,
        version=1,
    )
    secrets.encrypt_config(Keyring.from_settings(settings), instance, config)
    async with db.job(org.id) as session:
        session.add(instance)
    return instance


async def outbox(db: Database, org: Org, event_type: str) -> list[OutboxEvent]:
    async with db.job(org.id) as session:
        stmt = select(OutboxEvent).where(OutboxEvent.type == event_type).order_by(OutboxEvent.id)
        return list(await session.scalars(stmt))


async def inbox_statuses(db: Database, org: Org) -> list[str]:
    async with db.job(org.id) as session:
        rows = await session.scalars(select(CallbackInbox.status))
        return list(rows)


# --- orders ----------------------------------------------------------------------------------


async def order_event(
    db: Database,
    app: FastAPI,
    settings: Settings,
    org: Org,
    event_type: str,
    change: tuple[str, dict[str, Any] | None],
) -> OutboxEvent:
    """Make the order system push one change to Relaydesk; return the one event it became."""
    instance = await connect(
        db,
        settings,
        org,
        "orders",
        {
            "base_url": "http://127.0.0.1:9",
            "app_key": credentials.ORDERS_APP_KEY,
            "app_secret": credentials.ORDERS_APP_SECRET,
            "callback_secret": ORDERS_CALLBACK_SECRET,
        },
    )
    orders_app = create_orders_app(OrdersConfig(retry_delays=(0.05, 0.05)))
    server = await start_server(orders_app, "127.0.0.1", 0, "orders")
    try:
        async with (
            serve_relaydesk(app) as relaydesk,
            httpx.AsyncClient(
                base_url=server.url, headers={"X-Admin-Token": ORDERS_ADMIN_TOKEN}
            ) as admin,
        ):
            hook = f"{relaydesk}/hooks/{org.slug}/orders/order_status"
            assert (await admin.put("/admin/callback", json={"url": hook})).status_code == 200
            path, body = change
            r = await admin.post(path, json=body)
            assert r.json()["code"] == "0", r.text
            await orders_app.state.orders.sender.drain(10)
            (delivery,) = orders_app.state.orders.sender.deliveries
            assert [a.status for a in delivery.attempts] == [202]  # verified and stored
    finally:
        await server.stop()
    assert await outbox(db, org, event_type) == []  # stored; the event comes with processing
    assert await process_pending(db) == 1
    assert await inbox_statuses(db, org) == ["done"]
    (event,) = await outbox(db, org, event_type)
    message = delivery.message
    assert event.tenant_id == org.id and event.version == 1
    assert event.key == message["data"]["orderNo"] == event.payload["order_no"]
    assert event.payload["version"] == message["version"]
    assert event.source == {
        "kind": "callback",
        "connector": "orders",
        "instance": "orders",
        "instance_id": str(instance.id),
        "callback": "order_status",
        "external_id": message["msgId"],
        "sandbox": False,
    }
    return event


async def order_paid(db: Database, app: FastAPI, settings: Settings, org_a: Org) -> None:
    event = await order_event(
        db, app, settings, org_a, "order.paid", ("/admin/orders/YQ20261120001851/pay", None)
    )
    payload = event.payload
    assert (payload["status"], payload["total"], payload["currency"]) == (
        "awaiting_shipment",
        "546.00",
        "CNY",
    )
    assert payload["paid_at"].endswith("+08:00") and payload["shipped_at"] is None
    assert payload["customer_phone"] == "13937704964"


async def order_shipped(db: Database, app: FastAPI, settings: Settings, org_a: Org) -> None:
    event = await order_event(
        db,
        app,
        settings,
        org_a,
        "order.shipped",
        ("/admin/orders/YQ20261118001420/ship", {"waybillNo": "SF1234567890123"}),
    )
    payload = event.payload
    assert (payload["status"], payload["carrier"], payload["tracking_no"]) == (
        "shipped",
        "顺丰速运",
        "SF1234567890123",
    )
    assert payload["shipped_at"].endswith("+08:00")
    assert payload["receiver_address"] == "四川省成都市武侯区天府大道北段210号3栋4单元423室"


async def order_delivered(db: Database, app: FastAPI, settings: Settings, org_a: Org) -> None:
    event = await order_event(
        db,
        app,
        settings,
        org_a,
        "order.delivered",
        ("/admin/orders/YQ20261118001234/deliver", None),
    )
    payload = event.payload
    assert payload["status"] == "completed" and payload["delivered_at"].endswith("+08:00")
    assert payload["tracking_no"] == "YT5974940606424"


async def order_cancelled(db: Database, app: FastAPI, settings: Settings, org_a: Org) -> None:
    event = await order_event(
        db, app, settings, org_a, "order.cancelled", ("/admin/orders/YQ20261120001870/close", None)
    )
    payload = event.payload
    assert (payload["status"], payload["paid_at"]) == ("closed", None)
    assert payload["closed_at"].endswith("+08:00")


async def order_refunded(db: Database, app: FastAPI, settings: Settings, org_a: Org) -> None:
    event = await order_event(
        db,
        app,
        settings,
        org_a,
        "order.refunded",
        ("/admin/refunds/RF20261120000005/complete", None),
    )
    payload = event.payload
    assert (payload["order_no"], payload["refund_id"], payload["refund_status"]) == (
        "YQ20261118001334",
        "RF20261120000005",
        "refunded",
    )
    assert payload["refund_amount"] == "129.00"


# --- tickets ---------------------------------------------------------------------------------


async def ticket_status_changed(db: Database, app: FastAPI, settings: Settings, org_a: Org) -> None:
    instance = await connect(
        db,
        settings,
        org_a,
        "tickets",
        {
            "base_url": "http://127.0.0.1:9",
            "api_token": credentials.TICKETS_API_TOKEN,
            "callback_secret": credentials.TICKETS_CALLBACK_SECRET,
        },
    )
    tickets_app = create_tickets_app(TicketsConfig(retry_delays=(0.05, 0.05)))
    server = await start_server(tickets_app, "127.0.0.1", 0, "tickets")
    try:
        async with (
            serve_relaydesk(app) as relaydesk,
            httpx.AsyncClient(
                base_url=server.url, headers={"X-Api-Token": credentials.TICKETS_API_TOKEN}
            ) as tickets,
        ):
            hook = f"{relaydesk}/hooks/{org_a.slug}/tickets/ticket_status_changed"
            assert (await tickets.put("/admin/callback", json={"url": hook})).status_code == 200
            r = await tickets.post(
                "/tickets",
                data={
                    "customerMobile": "13912345678",
                    "customerName": "李娜",
                    "title": "快递一直没到",
                    "category": "物流查询",
                    "orderNo": "YQ20261111000933",
                },
            )
            ticket_no = r.json()["data"]["ticketNo"]
            r = await tickets.patch(
                f"/tickets/{ticket_no}", json={"status": "PROCESSING", "operator": "客服-小周"}
            )
            assert r.status_code == 200, r.text
            await tickets_app.state.tickets.sender.drain(10)
    finally:
        await server.stop()
    assert await process_pending(db) == 1
    (event,) = await outbox(db, org_a, "ticket.status_changed")
    payload = event.payload
    assert event.key == ticket_no
    assert (payload["ticket_no"], payload["status"], payload["previous_status"]) == (
        ticket_no,
        "open",
        "new",
    )
    assert (payload["version"], payload["operator"], payload["order_no"]) == (
        2,
        "客服-小周",
        "YQ20261111000933",
    )
    assert payload["updated_at"].endswith("+08:00")
    assert event.source["connector"] == "tickets"
    assert event.source["instance_id"] == str(instance.id)
    assert uuid.UUID(str(event.id)).version == 7


SCENARIOS: dict[str, Scenario] = {
    "order.paid": order_paid,
    "order.shipped": order_shipped,
    "order.delivered": order_delivered,
    "order.cancelled": order_cancelled,
    "order.refunded": order_refunded,
    "ticket.status_changed": ticket_status_changed,
}
