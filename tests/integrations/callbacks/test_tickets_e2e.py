"""End to end over real sockets: the demo legacy ticket system sends its signed status callbacks
to Relaydesk served by uvicorn; the inbox stores them once and processes them in order."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from conftest import Org
from fastapi import FastAPI
from hooks_support import inbox_rows, make_instance, mount_hooks, outbox_events

from relaydesk.config import Settings
from relaydesk.demo_systems import credentials
from relaydesk.demo_systems.runner import start_server
from relaydesk.demo_systems.tickets import TicketsConfig, create_tickets_app
from relaydesk.demo_systems.tickets_callbacks import signature
from relaydesk.integrations.inbox import process_pending
from relaydesk.kit.db import Database

TOKEN = {"X-Api-Token": credentials.TICKETS_API_TOKEN}


@contextlib.asynccontextmanager
async def serve_relaydesk(app: FastAPI) -> AsyncIterator[str]:
    """Relaydesk on a free loopback port (lifespan off: the test owns the database)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, lifespan="off", log_config=None, access_log=False)
    server = uvicorn.Server(config)
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


@dataclass
class Systems:
    tickets: httpx.AsyncClient
    state: Any
    hook: str

    async def drain(self) -> None:
        await self.state.sender.drain(10)


@pytest.fixture
async def systems(app: FastAPI, db: Database, settings: Settings, org_a: Org) -> AsyncIterator[
    Systems
]:
    mount_hooks(app)
    await make_instance(db, settings, org_a.id, config={
        "callback_secret": credentials.TICKETS_CALLBACK_SECRET})  # fmt: skip
    tickets_app = create_tickets_app(TicketsConfig(retry_delays=(0.05, 0.05, 0.05)))
    server = await start_server(tickets_app, "127.0.0.1", 0, "tickets")
    try:
        async with serve_relaydesk(app) as relaydesk_url, httpx.AsyncClient(
            base_url=server.url, headers=TOKEN
        ) as client:
            hook = f"{relaydesk_url}/hooks/{org_a.slug}/tickets/ticket_status_changed"
            r = await client.put("/admin/callback", json={"url": hook})
            assert r.status_code == 200, r.text
            yield Systems(client, tickets_app.state.tickets, hook)
    finally:
        await server.stop()


async def new_ticket(systems: Systems) -> str:
    r = await systems.tickets.post("/tickets", data={
        "customerMobile": "13912345678", "customerName": "李娜", "title": "快递一直没到",
        "content": "订单显示已发货五天", "category": "物流查询"})  # fmt: skip
    assert r.status_code == 201, r.text
    return str(r.json()["data"]["ticketNo"])


async def test_a_status_change_in_the_ticket_system_lands_in_the_inbox_once(
    systems: Systems, db: Database, org_a: Org
) -> None:
    ticket_no = await new_ticket(systems)
    r = await systems.tickets.patch(f"/tickets/{ticket_no}", json={"status": "PROCESSING"})
    assert r.status_code == 200, r.text
    await systems.drain()

    (row,) = await inbox_rows(db, org_a.id)
    assert (row.event_type, row.entity_key, row.entity_version) == (
        "ticket.status_changed", ticket_no, "2")
    assert row.payload["newStatus"] == "PROCESSING"
    assert row.status == "pending"

    # the ticket system saw 202 on the first attempt
    (delivery,) = (await systems.tickets.get("/admin/deliveries")).json()["data"]
    assert delivery["delivered"] is True
    assert [a["status"] for a in delivery["attempts"]] == [202]

    # its operator resends the last callback (same event id, fresh signature): a duplicate
    r = await systems.tickets.post(f"/admin/tickets/{ticket_no}/resend-last")
    assert r.status_code == 200, r.text
    await systems.drain()
    assert len(await inbox_rows(db, org_a.id)) == 1
    deliveries = (await systems.tickets.get("/admin/deliveries")).json()["data"]
    assert [a["status"] for a in deliveries[-1]["attempts"]] == [200]


async def test_out_of_order_callbacks_from_the_ticket_system(
    systems: Systems, db: Database, org_a: Org
) -> None:
    ticket_no = await new_ticket(systems)
    r = await systems.tickets.post(f"/admin/tickets/{ticket_no}/out-of-order",
                                   json={"statuses": ["PROCESSING", "RESOLVED"]})  # fmt: skip
    assert r.json()["data"]["sentOrder"] == [3, 2]  # newest first
    await systems.drain()
    assert await process_pending(db) == 2
    rows = await inbox_rows(db, org_a.id)
    assert [(r.entity_version, r.status) for r in rows] == [("3", "done"), ("2", "stale")]
    events = await outbox_events(db, org_a.id)
    assert [(e.type, e.key, e.payload["status"], e.payload["version"]) for e in events] == [
        ("ticket.status_changed", ticket_no, "solved", 3)
    ]


async def test_a_replayed_request_outside_the_window_is_refused(
    systems: Systems, db: Database, org_a: Org
) -> None:
    ticket_no = await new_ticket(systems)
    await systems.tickets.patch(f"/tickets/{ticket_no}", json={"status": "PROCESSING"})
    await systems.drain()
    delivery = systems.state.sender.last_by_ticket[ticket_no]
    captured = dict(delivery.last_headers)
    stamp = str(int(captured["X-Ticket-Timestamp"]) - 600)
    async with httpx.AsyncClient() as client:
        # the captured request with only its timestamp changed: the signature no longer matches
        r = await client.post(systems.hook, content=delivery.body,
                              headers={**captured, "X-Ticket-Timestamp": stamp})  # fmt: skip
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "invalid_signature"
        # correctly signed by the ticket system's own signer, but ten minutes old
        signed = signature(credentials.TICKETS_CALLBACK_SECRET, stamp, delivery.body)
        r = await client.post(systems.hook, content=delivery.body, headers={
            **captured, "X-Ticket-Timestamp": stamp, "X-Ticket-Signature": signed})  # fmt: skip
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "timestamp_out_of_tolerance"
    assert len(await inbox_rows(db, org_a.id)) == 1
