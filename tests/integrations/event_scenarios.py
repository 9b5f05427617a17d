"""Event scenarios of the integration hub: ``connector.action_failed``.

The scenario drives the real path: an existing system served on loopback that answers 503,
a connector instance created over the API pointing at it, and an agent's action run over the
API; the pipeline retries, classifies the failure, and the call's rows and its event are
written in the request's unit of work. The contract is described in
tests/events/test_every_event.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
from conftest import Org, login
from fastapi import FastAPI, Response
from sqlalchemy import select

from relaydesk.demo_systems.runner import start_server
from relaydesk.events.models import OutboxEvent
from relaydesk.integrations.models import ConnectorCall
from relaydesk.kit.db import Database

Scenario = Callable[..., Awaitable[None]]

FAILING_SPEC = """\
apiVersion: relaydesk.io/v1
kind: http
name: shop
title: 网店
config:
  base_url: {type: string, required: true}
http: {base_url: "{{ config.base_url }}"}
resilience:
  timeout_seconds: 2
  retries: {max_attempts: 2, initial_backoff_seconds: 0.01, max_backoff_seconds: 1, jitter: false}
actions:
  get_order:
    title: 查询订单
    effect: read
    params:
      order_no: {type: string, required: true}
    request: {path: "/orders/{{ params.order_no }}"}
"""


def _failing_system() -> FastAPI:
    app = FastAPI()

    @app.get("/orders/{order_no}")
    async def order(order_no: str) -> Response:
        return Response('{"msg": "maintenance"}', status_code=503,
                        media_type="application/json")  # fmt: skip

    return app


async def connector_action_failed(client: httpx.AsyncClient, org_a: Org, db: Database) -> None:
    server = await start_server(_failing_system(), "127.0.0.1", 0, "failing-shop")
    try:
        owner = await login(client, org_a, "owner")
        r = await client.post("/api/v1/connector-instances", headers=owner, json={
            "spec": FAILING_SPEC, "config": {"base_url": server.url},
            "allow_network": ["127.0.0.1/32"],
        })  # fmt: skip
        assert r.status_code == 201, r.text
        run = f"/api/v1/connector-instances/{r.json()['id']}/actions/get_order/run"
        r = await client.post(run, headers=owner, json={"params": {"order_no": "YQ123456"}})
    finally:
        await server.stop()
    assert r.status_code == 200 and r.json()["ok"] is False, r.text
    assert r.json()["attempts"] == 2  # failed after its retries
    async with db.job(org_a.id) as session:
        event = (
            await session.execute(
                select(OutboxEvent).where(OutboxEvent.type == "connector.action_failed")
            )
        ).scalar_one()
        call = (await session.execute(select(ConnectorCall))).scalar_one()
    assert call.outcome == "error" and str(call.id) == r.json()["call_id"]
    assert event.key == "shop" and event.tenant_id == org_a.id
    payload = event.payload
    assert payload["connector"] == "shop" and payload["action"] == "get_order"
    assert payload["effect"] == "read" and payload["http_status"] == 503
    assert payload["error_class"] == r.json()["error"]["class"]
    assert payload["actor_type"] == "user" and payload["actor_id"] == str(org_a.users["owner"])
    assert "YQ123456" not in str(payload)  # no parameters in the event


SCENARIOS: dict[str, Scenario] = {"connector.action_failed": connector_action_failed}
