"""`relaydesk demo` end to end: the demo organisation is connected to the six running demo
systems, agents can use the everyday actions (masked), and finance stays closed to them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from relaydesk.app import create_app
from relaydesk.cli.serve import prepare_database
from relaydesk.config import Settings
from relaydesk.demo.seed import DEMO_PASSWORD, DEMO_SLUG, seed_demo
from relaydesk.demo_systems.runner import free_base_port, start_all, stop_all

API = "/api/v1"


@pytest.fixture
async def demo_client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(data_dir=tmp_path / "var")
    await prepare_database(settings)
    base = free_base_port()
    await seed_demo(settings, systems_base_port=base)
    await start_all("127.0.0.1", base, data_dir=settings.data_dir)
    app = create_app(settings)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://demo") as client:
            yield client
    finally:
        await app.state.connectors.aclose()
        await app.state.db.dispose()
        await stop_all()


async def _login(client: httpx.AsyncClient, who: str) -> dict[str, str]:
    r = await client.post(f"{API}/auth/login", json={
        "tenant": DEMO_SLUG, "email": f"{who}@demo.relaydesk.local", "password": DEMO_PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def _instances(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    r = await client.get(f"{API}/connector-instances", headers=headers)
    return {i["name"]: i for i in r.json()["items"]}


async def test_agent_works_with_the_connected_systems(demo_client: httpx.AsyncClient) -> None:
    owner, agent = await _login(demo_client, "owner"), await _login(demo_client, "agent")
    instances = await _instances(demo_client, owner)
    assert set(instances) == {"orders", "logistics", "crm", "membership", "tickets", "finance",
                              "callcenter"}  # fmt: skip
    customer = (await demo_client.get(f"{API}/customers?limit=1", headers=owner)).json()["items"][0]
    mobile = customer["phone"].removeprefix("+86")

    orders = instances["orders"]["id"]
    run = f"{API}/connector-instances/{orders}/actions/list_orders_by_mobile/run"
    as_agent = await demo_client.post(run, headers=agent, json={"params": {"mobile": mobile}})
    body = as_agent.json()
    assert as_agent.status_code == 200 and body["ok"], as_agent.text
    assert body["data"], "the shared dataset gives this customer orders"
    assert mobile not in as_agent.text, "an agent sees the receiver's phone masked"
    as_owner = (await demo_client.post(run, headers=owner, json={"params": {"mobile": mobile}}))
    assert mobile in as_owner.text

    finance = instances["finance"]["id"]
    denied = await demo_client.post(
        f"{API}/connector-instances/{finance}/actions/get_invoices_by_mobile/run",
        headers=agent, json={"params": {"mobile": mobile}})
    assert denied.status_code == 403


async def test_seeding_connectors_twice_changes_nothing(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "var")
    await prepare_database(settings)
    first = await seed_demo(settings, systems_base_port=28101)
    assert await seed_demo(settings, systems_base_port=28101) == first
