"""``/api/v1/rules``: definitions checked with field paths, least privilege, versions,
enable/disable, the builder's catalogues, and dry runs without side effects."""

from __future__ import annotations

import httpx
from conftest import Org, login
from fastapi import FastAPI
from rules_support import (  # noqa: F401 - the *_fixture names are fixtures
    API,
    bus_fixture,
    create_rule,
    executions,
    notifications,
    notify_step,
    rule,
    rules_app_fixture,
    runtime_fixture,
)

from relaydesk.kit.db import Database

SHIPPED = {
    "order_no": "YQ20261118001234",
    "status": "shipped",
    "carrier": "顺丰速运",
    "tracking_no": "SF1234567890",
    "customer_phone": "13912345678",
    "total": "1299.00",
}


async def test_create_read_and_list(rules_app: FastAPI, client: httpx.AsyncClient, org_a: Org
                                    ) -> None:  # fmt: skip
    admin = await login(client, org_a, "admin")
    body = rule(
        "发货提醒",
        "order.shipped",
        [notify_step()],
        description="tell supervisors",
        conditions={"path": "event.payload.total", "op": "gte", "value": 1000},
    )
    created = await create_rule(client, admin, body)
    assert created["version"] == 1 and created["enabled"] is True
    assert created["trigger_kind"] == "event"
    assert created["definition"]["actions"][0]["id"] == "step1"  # ids are given when missing
    got = (await client.get(f"{API}/rules/{created['id']}", headers=admin)).json()
    assert got == created
    reader = await login(client, org_a, "read-only")
    listed = (await client.get(f"{API}/rules", headers=reader)).json()
    assert [r["id"] for r in listed["items"]] == [created["id"]]
    r = await client.post(f"{API}/rules", headers=reader, json=body)
    assert r.status_code == 403  # rules.read does not create
    r = await client.post(f"{API}/rules", headers=admin, json=body)
    assert r.status_code == 409 and r.json()["error"]["code"] == "rule_name_taken"


async def test_invalid_definitions_are_refused_with_field_paths(
    rules_app: FastAPI, client: httpx.AsyncClient, org_a: Org, db: Database
) -> None:
    admin = await login(client, org_a, "admin")
    body = rule("bad", {"type": "event", "event": "order.shiped"}, [
        {"type": "notify", "params": {"role": "supervisor"}},
        {"type": "send_fax", "params": {}},
        {"id": "x", "type": "event.emit", "params": {"type": "order.shipped"}},
        {"type": "notify", "params": {"role": "supervisor", "title": "{{ steps.later.output }}"}},
    ], conditions={"all": [
        {"path": "event.payload.total", "op": "gt", "value": 1},
        {"path": "event.payload.status", "op": "equals", "value": "paid"},
        {"path": "event.payload.total", "op": "bigger", "value": 2},
    ]}, on_error={"policy": "retry", "max_attempts": 99})  # fmt: skip
    r = await client.post(f"{API}/rules", headers=admin, json=body)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    locs = [".".join(map(str, d["loc"])) for d in error["details"]]
    assert "body.trigger.event" in locs
    assert "body.conditions.all.2.op" in locs
    assert "body.actions.0.params.title" in locs
    assert "body.actions.1.type" in locs
    assert "body.actions.2.params.type" in locs  # rules emit custom.* only
    assert "body.actions.3.params" in locs  # a template naming no earlier action
    assert "body.on_error.max_attempts" in locs
    assert error["message"].startswith("trigger.event: unknown event type 'order.shiped'")
    assert "Traceback" not in r.text
    r = await client.get(f"{API}/rules", headers=admin)
    assert r.json()["items"] == []  # nothing written

    cron = rule("bad cron", {"type": "cron", "cron": "61 * * * *", "timezone": "Mars/Base"},
                [notify_step()])  # fmt: skip
    r = await client.post(f"{API}/rules", headers=admin, json=cron)
    locs = [".".join(map(str, d["loc"])) for d in r.json()["error"]["details"]]
    assert locs == ["body.trigger.cron", "body.trigger.timezone"]


