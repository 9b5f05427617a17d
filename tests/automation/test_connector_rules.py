"""Rules that call a real system: an order system served by uvicorn on 127.0.0.1, reached
through the connector runtime as the rule's own identity (lookups, connector.run, retries,
dry runs that read but never write)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from conftest import Org, login
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from rules_support import (  # noqa: F401 - the *_fixture names are fixtures
    API,
    Bus,
    bus_fixture,
    create_rule,
    executions,
    notifications,
    notify_step,
    outbox,
    rule,
    rules_app_fixture,
    runtime_fixture,
)

from relaydesk.demo_systems.runner import start_server
from relaydesk.kit.db import Database

SPEC = """\
apiVersion: relaydesk.io/v1
kind: http
name: shop
config:
  base_url: {type: string, required: true}
http: {base_url: "{{ config.base_url }}"}
resilience:
  timeout_seconds: 2
  retries: {max_attempts: 1}
actions:
  find_orders:
    effect: read
    params: {mobile: {type: string, required: true, pii: phone}}
    request: {path: "/orders", query: {mobile: "{{ params.mobile }}"}}
    response: {select: orders}
    many: true
  refund:
    effect: write
    params:
      order_no: {type: string, required: true}
      amount: {type: string, required: true}
      out_refund_no: {type: string, required: true}
    request:
      method: POST
      path: "/orders/{{ params.order_no }}/refunds"
      body: {amount: "{{ params.amount }}", out_refund_no: "{{ params.out_refund_no }}"}
    response: {select: data}
