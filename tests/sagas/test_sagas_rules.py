"""Rules and sagas: a rule starts the refund saga (``saga.start``, as the rule's identity); a
second rule hears ``saga.compensated`` of a high-value refund and notifies the supervisors."""

from __future__ import annotations

from typing import Any

import httpx
from automation.rules_support import (
    Bus,
    bus_fixture,  # noqa: F401 - fixture "bus"
    create_rule,
    executions,
    notifications,
    outbox,
    rule,
    rules_app_fixture,  # noqa: F401 - fixture "rules_app"
    runtime_fixture,  # noqa: F401 - fixture "runtime"
)
from conftest import Org
from fastapi import FastAPI
from sagas.saga_fixtures import *  # noqa: F403 - the saga fixtures
from sagas.saga_support import API, BIG_ORDER, Systems

from relaydesk.kit.db import Database
from relaydesk.sagas import rule_actions  # noqa: F401 - registers saga.start

SAGA_PERMISSIONS = [
    "sagas.run",
    "connector_action:tickets.create_ticket", "connector_action:tickets.close_ticket",
    "connector_action:tickets.list_tickets_by_mobile", "connector_action:orders.request_refund",
    "connector_action:orders.cancel_refund", "connector_action:crm.find_contact_by_mobile",
    "connector_action:crm.add_note", "connector_action:crm.delete_note",
]  # fmt: skip


def start_refund(**extra: Any) -> dict[str, Any]:
    return rule("大额退款走流程", "custom.refund_requested", [
        {"id": "saga", "type": "saga.start", "params": {"definition": "refund", "input": {
            key: "{{ event.payload." + key + " }}" for key in BIG_ORDER}}},
    ], **extra)  # fmt: skip


async def test_a_rule_starts_the_saga_and_another_hears_how_it_ended(
    rules_app: FastAPI, client: httpx.AsyncClient, owner: dict[str, str], refund: str,
    systems: Systems, org_a: Org, db: Database, bus: Bus,
) -> None:  # fmt: skip
    r = await client.post(f"{API}/rules", headers=owner, json=rule(
        "x", "custom.refund_requested", [{"type": "saga.start", "params": {
            "definition": "refund", "input": {}}}], run_as=["sagas.run"]))  # fmt: skip
    assert r.status_code == 422, "run_as must cover every call of the saga"
    assert "connector_action:tickets.create_ticket" in r.text
    starter = await create_rule(client, owner, start_refund(run_as=SAGA_PERMISSIONS))
    await create_rule(client, owner, rule("大额退款通知主管", "saga.compensated", [
        {"type": "notify", "params": {"role": "supervisor",
                                      "title": "退款未完成 {{ event.payload.input.order_no }}",
                                      "body": "{{ event.payload.error.message }}"}}],
        conditions={"all": [{"path": "event.payload.error.code", "op": "equals",
                             "value": "refund_needs_review"}]}))  # fmt: skip

    trigger = await bus.emit("custom.refund_requested", BIG_ORDER)
    await bus.settle()

    (started, noticed) = await executions(db, org_a.id)
    assert str(started.rule_id) == starter["id"] and started.status == "succeeded"
    saga_id = started.steps[0]["output"]["saga_id"]
    body = (await client.get(f"{API}/sagas/{saga_id}", headers=owner)).json()
    assert body["status"] == "compensated" and body["started_by"]["type"] == "rule"
    assert systems.tickets_for(BIG_ORDER["order_no"])[0].status == "CLOSED"
    (event,) = await outbox(db, org_a.id, "saga.compensated")
    assert event.depth == 1 and event.causation_id == str(trigger.id), "one hop after the trigger"
    assert noticed.status == "succeeded"
    (note,) = await notifications(db, org_a.id)
    assert note.title == f"退款未完成 {BIG_ORDER['order_no']}" and "5000.00" in note.body
