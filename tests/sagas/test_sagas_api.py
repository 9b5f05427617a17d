"""The sagas API: preview before running, permissions checked up front, definitions with
every problem named by field path, input validation, Idempotency-Key, versions, tenants."""

from __future__ import annotations

from typing import Any

import httpx
from conftest import Org, login
from sagas.saga_fixtures import *  # noqa: F403 - the saga fixtures
from sagas.saga_support import API, BIG_ORDER, ORDER, Systems, count, drive, saga, start

from relaydesk.demo.sagas import REFUND
from relaydesk.integrations.models import ConnectorCall
from relaydesk.kit.db import Database
from relaydesk.sagas.models import Saga

DEFS = f"{API}/sagas/definitions"


async def test_preview_shows_steps_compensations_and_missing_permissions(
    client: httpx.AsyncClient, owner: dict[str, str], refund: str, systems: Systems,
    org_a: Org, db: Database,
) -> None:  # fmt: skip
    supervisor = await login(client, org_a, "supervisor")  # sagas.run, no connector actions
    r = await client.post(f"{API}/sagas/preview", headers=supervisor,
                          json={"definition": "refund", "input": BIG_ORDER})  # fmt: skip
    assert r.status_code == 200, r.text
    plan = r.json()
    assert plan["allowed"] is False and plan["version"] == 1
    assert plan["missing_permissions"] == sorted([
        "connector_action:tickets.create_ticket", "connector_action:tickets.close_ticket",
        "connector_action:tickets.list_tickets_by_mobile",
        "connector_action:orders.request_refund", "connector_action:orders.cancel_refund",
        "connector_action:crm.find_contact_by_mobile", "connector_action:crm.add_note",
        "connector_action:crm.delete_note"])  # fmt: skip
    assert plan["input"]["customer_mobile"] != BIG_ORDER["customer_mobile"], "masked"
    ticket, refund_step, contact, note = plan["steps"]
    assert [s["name"] for s in plan["steps"]] == ["ticket", "refund", "contact", "note"]
    assert ticket["effect"] == "write" and ticket["idempotent"] is False and ticket["verify"]
    assert ticket["params"]["title"] == f"退款申请 {BIG_ORDER['order_no']}"
    assert ticket["params"]["customer_mobile"] != BIG_ORDER["customer_mobile"]
    assert ticket["unresolved"] == ["content"], "needs the saga's reference"
    assert ticket["compensation"]["action"] == "close_ticket"
    assert ticket["compensation"]["unresolved"] == ["ticket_no", "reason"]
    assert refund_step["params"]["amount"] == "5499.00" and refund_step["idempotent"]
    assert refund_step["unresolved"] == ["out_refund_no"]
    assert refund_step["compensation"] == {
        "instance": "orders", "action": "cancel_refund", "title": "撤销退款申请",
        "from_spec": True, "params": {"refund_id": "{{ result.refund_id }}"},
        "unresolved": ["refund_id"], "permission": "connector_action:orders.cancel_refund",
        "allowed": False}  # fmt: skip
    assert contact["runs"] is True and contact["compensation"] is None
    assert note["runs"] is None and note["when"] == "steps.contact.output[0].id"
    assert not any(s["allowed"] for s in plan["steps"])

    as_owner = (
        await client.post(
            f"{API}/sagas/preview", headers=owner, json={"definition": refund, "input": BIG_ORDER}
        )
    ).json()
    assert as_owner["allowed"] is True and as_owner["missing_permissions"] == []
    assert as_owner["steps"][0]["params"]["customer_mobile"] == BIG_ORDER["customer_mobile"]
    assert await count(db, ConnectorCall) == 0 and await count(db, Saga) == 0, "side-effect free"
    assert systems.tickets_for(BIG_ORDER["order_no"]) == []

    denied = await start(client, supervisor, BIG_ORDER)
    assert denied.status_code == 403, denied.text
    assert denied.json()["error"]["details"]["missing"] == plan["missing_permissions"]
    agent = await login(client, org_a, "agent")  # no sagas.run at all
    assert (await start(client, agent, ORDER)).status_code == 403
    assert (
        await client.post(
            f"{API}/sagas/preview", headers=agent, json={"definition": "refund", "input": ORDER}
        )
    ).status_code == 403
    assert await count(db, Saga) == 0


