"""`relaydesk demo` end to end for order callbacks: the seeded demo organisation's orders
instance is configured for the order system's pushes; Relaydesk runs as it does in the demo
(uvicorn, lifespan on, so its inbox processor runs); shipping an order in the order system
makes an ``order.shipped`` event arrive in the demo tenant's outbox, once."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import select

from relaydesk.app import create_app
from relaydesk.cli.serve import prepare_database
from relaydesk.config import Settings
from relaydesk.demo.connectors import callback_urls
from relaydesk.demo.seed import DEMO_SLUG, seed_demo
from relaydesk.demo_systems.orders_admin import ORDERS_ADMIN_TOKEN
from relaydesk.demo_systems.runner import free_base_port, running, start_all, stop_all
from relaydesk.events.models import OutboxEvent
from relaydesk.integrations.models import CallbackInbox
from relaydesk.kit.db import Database
from relaydesk.tenancy.models import Tenant


@pytest.fixture
async def demo(tmp_path: Path) -> AsyncIterator[tuple[Settings, httpx.AsyncClient]]:
    settings = Settings(data_dir=tmp_path / "var")
    await prepare_database(settings)
    base = free_base_port()
    await seed_demo(settings, systems_base_port=base)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), log_config=None, access_log=False, lifespan="on")
    )
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    try:
        await start_all("127.0.0.1", base, data_dir=settings.data_dir)
        async with asyncio.timeout(10):
            while not server.started:  # noqa: ASYNC110 - uvicorn offers no event
                await asyncio.sleep(0.01)
        orders = next(s for s in running() if s.name == "orders")
        async with httpx.AsyncClient(
            base_url=orders.url, headers={"X-Admin-Token": ORDERS_ADMIN_TOKEN}
        ) as admin:
            # what `relaydesk demo` tells the order system (the ticket system likewise)
            hook = callback_urls("127.0.0.1", port)["orders"]
            assert hook.endswith(f"/hooks/{DEMO_SLUG}/orders/order_status")
            assert (await admin.put("/admin/callback", json={"url": hook})).status_code == 200
            yield settings, admin
    finally:
        await stop_all()
        server.should_exit = True
        await task
        sock.close()


async def _demo_rows(settings: Settings, model: Any) -> list[Any]:
    db = Database.from_url(settings.database_url)
    try:
        async with db.job(system=True) as session:
            tenant = await session.scalar(select(Tenant.id).where(Tenant.slug == DEMO_SLUG))
            stmt = select(model).where(model.tenant_id == tenant).order_by(model.id)
            return list(await session.scalars(stmt))
    finally:
        await db.dispose()


async def test_shipping_an_order_in_the_demo_makes_order_shipped_arrive(
    demo: tuple[Settings, httpx.AsyncClient],
) -> None:
    settings, admin = demo
    r = await admin.post("/admin/orders/YQ20261118001420/ship", json={"carrier": "YT"})
    assert r.json()["code"] == "0", r.text
    waybill = r.json()["data"]["order"]["logistics"]["waybillNo"]
    events: list[OutboxEvent] = []
    async with asyncio.timeout(10):
        while not events:
            await asyncio.sleep(0.05)
            events = [
                e for e in await _demo_rows(settings, OutboxEvent) if e.type == "order.shipped"
            ]
    (event,) = events
    assert (event.key, event.payload["tracking_no"], event.payload["carrier"]) == (
        "YQ20261118001420",
        waybill,
        "圆通速递",
    )
    assert event.source["instance"] == "orders" and event.source["callback"] == "order_status"

    # the order system resends the message (same msgId): a duplicate, no second event
    assert (await admin.post("/admin/orders/YQ20261118001420/resend-last")).json()["code"] == "0"
    async with asyncio.timeout(10):
        while True:
            log = (await admin.get("/admin/deliveries")).json()["data"]
            if len(log) == 2 and log[1]["attempts"]:
                break
            await asyncio.sleep(0.05)
    assert [d["attempts"][-1]["status"] for d in log] == [202, 200]
    assert [r.status for r in await _demo_rows(settings, CallbackInbox)] == ["done"]
    shipped = [e for e in await _demo_rows(settings, OutboxEvent) if e.type == "order.shipped"]
    assert len(shipped) == 1