async def test_run_as_never_exceeds_the_author(
    rules_app: FastAPI, client: httpx.AsyncClient, org_a: Org
) -> None:
    admin = await login(client, org_a, "admin")  # everything but customers.pii.view
    tagging = rule("tag", "order.shipped", [{"type": "set_tags", "params": {"add": ["x"]}}])
    r = await client.post(f"{API}/rules", headers=admin, json=tagging)
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["loc"] == ["body", "actions", 0, "type"]
    assert "customers.write" in r.json()["error"]["message"]

    r = await client.post(
        f"{API}/rules",
        headers=admin,
        json={**tagging, "run_as": ["customers.write", "customers.pii.view"]},
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "least_privilege"
    assert r.json()["error"]["details"] == {"missing": ["customers.pii.view"]}
    r = await client.post(f"{API}/rules", headers=admin, json={**tagging, "run_as": ["*"]})
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["loc"] == ["body", "run_as", 0]
    r = await client.post(
        f"{API}/rules", headers=admin, json={**tagging, "run_as": ["customers.write"]}
    )
    assert r.status_code == 201, r.text


async def test_every_change_is_a_new_immutable_version(
    rules_app: FastAPI, client: httpx.AsyncClient, org_a: Org
) -> None:
    admin = await login(client, org_a, "admin")
    body = rule("v", "order.shipped", [notify_step("first")])
    created = await create_rule(client, admin, body)
    url = f"{API}/rules/{created['id']}"
    r = await client.put(url, headers=admin, json={**body, "actions": [notify_step("second")]})
    assert r.status_code == 200 and r.json()["version"] == 2
    r = await client.put(
        url,
        headers=admin,
        json={**body, "actions": [notify_step("second")], "description": "only the text changed"},
    )
    assert r.json()["version"] == 2  # same definition: no new version
    assert r.json()["description"] == "only the text changed"
    r = await client.put(url, headers=admin, json={**body, "expected_version": 1})
    assert r.status_code == 409 and r.json()["error"]["code"] == "version_conflict"
    versions = (await client.get(f"{url}/versions", headers=admin)).json()
    assert [v["number"] for v in versions] == [2, 1]
    assert versions[1]["definition"]["actions"][0]["params"]["title"] == "first"
    assert versions[0]["definition"]["actions"][0]["params"]["title"] == "second"

    r = await client.post(f"{url}/disable", headers=admin)
    assert r.json()["enabled"] is False and r.json()["version"] == 2
    r = await client.post(f"{url}/enable", headers=admin)
    assert r.json()["enabled"] is True
    r = await client.delete(url, headers=admin)
    assert r.status_code == 204
    assert (await client.get(url, headers=admin)).status_code == 404
    audit = (await client.get(f"{API}/audit?action=rule.updated", headers=admin)).json()
    assert audit["items"], "rule changes are audited"


async def test_catalogues_for_the_builder(
    rules_app: FastAPI, client: httpx.AsyncClient, org_a: Org
) -> None:
    reader = await login(client, org_a, "read-only")
    types = {a["name"]: a for a in (await client.get(f"{API}/rules/action-types",
                                                     headers=reader)).json()}  # fmt: skip
    assert {"connector.run", "event.emit", "notify", "delay", "set_tags"} <= set(types)
    assert types["set_tags"]["permission"] == "customers.write"
    assert "title" in types["notify"]["params_schema"]["properties"]
    operators = {o["name"] for o in (await client.get(f"{API}/rules/operators",
                                                      headers=reader)).json()}  # fmt: skip
    assert {"equals", "in", "contains", "regex", "gt", "exists", "keywords"} <= operators


async def test_dry_run_evaluates_without_side_effects(
    rules_app: FastAPI, client: httpx.AsyncClient, org_a: Org, db: Database
) -> None:
    admin = await login(client, org_a, "admin")
    body = rule("大额发货", "order.*", [
        notify_step("大单 {{ event.payload.order_no }} 已发货"),
        {"id": "wait", "type": "delay", "params": {"minutes": 5}},
        {"type": "event.emit", "params": {"type": "custom.big_order_shipped",
                                          "payload": {"no": "{{ event.payload.order_no }}"}}},
    ], conditions={"all": [{"path": "event.payload.total", "op": "gte", "value": 1000},
                           {"path": "event.payload.carrier", "op": "keywords",
                            "value": ["顺丰"]}]})  # fmt: skip
    r = await client.post(f"{API}/rules/dry-run", headers=admin,
                          json={"rule": body, "event": {"type": "order.shipped",
                                                        "payload": SHIPPED}})  # fmt: skip
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["trigger_matches"] and out["matched"] and out["refused"] is None
    assert [c["result"] for c in out["conditions"]] == [True, True]
    assert out["conditions"][0]["actual"] == "1299.00"
    assert [a["outcome"] for a in out["actions"]] == ["would_run", "would_run", "would_run"]
    assert out["actions"][0]["params"]["title"] == "大单 YQ20261118001234 已发货"
    assert out["actions"][2]["params"]["payload"] == {"no": "YQ20261118001234"}

    saved = await create_rule(client, admin, body)
    cheap = {**SHIPPED, "total": "99.00"}
    r = await client.post(
        f"{API}/rules/{saved['id']}/dry-run",
        headers=admin,
        json={"event": {"type": "order.shipped", "payload": cheap}},
    )
    assert r.json()["matched"] is False
    r = await client.post(f"{API}/rules/{saved['id']}/dry-run", headers=admin,
                          json={"event": {"type": "order.shipped", "payload": SHIPPED,
                                          "depth": 5}})  # fmt: skip
    assert r.json()["refused"].startswith("loop protection")
    r = await client.post(
        f"{API}/rules/{saved['id']}/dry-run",
        headers=admin,
        json={"event": {"type": "order.shipped", "payload": {"x": 1}}},
    )
    assert r.status_code == 422  # the sample must be a valid order.shipped
    assert r.json()["error"]["details"][0]["loc"] == ["body", "event", "payload", "order_no"]
    assert await notifications(db, org_a.id) == []
    assert await executions(db, org_a.id) == []


async def test_rules_of_another_tenant_are_not_found(
    rules_app: FastAPI, client: httpx.AsyncClient, org_a: Org, org_b: Org
) -> None:
    created = await create_rule(client, await login(client, org_a, "admin"),
                                rule("a only", "order.shipped", [notify_step()]))  # fmt: skip
    other = await login(client, org_b, "owner")
    for method, suffix, body in (
        ("GET", "", None),
        ("PUT", "", rule("x", "order.shipped", [notify_step()])),
        ("DELETE", "", None),
        ("POST", "/enable", None),
        ("POST", "/disable", None),
        ("GET", "/versions", None),
        ("GET", "/executions", None),
        ("POST", "/dry-run", {"event": {"type": "order.shipped", "payload": SHIPPED}}),
    ):
        r = await client.request(method, f"{API}/rules/{created['id']}{suffix}", headers=other,
                                 json=body)  # fmt: skip
        assert r.status_code == 404, (method, suffix, r.text)
    assert (await client.get(f"{API}/rules", headers=other)).json()["items"] == []