async def test_steps_run_with_the_starters_checked_permissions_and_masking(
    client: httpx.AsyncClient, owner: dict[str, str], refund: str, systems: Systems,
    org_a: Org, db: Database,
) -> None:  # fmt: skip
    plan = (
        await client.post(
            f"{API}/sagas/preview", headers=owner, json={"definition": "refund", "input": ORDER}
        )
    ).json()
    needed = sorted({s["permission"] for s in plan["steps"]}
                    | {s["compensation"]["permission"] for s in plan["steps"] if s["compensation"]}
                    | {"connector_action:tickets.list_tickets_by_mobile", "sagas.read",
                       "sagas.run"})  # fmt: skip
    r = await client.post(f"{API}/api-keys", headers=owner,
                          json={"name": "refund-desk", "permissions": needed})  # fmt: skip
    assert r.status_code == 201, r.text
    erp = {"X-API-Key": r.json()["key"]}  # least privilege: exactly what the saga needs
    started = await start(client, erp, ORDER)
    assert started.status_code == 202, started.text
    assert started.json()["started_by"]["label"].startswith("refund-desk (")
    await drive(db)

    body = await saga(client, erp, started.json()["id"])
    assert body["status"] == "completed", body
    contact = body["steps"][2]["output"][0]
    assert contact["phone"] != ORDER["customer_mobile"], "the starter sees masked data"
    assert body["input"]["customer_mobile"] != ORDER["customer_mobile"]
    assert body["steps"][0]["params"]["customer_mobile"] != ORDER["customer_mobile"]
    read_only = await login(client, org_a, "read-only")
    assert (await client.get(f"{API}/sagas/{body['id']}", headers=read_only)).status_code == 200


BAD: list[tuple[dict[str, Any] | str, list[Any], str]] = [
    ({**REFUND, "steps": [{**REFUND["steps"][0], "instance": "erp"}]},
     ["body", "definition", "steps", 0, "instance"], "no connector instance named 'erp'"),
    ({**REFUND, "steps": [{**REFUND["steps"][1], "action": "refund_all"}]},
     ["body", "definition", "steps", 0, "action"], "has no action 'refund_all'"),
    ({**REFUND, "steps": [{**REFUND["steps"][1],
                           "params": {**REFUND["steps"][1]["params"], "coupon": "x"}}]},
     ["body", "definition", "steps", 0, "params", "coupon"], "has no parameter 'coupon'"),
    ({**REFUND, "steps": [{**REFUND["steps"][1], "params": {"order_no": "{{ input.order_no }}"}}]},
     ["body", "definition", "steps", 0, "params"], "needs its required parameter 'amount'"),
    ({**REFUND, "steps": REFUND["steps"][1:]},
     ["body", "definition", "steps", 2, "params", "content"], "'ticket' is not an earlier step"),
    ({**REFUND, "steps": [{**REFUND["steps"][0], "compensate": {
        "action": "close_ticket", "params": {"ticket_no": "{{ failure.ticket }}",
                                             "reason": "x"}}}]},
     ["body", "definition", "steps", 0, "compensate", "params", "ticket_no"],
     "failure has no 'ticket'"),
    ({**REFUND, "steps": [{**REFUND["steps"][0], "compensate": {
        "action": "get_ticket", "params": {"ticket_no": "{{ result.ticket_no }}"}}}]},
     ["body", "definition", "steps", 0, "compensate", "action"], "is a read action"),
    ({**REFUND, "steps": [{**REFUND["steps"][0], "verify": {
        "action": "close_ticket", "params": {}, "match": {"content": "x"}}}]},
     ["body", "definition", "steps", 0, "verify", "action"], "not a read"),
    ({**REFUND, "steps": [{**REFUND["steps"][2], "when": "steps.[["}]},
     ["body", "definition", "steps", 0, "when"], "invalid JMESPath"),
    ({**REFUND, "steps": [REFUND["steps"][2], REFUND["steps"][2]]},
     ["body", "definition", "steps"], "two steps are named 'contact'"),
    ({**REFUND, "input": {"amount": {"type": "money"}}},
     ["body", "definition", "input", "amount", "type"], "Input should be"),
    ({**REFUND, "steps": []}, ["body", "definition", "steps"], "at least 1 item"),
    ("name: refund\nsteps:\n  - name: a\n    instance: crm\n   action: x\n",
     ["body", "definition"], "invalid YAML"),
    ("name: Refund!\nsteps:\n  - {name: a, instance: crm, action: add_tag, typo: 1}\n",
     ["body", "definition", "name"], "should match pattern"),
]  # fmt: skip


