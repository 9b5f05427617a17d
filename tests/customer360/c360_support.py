"""Helpers of the Customer 360 tests: the real demo systems on loopback (orders, logistics and
CRM over HTTP, the membership database in SQLite), the API wired into the test app, the demo
tenant's four connector instances and panels made through the API."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from sqlalchemy import func, select

from relaydesk.connectors import CONNECTORS_DIR
from relaydesk.connectors.demo_instances import ALLOW_NETWORK, demo_config
from relaydesk.customer360.api import router as c360_router
from relaydesk.demo.panels import DEMO_PANELS
from relaydesk.demo_systems.crm import create_crm_app
from relaydesk.demo_systems.logistics import create_logistics_app
from relaydesk.demo_systems.membership import create_membership_db
from relaydesk.demo_systems.orders import create_orders_app
from relaydesk.demo_systems.runner import RunningServer, start_server
from relaydesk.kit.db import Database

API = "/api/v1"
HTTP_SYSTEMS = ("orders", "logistics", "crm")
SYSTEMS = (*HTTP_SYSTEMS, "membership")
#: 张伟: in the order system (a shipped order with waybill YT5974940606424), the CRM
#: (C010001) and the membership database
ZHANG_MOBILE = "13937704964"
READS = {
    "orders": "connector_action:orders.list_orders_by_mobile",
    "logistics": "connector_action:logistics.track_shipment",
    "membership": "connector_action:membership.get_member_by_mobile",
    "crm": "connector_action:crm.find_contact_by_mobile",
}


class Switch:
    """ASGI wrapper: passes requests through, after ``delay`` seconds when set."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.delay = 0.0
        self.requests = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.requests += 1
            if self.delay:
                await asyncio.sleep(self.delay)
        await self.app(scope, receive, send)


@dataclass
class Systems:
    servers: dict[str, RunningServer] = field(default_factory=dict)
    switches: dict[str, Switch] = field(default_factory=dict)
    membership_url: str = ""

    @property
    def urls(self) -> dict[str, str]:
        urls = {name: server.url for name, server in self.servers.items()}
        urls["membership"] = self.membership_url
        return urls


async def start_systems(data_dir: Path) -> Systems:
    systems = Systems(membership_url=f"sqlite+aiosqlite:///{data_dir / 'members.db'}")
    await create_membership_db(systems.membership_url, reset=True)
    apps = {"orders": create_orders_app(), "logistics": create_logistics_app(),
            "crm": create_crm_app()}  # fmt: skip
    for name, app in apps.items():
        switch = systems.switches[name] = Switch(app)
        systems.servers[name] = await start_server(switch, "127.0.0.1", 0, name)
    return systems


async def stop_systems(systems: Systems) -> None:
    await asyncio.gather(*(s.stop() for s in systems.servers.values()))


@pytest.fixture(scope="module")
async def systems(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Systems]:
    """The demo systems, shared by a module's tests (they only read from them)."""
    running = await start_systems(tmp_path_factory.mktemp("c360"))
    try:
        yield running
    finally:
        await stop_systems(running)


def wire(app: FastAPI) -> FastAPI:
    """Serve the Customer 360 routes in the test app (ahead of any catch-all) until
    relaydesk/app.py includes the router."""
    if any(getattr(r, "path", "") == f"{API}/customer-panels" for r in app.router.routes):
        return app
    holder = APIRouter(prefix=API)
    holder.include_router(c360_router)
    before = len(app.router.routes)
    app.include_router(holder)
    added = app.router.routes[before:]
    del app.router.routes[before:]
    app.router.routes[0:0] = added
    app.openapi_schema = None
    return app


def instance_body(name: str, urls: dict[str, str]) -> dict[str, Any]:
    spec = (CONNECTORS_DIR / name / "spec.yaml").read_text(encoding="utf-8")
    return {"name": name, "spec": spec, "config": demo_config(name, urls),
            "allow_network": list(ALLOW_NETWORK)}  # fmt: skip


async def connect(client: httpx.AsyncClient, owner: dict[str, str],
                  urls: dict[str, str]) -> dict[str, str]:  # fmt: skip
    """The four instances (named like the demo's), through the API: name → id."""
    ids = {}
    for name in SYSTEMS:
        r = await client.post(f"{API}/connector-instances", headers=owner,
                              json=instance_body(name, urls))  # fmt: skip
        assert r.status_code == 201, r.text
        ids[name] = r.json()["id"]
    return ids


async def add_panels(client: httpx.AsyncClient, owner: dict[str, str],
                     **changes: dict[str, Any]) -> list[dict[str, Any]]:  # fmt: skip
    """The demo's four panels, through the admin API (``changes[key]`` patches a body)."""
    made = []
    for body in DEMO_PANELS:
        r = await client.post(f"{API}/customer-panels", headers=owner,
                              json={**body, **changes.get(body["key"], {})})  # fmt: skip
        assert r.status_code == 201, r.text
        made.append(r.json())
    return made


async def grant(client: httpx.AsyncClient, owner: dict[str, str], user_id: uuid.UUID,
                base_role: str, permissions: list[str], role: str) -> None:  # fmt: skip
    """Give a user ``base_role`` plus a new role holding ``permissions``."""
    r = await client.post(f"{API}/roles", headers=owner,
                          json={"name": role, "permissions": permissions})  # fmt: skip
    assert r.status_code == 201, r.text
    r = await client.patch(f"{API}/users/{user_id}", headers=owner,
                           json={"roles": [base_role, role]})  # fmt: skip
    assert r.status_code == 200, r.text


async def customer(client: httpx.AsyncClient, owner: dict[str, str], **body: Any) -> str:
    r = await client.post(f"{API}/customers", headers=owner,
                          json={"name": "张伟", "phone": ZHANG_MOBILE, **body})  # fmt: skip
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def panels(client: httpx.AsyncClient, headers: dict[str, str], customer_id: str,
                 key: str | None = None, **params: Any) -> dict[str, dict[str, Any]]:  # fmt: skip
    """The panels of a customer, by key (asserting a 200)."""
    url = f"{API}/customers/{customer_id}/panels" + (f"/{key}" if key else "")
    r = await client.get(url, headers=headers, params=params)
    assert r.status_code == 200, r.text
    return {p["key"]: p for p in r.json()["panels"]}


async def count(db: Database, tenant_id: uuid.UUID, model: Any, *where: Any) -> int:
    async with db.job(tenant_id) as session:
        stmt = select(func.count()).select_from(model).where(*where)
        return int((await session.execute(stmt)).scalar_one())
