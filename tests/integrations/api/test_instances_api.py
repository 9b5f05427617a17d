"""Connector specs and instances over the API: validation, JSON Schema, mapping preview,
create/read/update/delete, config validation, secrets that never come back, audit rows."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from conftest import Org, login
from fastapi import FastAPI
from integrations.service.hub_support import (
    API,
    CLEAR_PHONE,
    FINANCE_SPEC,
    ORDER_NO,
    ORDERS_SPEC,
    TOKEN,
    FakeSystem,
    audit_rows,
    fake_registry,
    instance_body,
    mount,
    order_body,
)

from relaydesk.integrations.registry import RuntimeRegistry
from relaydesk.kit.db import Database

BASE = f"{API}/connector-instances"


@pytest.fixture
def system() -> FakeSystem:
    return FakeSystem()


@pytest.fixture
async def registry(system: FakeSystem) -> AsyncIterator[RuntimeRegistry]:
    registry = fake_registry(system)
    yield registry
    await registry.aclose()


@pytest.fixture
def app(app: FastAPI, registry: RuntimeRegistry) -> FastAPI:
    return mount(app, registry)


async def create(
    client: httpx.AsyncClient, headers: dict[str, str], **body: Any
) -> dict[str, Any]:
    r = await client.post(BASE, headers=headers, json=instance_body(**body))
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


# --- specs ---------------------------------------------------------------------------------


async def test_validate_lists_every_problem_with_lines_and_200_either_way(
    client: httpx.AsyncClient, org_a: Org
) -> None:
    agent = await login(client, org_a, "agent")
    broken = ORDERS_SPEC.replace("effect: write\n    idempotent", "effect: maybe\n    idempotent")
    broken = broken.replace("name: orders", "name: Orders!")
    r = await client.post(f"{API}/connectors/validate", headers=agent, json={"spec": broken})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["valid"] is False
    problems = {p["path"]: p for p in body["problems"]}
    assert set(problems) == {"name", "actions.cancel_order.effect"}
    assert problems["name"]["line"] == 3 and problems["name"]["file"] == "spec"
    assert problems["actions.cancel_order.effect"]["line"] == ORDERS_SPEC.splitlines().index(
        "    effect: write", ORDERS_SPEC.splitlines().index("  cancel_order:")
    ) + 1

    r = await client.post(f"{API}/connectors/validate", headers=agent, json={"spec": ORDERS_SPEC})
    assert r.json() == {"valid": True, "problems": []}

    as_object = {"apiVersion": "relaydesk.io/v1", "kind": "http", "name": "x", "bogus": 1}
    r = await client.post(f"{API}/connectors/validate", headers=agent, json={"spec": as_object})
    assert r.json()["valid"] is False
    problems = r.json()["problems"]
    assert {p["path"] for p in problems} == {"bogus", "http"}, "unknown field; http needs http:"
    assert all(p["line"] is None for p in problems), "an object has no lines"


async def test_schema_is_the_spec_json_schema(client: httpx.AsyncClient, org_a: Org) -> None:
    agent = await login(client, org_a, "agent")
    r = await client.get(f"{API}/connectors/schema", headers=agent)
    assert r.status_code == 200
    schema = r.json()
    assert schema["$schema"].endswith("2020-12/schema")
    assert "apiVersion" in schema["properties"] and "actions" in schema["properties"]
    assert (await client.get(f"{API}/connectors/schema")).status_code == 401


async def test_mapping_preview_from_json_and_xml_with_located_masked_errors(
    client: httpx.AsyncClient, org_a: Org
) -> None:
    agent = await login(client, org_a, "agent")
    url = f"{API}/connectors/mapping/preview"
    r = await client.post(
        url, headers=agent, json={"spec": ORDERS_SPEC, "action": "get_order",
                                  "sample": order_body()},
    )  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["errors"] == []
    assert r.json()["value"]["paid_at"] == "2024-05-01T10:00:00+08:00"
    assert r.json()["value"]["total"] == "99.50"

    bad = order_body(orderNo=None, status=CLEAR_PHONE)
    r = await client.post(
        url, headers=agent, json={"spec": ORDERS_SPEC, "action": "get_order", "sample": bad}
    )
    errors = {e["path"]: e["message"] for e in r.json()["errors"]}
    assert set(errors) == {"order_no", "status"}
    assert CLEAR_PHONE not in r.text, "an unmapped value quoting a phone is masked"

    xml = (
        "<response><code>0</code><data><orderNo>YQ77</orderNo><status>3</status>"
        "<amount>1.5</amount></data></response>"
    )
    r = await client.post(
        url, headers=agent, json={"spec": ORDERS_SPEC, "action": "get_order", "sample_xml": xml}
    )
    assert r.status_code == 200, r.text
    assert r.json()["value"]["order_no"] == "YQ77" and r.json()["value"]["status"] == "shipped"

    r = await client.post(url, headers=agent, json={"spec": ORDERS_SPEC, "action": "nope",
                                                    "sample": {}})  # fmt: skip
    assert r.status_code == 422 and r.json()["error"]["details"][0]["loc"] == ["body", "action"]
    r = await client.post(url, headers=agent, json={"spec": ORDERS_SPEC, "action": "get_order"})
    assert r.status_code == 422 and r.json()["error"]["details"][0]["loc"] == ["body", "sample"]
    r = await client.post(url, headers=agent, json={"spec": ORDERS_SPEC, "action": "get_order",
                                                    "sample_xml": "<a><b></a>"})  # fmt: skip
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["loc"] == ["body", "sample_xml"]


# --- instances -----------------------------------------------------------------------------


async def test_crud_round_trip_with_audit_rows(
    client: httpx.AsyncClient, org_a: Org, db: Database
) -> None:
    admin = await login(client, org_a, "admin")
    created = await create(client, admin, title="生产订单系统", sandbox=True)
    assert created["name"] == "orders" and created["connector"] == "orders"
    assert created["version"] == 1 and created["sandbox"] is True and created["enabled"] is True
    assert created["config"] == {"base_url": "http://erp.example.com", "token": "********",
                                 "shop": "main"}, "defaults are filled in"  # fmt: skip
    assert [f["name"] for f in created["config_fields"] if f["secret"]] == ["token"]
    assert created["actions"] == ["get_order", "change_address", "cancel_order"]
    url = f"{BASE}/{created['id']}"

    agent = await login(client, org_a, "agent")
    got = await client.get(url, headers=agent)
    assert got.status_code == 200 and got.json() == created
    listed = await client.get(BASE, headers=agent)
    assert [i["id"] for i in listed.json()["items"]] == [created["id"]]
    assert (await client.patch(url, headers=agent, json={"enabled": False})).status_code == 403

    r = await client.patch(url, headers=admin, json={"enabled": False, "title": "停用"})
    assert r.status_code == 200, r.text
    assert r.json()["enabled"] is False and r.json()["version"] == 2
    same = await client.patch(url, headers=admin, json={"enabled": False})
    assert same.json()["version"] == 2, "no change, no new version"

    assert (await client.delete(url, headers=admin)).status_code == 204
    assert (await client.get(url, headers=admin)).status_code == 404

    created_rows = await audit_rows(db, org_a.id, "connector.created")
    assert len(created_rows) == 1
    assert created_rows[0].details["config_keys"] == ["base_url", "shop", "token"]
    updated = await audit_rows(db, org_a.id, "connector.updated")
    assert [row.details["changed"] for row in updated] == [["enabled", "title"]]
    assert updated[0].details["version"] == 2
    assert len(await audit_rows(db, org_a.id, "connector.deleted")) == 1


async def test_config_is_validated_against_the_spec(
    client: httpx.AsyncClient, org_a: Org
) -> None:
    admin = await login(client, org_a, "admin")
    cases = [
        ({"token": TOKEN}, ["body", "config", "base_url"], "missing"),
        ({"base_url": "http://x", "token": TOKEN, "nope": 1}, ["body", "config", "nope"], "extra"),
        ({"base_url": "http://x", "token": TOKEN, "page_size": "10"},
         ["body", "config", "page_size"], "type_error"),
        ({"base_url": "http://x", "token": "********"}, ["body", "config", "token"], "value_error"),
    ]  # fmt: skip
    for config, loc, kind in cases:
        r = await client.post(BASE, headers=admin, json={"spec": ORDERS_SPEC, "config": config})
        assert r.status_code == 422, (config, r.text)
        details = r.json()["error"]["details"]
        assert [(d["loc"], d["type"]) for d in details] == [(loc, kind)], details

    r = await client.post(BASE, headers=admin, json=instance_body(allow_network=["10.0.0.1/8"]))
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["loc"] == ["body", "allow_network", 0]

    r = await client.post(BASE, headers=admin, json=instance_body(spec="name: [unclosed"))
    assert r.status_code == 422 and r.json()["error"]["code"] == "spec_invalid"
    assert r.json()["error"]["details"][0]["file"] == "spec"

    await create(client, admin)
    r = await client.post(BASE, headers=admin, json=instance_body())
    assert r.status_code == 409
    other = await create(client, admin, name="orders-test", sandbox=True)
    assert other["name"] == "orders-test"


async def test_patch_keeps_a_secret_sent_back_as_the_placeholder(
    client: httpx.AsyncClient, org_a: Org, db: Database, system: FakeSystem
) -> None:
    owner = await login(client, org_a, "owner")
    created = await create(client, owner)
    url = f"{BASE}/{created['id']}"
    run = f"{url}/actions/get_order/run"
    assert (await client.post(run, headers=owner, json={"params": {"order_no": ORDER_NO}})).json()[
        "ok"
    ]
    assert system.built[-1]["token"] == TOKEN

    form = {**created["config"], "base_url": "http://erp2.example.com"}
    r = await client.patch(url, headers=owner, json={"config": form})
    assert r.status_code == 200 and r.json()["version"] == 2
    assert r.json()["config"]["token"] == "********"
    await client.post(run, headers=owner, json={"params": {"order_no": "ABCDEF123"}})
    assert system.built[-1] == {"base_url": "http://erp2.example.com", "token": TOKEN,
                                "shop": "main"}, "new version, new runtime, same secret"

    r = await client.patch(url, headers=owner, json={"config": {**form, "token": "rotated-1"}})
    assert r.json()["version"] == 3
    await client.post(run, headers=owner, json={"params": {"order_no": "ABCDEF124"}})
    assert system.built[-1]["token"] == "rotated-1"

    r = await client.patch(url, headers=owner, json={"spec": FINANCE_SPEC})
    assert r.status_code == 200, "settings the new spec knows are kept, the others dropped"
    assert r.json()["config"] == {"base_url": "http://erp2.example.com"}
    assert r.json()["connector"] == "finance" and r.json()["actions"] == ["list_invoices"]
    r = await client.patch(url, headers=owner, json={"spec": ORDERS_SPEC})
    assert r.status_code == 422, "the token is gone and the orders spec requires it"
    assert r.json()["error"]["details"][0]["loc"] == ["body", "config", "token"]

    changed = [
        row.details["changed"] for row in await audit_rows(db, org_a.id, "connector.updated")
    ]
    assert changed == [
        ["config.base_url"], ["secret.token"], ["spec", "config.shop", "secret.token"]
    ]


async def test_secrets_never_leave_in_responses_audit_or_logs(
    client: httpx.AsyncClient, org_a: Org, db: Database, system: FakeSystem,
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture,
) -> None:
    capsys.readouterr()
    caplog.set_level(logging.DEBUG)
    owner = await login(client, org_a, "owner")
    responses: list[httpx.Response] = []
    r = await client.post(BASE, headers=owner, json=instance_body())
    responses.append(r)
    url = f"{BASE}/{r.json()['id']}"
    responses.append(await client.get(url, headers=owner))
    responses.append(await client.get(BASE, headers=owner))
    responses.append(await client.patch(url, headers=owner,
                                        json={"config": {"base_url": "http://b", "token": TOKEN}}))
    responses.append(await client.get(f"{url}/actions", headers=owner))
    from relaydesk.integrations.resilience import ErrorKind
    from relaydesk.integrations.runtime.base import ExecutorError

    system.push(ExecutorError(ErrorKind.config, f"upstream rejected {TOKEN}", "auth_rejected"))
    responses.append(await client.post(f"{url}/actions/get_order/run", headers=owner,
                                       json={"params": {"order_no": ORDER_NO}}))
    responses.append(await client.get(f"{url}/calls", headers=owner))
    responses.append(await client.get(f"{url}/health", headers=owner))
    assert all(resp.status_code in (200, 201) for resp in responses), [
        (resp.request.url, resp.status_code) for resp in responses
    ]
    assert responses[5].json()["error"]["code"] == "auth_rejected"
    for resp in responses:
        assert TOKEN not in resp.text, f"{resp.request.method} {resp.request.url} shows the secret"

    async with db.job(org_a.id) as session:
        from sqlalchemy import select

        from relaydesk.audit.models import AuditEntry

        rows = (await session.execute(select(AuditEntry))).scalars().all()
    assert {"connector.created", "connector.updated", "connector.action_called"} <= {
        row.action for row in rows
    }
    assert all(TOKEN not in json.dumps(row.details, ensure_ascii=False) for row in rows)
    captured = capsys.readouterr()
    logs = caplog.text + captured.out + captured.err
    assert "connector.call_failed" in logs and "auth_rejected" in logs, "the failure is logged"
    assert TOKEN not in logs


async def test_tenant_b_gets_404_for_every_route_of_tenant_a_instance(
    client: httpx.AsyncClient, org_a: Org, org_b: Org
) -> None:
    owner_a = await login(client, org_a, "owner")
    created = await create(client, owner_a)
    url = f"{BASE}/{created['id']}"
    owner_b = await login(client, org_b, "owner")
    for method, path, body in [
        ("GET", url, None),
        ("PATCH", url, {"enabled": False}),
        ("DELETE", url, None),
        ("GET", f"{url}/actions", None),
        ("POST", f"{url}/actions/get_order/run", {"params": {"order_no": ORDER_NO}}),
        ("GET", f"{url}/calls", None),
        ("GET", f"{url}/health", None),
    ]:
        r = await client.request(method, path, headers=owner_b, json=body)
        assert r.status_code == 404, (method, path, r.status_code, r.text)
    assert (await client.get(BASE, headers=owner_b)).json()["items"] == []
    # B may use the same name: names are unique per organisation only
    assert (await create(client, owner_b))["name"] == "orders"
    assert (await client.get(url, headers=owner_a)).json()["enabled"] is True


async def test_reading_needs_connectors_read_and_writing_manage(
    client: httpx.AsyncClient, org_a: Org
) -> None:
    supervisor = await login(client, org_a, "supervisor")
    r = await client.post(BASE, headers=supervisor, json=instance_body())
    assert r.status_code == 403
    assert (await client.get(BASE, headers=supervisor)).status_code == 200
    assert CLEAR_PHONE  # (fixture data sanity: the phone used by the outputs)