"""
READ = "connector_action:shop.find_orders"
WRITE = "connector_action:shop.refund"


@dataclass
class Shop:
    url: str
    refunds: list[dict[str, Any]] = field(default_factory=list)
    lookups: list[str] = field(default_factory=list)
    fail_refunds: int = 0


@pytest.fixture
async def shop() -> AsyncIterator[Shop]:
    app = FastAPI()
    state = Shop("")

    @app.get("/orders")
    async def orders(mobile: str) -> dict[str, Any]:
        state.lookups.append(mobile)
        if mobile != "13912345678":
            return {"orders": []}
        return {"orders": [{"order_no": "YQ20261118001234", "status": "shipped",
                            "waybill_no": "SF1234567890"}]}  # fmt: skip

    @app.post("/orders/{order_no}/refunds")
    async def refund(order_no: str, request: Request) -> JSONResponse:
        body = await request.json()
        if state.fail_refunds > 0:
            state.fail_refunds -= 1
            return JSONResponse({"message": "busy"}, status_code=503)
        state.refunds.append({"order_no": order_no, **body})
        return JSONResponse({"data": {"refund_id": f"RF{len(state.refunds)}",
                                      "status": "pending"}})  # fmt: skip

    server = await start_server(app, "127.0.0.1", 0, "shop")
    state.url = server.url
    try:
        yield state
    finally:
        await server.stop()


@pytest.fixture
async def owner(rules_app: FastAPI, client: httpx.AsyncClient, org_a: Org, shop: Shop
                ) -> dict[str, str]:  # fmt: skip
    headers = await login(client, org_a, "owner")
    r = await client.post(f"{API}/connector-instances", headers=headers, json={
        "name": "shop", "spec": SPEC, "config": {"base_url": shop.url},
        "allow_network": ["127.0.0.1/32"]})  # fmt: skip
    assert r.status_code == 201, r.text
    return headers


def order_rule(**extra: Any) -> dict[str, Any]:
    extra.setdefault("run_as", [READ])
    return rule("查订单", "custom.message_received", [
        {"id": "reply", "type": "event.emit", "params": {
            "type": "custom.order_status_reply",
            "payload": {"text": "订单 {{ lookup.orders[0].order_no }}："
                                "{{ lookup.orders[0].status }}",
                        "to": "{{ event.payload.conversation_id }}"}}},
    ], conditions={"all": [
        {"path": "event.payload.text", "op": "keywords", "value": ["查订单", "where is my order"]},
        {"path": "lookup.orders[0].order_no", "op": "exists"},
    ]}, lookups=[{"name": "orders", "instance": "shop", "action": "find_orders",
                  "params": {"mobile": "{{ event.payload.customer_phone }}"}}],
        **extra)  # fmt: skip


async def test_keyword_message_looks_up_the_order_and_replies(
    owner: dict[str, str],
    client: httpx.AsyncClient,
    org_a: Org,
    db: Database,
    bus: Bus,
    shop: Shop,
) -> None:
    created = await create_rule(client, owner, order_rule())
    await bus.emit("custom.message_received", {"text": "ＷＨＥＲＥ is my order？",
                                               "customer_phone": "13912345678",
                                               "conversation_id": "c-1"})  # fmt: skip
    await bus.emit("custom.message_received", {"text": "谢谢", "customer_phone": "13912345678"})
    await bus.emit("custom.message_received", {"text": "查订单", "customer_phone": "13800000000"})
    await bus.settle()
    assert shop.lookups == ["13912345678", "13800000000"]  # "谢谢" never reached the system
    replied, no_orders = await executions(db, org_a.id, created["id"])
    assert replied.status == "succeeded"
    assert replied.lookups["orders"]["data"][0]["order_no"] == "YQ20261118001234"
    assert [c["result"] for c in replied.conditions] == [True, True]
    assert no_orders.status == "not_matched"
    (reply,) = await outbox(db, org_a.id, "custom.order_status_reply")
    assert reply.payload == {"text": "订单 YQ20261118001234：shipped", "to": "c-1"}
    assert reply.depth == 1 and reply.source["kind"] == "rule"

    audit = (await client.get(f"{API}/audit?action=connector.action_called",
                              headers=owner)).json()["items"]  # fmt: skip
    assert {a["actor"]["type"] for a in audit} == {"rule"}
    assert {a["actor"]["label"] for a in audit} == {"rule 查订单"}  # the rule's own identity called


async def test_a_write_is_retried_by_policy_and_its_output_feeds_later_actions(
    owner: dict[str, str],
    client: httpx.AsyncClient,
    org_a: Org,
    db: Database,
    bus: Bus,
    shop: Shop,
) -> None:
    shop.fail_refunds = 1
    await create_rule(client, owner, rule("退款", "custom.refund_requested", [
        {"id": "refund", "type": "connector.run", "params": {
            "instance": "shop", "action": "refund",
            "params": {"order_no": "{{ event.payload.order_no }}",
                       "amount": "{{ event.payload.amount }}",
                       "out_refund_no": "{{ execution.id }}"}},
         "on_error": {"policy": "retry", "max_attempts": 3}},
        notify_step("退款 {{ steps.refund.output.data.refund_id }} 已提交"),
    ], run_as=[WRITE]))  # fmt: skip
    await bus.emit("custom.refund_requested", {"order_no": "YQ1", "amount": "99.50"})
    await bus.settle()
    (execution,) = await executions(db, org_a.id)
    assert execution.status == "succeeded"
    refund, _ = execution.steps
    assert refund["attempts"] == 2 and refund["status"] == "succeeded"
    assert shop.refunds == [{"order_no": "YQ1", "amount": "99.50",
                             "out_refund_no": str(execution.id)}]  # fmt: skip
    assert [n.title for n in await notifications(db, org_a.id)] == ["退款 RF1 已提交"]


async def test_save_checks_lookups_against_run_as_and_effects(
    owner: dict[str, str], client: httpx.AsyncClient
) -> None:
    r = await client.post(f"{API}/rules", headers=owner, json=order_rule(run_as=[]))
    assert r.status_code == 422
    (detail,) = r.json()["error"]["details"]
    assert detail["loc"] == ["body", "lookups", 0, "action"] and READ in detail["msg"]
    body = order_rule(run_as=[READ, WRITE])
    body["lookups"][0]["action"] = "refund"
    r = await client.post(f"{API}/rules", headers=owner, json=body)
    assert "a lookup may only read" in r.json()["error"]["details"][0]["msg"]
    refund = rule("r", "custom.refund_requested", [{"type": "connector.run", "params": {
        "instance": "shop", "action": "refund", "params": {}}}])  # fmt: skip
    r = await client.post(f"{API}/rules", headers=owner, json=refund)
    assert r.json()["error"]["details"][0]["loc"] == ["body", "actions", 0, "params"]


async def test_dry_run_reads_for_real_and_only_describes_writes(
    owner: dict[str, str], client: httpx.AsyncClient, org_a: Org, db: Database, shop: Shop
) -> None:
    body = order_rule()
    body["actions"].insert(
        0,
        {
            "id": "again",
            "type": "connector.run",
            "params": {
                "instance": "shop",
                "action": "find_orders",
                "params": {"mobile": "13912345678"},
            },
        },
    )
    body["actions"].append({"id": "refund", "type": "connector.run", "params": {
        "instance": "shop", "action": "refund", "params": {
            "order_no": "{{ steps.again.output.data[0].order_no }}", "amount": "1.00",
            "out_refund_no": "dry"}}})  # fmt: skip
    body["run_as"] = [READ, WRITE]
    r = await client.post(f"{API}/rules/dry-run", headers=owner, json={"rule": body, "event": {
        "type": "custom.message_received",
        "payload": {"text": "帮我查订单", "customer_phone": "13912345678"}}})  # fmt: skip
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["matched"] is True
    assert out["lookups"]["orders"]["ok"] is True
    again, reply, refund = out["actions"]
    assert again["outcome"] == "ran" and again["output"]["data"][0]["status"] == "shipped"
    assert reply["outcome"] == "would_run"
    assert refund["outcome"] == "would_run"
    assert refund["params"]["params"]["order_no"] == "YQ20261118001234"  # from the read
    assert shop.refunds == []  # nothing was written
    assert await outbox(db, org_a.id, "custom.order_status_reply") == []