async def test_bad_definitions_are_refused_with_field_paths(
    client: httpx.AsyncClient, owner: dict[str, str], connected: dict[str, str], db: Database
) -> None:
    for definition, loc, text in BAD:
        r = await client.post(DEFS, headers=owner, json={"definition": definition})
        assert r.status_code == 422, (loc, r.text)
        details = r.json()["error"]["details"]
        assert any(d["loc"] == loc and text in d["msg"] for d in details), (loc, details)
    typo = await client.post(DEFS, headers=owner, json={"definition": BAD[-1][0]})
    locs = {tuple(d["loc"]): d.get("line") for d in typo.json()["error"]["details"]}
    assert locs[("body", "definition", "steps", 0, "typo")] == 3, "YAML problems carry lines"
    assert (await client.get(DEFS, headers=owner)).json()["items"] == [], "nothing was saved"


V2_YAML = """\
name: refund
title: 退款 v2
input:
  order_no: {type: string, required: true}
steps:
  - name: contact
    instance: crm
    action: find_contact_by_mobile
    params: {mobile: '13506219182'}
"""


async def test_definitions_are_versioned_and_sagas_keep_their_version(
    client: httpx.AsyncClient, owner: dict[str, str], refund: str, org_a: Org, db: Database
) -> None:
    yaml_text = V2_YAML
    assert (await client.post(DEFS, headers=owner, json={"definition": REFUND})).status_code == 409
    first = await start(client, owner, ORDER)
    r = await client.put(f"{DEFS}/{refund}", headers=owner, json={"definition": yaml_text})
    assert r.status_code == 200, r.text
    assert (r.json()["version"], r.json()["title"]) == (2, "退款 v2")
    renamed = await client.put(f"{DEFS}/{refund}", headers=owner,
                               json={"definition": {**REFUND, "name": "refund2"}})  # fmt: skip
    assert renamed.status_code == 422
    assert renamed.json()["error"]["details"][0]["loc"] == ["body", "definition", "name"]
    assert (await saga(client, owner, first.json()["id"]))["definition_version"] == 1
    assert len((await saga(client, owner, first.json()["id"]))["steps"]) == 4

    second = await start(client, owner, {"order_no": "YQ1"})
    assert second.status_code == 202 and second.json()["definition_version"] == 2
    bad_input = await start(client, owner, {"order_no": 5, "extra": 1})
    assert bad_input.status_code == 422
    assert {tuple(d["loc"]) for d in bad_input.json()["error"]["details"]} == {
        ("body", "input", "order_no"),
        ("body", "input", "extra"),
    }

    supervisor = await login(client, org_a, "supervisor")  # no connectors.manage
    assert (
        await client.put(f"{DEFS}/{refund}", headers=supervisor, json={"definition": yaml_text})
    ).status_code == 403
    assert (await client.delete(f"{DEFS}/{refund}", headers=owner)).status_code == 204
    assert (await client.get(f"{DEFS}/{refund}", headers=owner)).status_code == 404
    kept = await saga(client, owner, first.json()["id"])
    assert kept["definition_id"] is None and kept["definition"] == "refund"
    assert (await start(client, owner, ORDER)).status_code == 404


async def test_bad_input_idempotent_start_and_other_tenants(
    client: httpx.AsyncClient, owner: dict[str, str], refund: str, org_b: Org, db: Database
) -> None:
    missing = await start(client, owner, {**ORDER, "amount": "12.345", "customer_mobile": None})
    assert missing.status_code == 422
    assert {tuple(d["loc"]) for d in missing.json()["error"]["details"]} == {
        ("body", "input", "amount"),
        ("body", "input", "customer_mobile"),
    }
    key = {"Idempotency-Key": "refund-YQ20260909000200-1"}
    first = await start(client, owner, ORDER, extra=key)
    again = await start(client, owner, ORDER, extra=key)
    assert first.status_code == again.status_code == 202
    assert again.headers.get("idempotent-replayed") == "true"
    assert first.json()["id"] == again.json()["id"]
    assert await count(db, Saga) == 1
    unknown = await start(client, owner, ORDER, definition="no-such-saga")
    assert unknown.status_code == 404

    other = await login(client, org_b, "owner")
    saga_id = first.json()["id"]
    assert (await client.get(f"{API}/sagas/{saga_id}", headers=other)).status_code == 404
    assert (await client.get(f"{DEFS}/{refund}", headers=other)).status_code == 404
    assert (await client.get(f"{API}/sagas", headers=other)).json()["items"] == []
    assert (await start(client, other, ORDER)).status_code == 404
