"""The demo organisation gets the "refund" saga (once), and its supervisor may run it."""

from __future__ import annotations

from pathlib import Path

import httpx

from relaydesk.app import create_app
from relaydesk.cli.serve import prepare_database
from relaydesk.config import Settings
from relaydesk.demo.sagas import seed_sagas
from relaydesk.demo.seed import DEMO_PASSWORD, DEMO_SLUG, seed_demo
from relaydesk.demo_systems.runner import free_base_port
from relaydesk.kit.db import Database

API = "/api/v1"


async def test_demo_refund_saga_is_seeded_once_and_previewable(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "var")
    await prepare_database(settings)
    await seed_demo(settings, systems_base_port=free_base_port())
    db = Database.from_url(settings.database_url)
    app = create_app(settings, db=db)
    try:
        assert await seed_sagas(db) == [], "seed_demo seeded it; seeding again changes nothing"
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://demo") as client:
            r = await client.post(f"{API}/auth/login", json={
                "tenant": DEMO_SLUG, "email": "supervisor@demo.relaydesk.local",
                "password": DEMO_PASSWORD})  # fmt: skip
            supervisor = {"Authorization": f"Bearer {r.json()['access_token']}"}
            listed = (await client.get(f"{API}/sagas/definitions", headers=supervisor)).json()
            assert [d["name"] for d in listed["items"]] == ["refund"]
            plan = await client.post(f"{API}/sagas/preview", headers=supervisor, json={
                "definition": "refund", "input": {
                    "order_no": "YQ20261022000640", "amount": "5499.00", "reason": "不想要了",
                    "customer_mobile": "13937704964"}})  # fmt: skip
            assert plan.status_code == 200, plan.text
            assert plan.json()["allowed"] is True, plan.json()["missing_permissions"]
    finally:
        await app.state.connectors.aclose()
        await db.dispose()
