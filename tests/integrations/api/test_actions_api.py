"""Running connector actions over the API (fake external system): permissions, parameter
errors, masking by role, classified failures, stale cache, call log and health."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from conftest import Org, login
from fastapi import FastAPI
from integrations.service.hub_support import (
    API,
    CLEAR_ADDRESS,
    CLEAR_NAME,
    CLEAR_PHONE,
    FINANCE_SPEC,
    ORDER_NO,
    Clock,
    FakeSystem,
    Sleeper,
    answer,
    audit_rows,
    fake_registry,
    instance_body,
    mount,
)

from relaydesk.integrations.registry import RuntimeRegistry
from relaydesk.kit.db import Database

BASE = f"{API}/connector-instances"


@pytest.fixture
def system() -> FakeSystem:
    return FakeSystem()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sleeper() -> Sleeper:
    return Sleeper()


@pytest.fixture
async def registry(
    system: FakeSystem, clock: Clock, sleeper: Sleeper
) -> AsyncIterator[RuntimeRegistry]:
    registry = fake_registry(system, sleeper, clock=clock)
    yield registry
    await registry.aclose()


@pytest.fixture
def app(app: FastAPI, registry: RuntimeRegistry) -> FastAPI:
    return mount(app, registry)


async def instance(
    client: httpx.AsyncClient, headers: dict[str, str], **body: Any
) -> str:
    r = await client.post(BASE, headers=headers, json=instance_body(**body))
    assert r.status_code == 201, r.text
    return f"{BASE}/{r.json()['id']}"


async def run(
    client: httpx.AsyncClient, headers: dict[str, str], url: str, action: str = "get_order",
    **params: Any,
) -> httpx.Response:
    return await client.post(
        f"{url}/actions/{action}/run", headers=headers,
        json={"params": params or {"order_no": ORDER_NO}},
    )  # fmt: skip


async def test_an_agent_may_not_run_a_finance_action(
    client: httpx.AsyncClient, org_a: Org, db: Database
) -> None:
    owner = await login(client, org_a, "owner")
    url = await instance(client, owner, spec=FINANCE_SPEC)
    agent = await login(client, org_a, "agent")

    listed = await client.get(f"{url}/actions", headers=agent)
    assert listed.status_code == 200
    [action] = listed.json()["items"]
    assert action["permission"] == "connector_action:finance.list_invoices"
    assert action["allowed"] is False and action["effect"] == "read" and action["many"] is True
    assert action["params_schema"]["required"] == ["customer_id"]

    r = await run(client, agent, url, "list_invoices", customer_id="C1")
    assert r.status_code == 403, r.text
    assert r.json()["error"]["details"] == {"missing": ["connector_action:finance.list_invoices"]}

    r = await run(client, owner, url, "list_invoices", customer_id="C1")
    assert r.status_code == 200 and r.json()["ok"] is True
    assert (await client.get(f"{url}/actions", headers=owner)).json()["items"][0]["allowed"]

    # a key holding exactly this permission may run it (and nothing else)
    r = await client.post(
        f"{API}/api-keys", headers=owner,
        json={"name": "finance-bot", "permissions": ["connector_action:finance.list_invoices"]},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    key = {"X-API-Key": r.json()["key"]}
    r = await run(client, key, url, "list_invoices", customer_id="C1")
    assert r.status_code == 200 and r.json()["ok"] is True
    assert (await client.get(f"{url}/actions", headers=key)).status_code == 403
    calls = await audit_rows(db, org_a.id, "connector.action_called")
    assert [c.actor_type for c in calls] == ["user", "api_key"], "denied calls are not run"


async def test_bad_params_are_422_naming_each(
    client: httpx.AsyncClient, org_a: Org, system: FakeSystem
) -> None:
    owner = await login(client, org_a, "owner")
    url = await instance(client, owner)
    r = await client.post(
        f"{url}/actions/get_order/run", headers=owner,
        json={"params": {"order_no": "bad no!", "page": "x", "colour": "red"}},
    )  # fmt: skip
    assert r.status_code == 422, r.text
    locs = {tuple(d["loc"]): d["type"] for d in r.json()["error"]["details"]}
    assert locs == {
        ("body", "params", "order_no"): "string_pattern_mismatch",
        ("body", "params", "page"): "int_parsing",
        ("body", "params", "colour"): "extra_forbidden",
    }
    r = await client.post(f"{url}/actions/get_order/run", headers=owner, json={"params": {}})
    assert [d["loc"] for d in r.json()["error"]["details"]] == [["body", "params", "order_no"]]
    assert system.calls == [], "nothing was sent"


async def test_unknown_action_or_instance_is_404_and_disabled_is_409(
    client: httpx.AsyncClient, org_a: Org
) -> None:
    owner = await login(client, org_a, "owner")
    url = await instance(client, owner)
    assert (await run(client, owner, url, "no_such_action")).status_code == 404
    missing = f"{BASE}/01900000-0000-7000-8000-000000000000"
    assert (await run(client, owner, missing)).status_code == 404
    await client.patch(url, headers=owner, json={"enabled": False})
    r = await run(client, owner, url)
    assert r.status_code == 409 and r.json()["error"]["code"] == "connector_disabled"


async def test_output_is_masked_unless_the_caller_may_see_personal_data(
    client: httpx.AsyncClient, org_a: Org
) -> None:
    owner = await login(client, org_a, "owner")
    url = await instance(client, owner)
    admin = await login(client, org_a, "admin")
    assert (await run(client, admin, url)).status_code == 403, "roles get actions explicitly"
    r = await client.post(
        f"{API}/roles", headers=owner,
        json={"name": "order-desk", "permissions": ["connector_action:orders.get_order"]},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    roles = {"roles": ["admin", "order-desk"]}
    r = await client.patch(f"{API}/users/{org_a.users['admin']}", headers=owner, json=roles)
    assert r.status_code == 200, r.text
    admin = await login(client, org_a, "admin")  # admins see personal data masked
    masked = (await run(client, admin, url)).json()
    assert masked["ok"] is True
    assert masked["data"]["receiver_phone"] == "139****5678"
    assert masked["data"]["receiver_name"] == "张*"
    assert masked["data"]["order_no"] == ORDER_NO and masked["data"]["total"] == "99.50"
    clear = (await run(client, owner, url)).json()
    assert clear["cached"] is True, "the second read is a cache hit"
    assert clear["data"]["receiver_phone"] == CLEAR_PHONE
    assert clear["data"]["receiver_name"] == CLEAR_NAME


async def test_pii_params_are_masked_in_the_call_log_and_audit(
    client: httpx.AsyncClient, org_a: Org, db: Database
) -> None:
    owner = await login(client, org_a, "owner")
    url = await instance(client, owner)
    r = await run(client, owner, url, "change_address", order_no=ORDER_NO, address=CLEAR_ADDRESS,
                  phone=CLEAR_PHONE)  # fmt: skip
    assert r.status_code == 200 and r.json()["ok"] is True
    calls = (await client.get(f"{url}/calls", headers=owner)).json()["items"]
    assert calls[0]["params"] == {
        "order_no": ORDER_NO, "address": "北京市朝阳区****", "phone": "139****5678",
    }  # fmt: skip
    [row] = await audit_rows(db, org_a.id, "connector.action_called")
    text = json.dumps(row.details, ensure_ascii=False)
    assert CLEAR_PHONE not in text and "建国路88号" not in text
    assert row.details["params"]["address"] == "北京市朝阳区****"
    assert row.target_type == "connector_instance" and row.outcome == "success"
    assert row.details["action"] == "change_address" and row.details["attempts"] == 1


async def test_upstream_garbage_is_200_with_a_classified_error_and_a_log_entry(
    client: httpx.AsyncClient, org_a: Org, system: FakeSystem, db: Database
) -> None:
    owner = await login(client, org_a, "owner")
    url = await instance(client, owner, sandbox=True)
    system.push(*[answer("<html>oops</html>", 502)] * 3)
    r = await run(client, owner, url)
    assert r.status_code == 200, r.text
    outcome = r.json()
    assert outcome["ok"] is False and outcome["data"] is None and outcome["sandbox"] is True
    assert outcome["error"]["class"] == "retry" and outcome["error"]["kind"] == "transient"
    assert outcome["error"]["status"] == 502 and outcome["attempts"] == 3
    assert dt.datetime.fromisoformat(outcome["fetched_at"]).tzinfo is not None

    [call] = (await client.get(f"{url}/calls", headers=owner)).json()["items"]
    assert call["id"] == outcome["call_id"] and call["outcome"] == "error"
    assert (call["attempts"], call["http_status"], call["error_class"]) == (3, 502, "retry")
    [row] = await audit_rows(db, org_a.id, "connector.action_called")
    assert row.outcome == "failure" and row.details["error"]["class"] == "retry"
    assert row.details["sandbox"] is True


async def test_stale_value_served_when_the_system_fails(
    client: httpx.AsyncClient, org_a: Org, system: FakeSystem, clock: Clock
) -> None:
    owner = await login(client, org_a, "owner")
    url = await instance(client, owner)
    fresh = (await run(client, owner, url)).json()
    assert fresh["ok"] and not fresh["cached"] and not fresh["stale"]
    clock.now += 30
    hit = (await run(client, owner, url)).json()
    assert hit["cached"] and not hit["stale"] and hit["fetched_at"] == fresh["fetched_at"]
    clock.now += 60
    system.push(*[answer({"e": "down"}, 503)] * 3)
    stale = (await run(client, owner, url)).json()
    assert stale["ok"] is True and stale["cached"] and stale["stale"]
    assert stale["fetched_at"] == fresh["fetched_at"] and stale["data"] == fresh["data"]
    assert stale["error"]["status"] == 503
    outcomes = [c["outcome"] for c in (await client.get(f"{url}/calls", headers=owner)).json()[
        "items"]]  # fmt: skip
    assert outcomes == ["error", "success", "success"], "a stale answer is a failed call"


async def test_calls_page_filters_and_health_figures_match_the_calls(
    client: httpx.AsyncClient, org_a: Org, system: FakeSystem
) -> None:
    owner = await login(client, org_a, "owner")
    url = await instance(client, owner)
    outcomes = []
    for n in range(4):  # 4 successful writes (not cached)
        outcomes.append((await run(client, owner, url, "cancel_order", order_no=f"C{n}")).json())
    system.push(answer({"e": "no"}, 400))
    failed = (await run(client, owner, url, "cancel_order", order_no="C9")).json()
    outcomes.append(failed)
    assert [o["ok"] for o in outcomes] == [True, True, True, True, False]
    await run(client, owner, url)
    await run(client, owner, url)  # a cache hit

    page = await client.get(f"{url}/calls", headers=owner, params={"limit": 3})
    assert len(page.json()["items"]) == 3 and page.json()["next_cursor"]
    rest = await client.get(
        f"{url}/calls", headers=owner, params={"cursor": page.json()["next_cursor"]}
    )
    assert len(rest.json()["items"]) == 4
    errors = await client.get(f"{url}/calls", headers=owner, params={"outcome": "error"})
    assert [c["id"] for c in errors.json()["items"]] == [failed["call_id"]]
    cancels = await client.get(f"{url}/calls", headers=owner, params={"action": "cancel_order"})
    assert len(cancels.json()["items"]) == 5

    supervisor = await login(client, org_a, "supervisor")
    health = (await client.get(f"{url}/health", headers=supervisor)).json()
    assert health["breaker"] == "closed" and health["window"] == 1000
    by_action = {a["action"]: a for a in health["actions"]}
    assert set(by_action) == {"get_order", "change_address", "cancel_order"}
    cancel = by_action["cancel_order"]
    latencies = sorted(o["latency_ms"] for o in outcomes)
    assert (cancel["calls"], cancel["successes"], cancel["failures"]) == (5, 4, 1)
    assert cancel["success_rate"] == 0.8 and cancel["cache_hits"] == 0
    assert cancel["p50_ms"] == pytest.approx(latencies[2], abs=0.001)  # nearest rank: 3rd of 5
    assert cancel["p95_ms"] == pytest.approx(latencies[4], abs=0.001)
    assert cancel["last_failure_at"] is not None and cancel["last_success_at"] is not None
    assert cancel["last_error"]["code"] == "http_400"
    assert by_action["get_order"]["calls"] == 2 and by_action["get_order"]["cache_hits"] == 1
    assert by_action["change_address"]["calls"] == 0
    assert by_action["change_address"]["success_rate"] is None


async def test_breaker_state_shows_in_health_and_outcomes(
    client: httpx.AsyncClient, org_a: Org, system: FakeSystem
) -> None:
    owner = await login(client, org_a, "owner")
    url = await instance(client, owner)
    system.default = answer({"e": "down"}, 500)
    for n in range(3):
        assert (await run(client, owner, url, "cancel_order", order_no=f"C{n}")).json()[
            "attempts"] == 3  # fmt: skip
    sent = len(system.calls)
    blocked = (await run(client, owner, url, "cancel_order", order_no="C4")).json()
    assert blocked["ok"] is False and blocked["error"]["code"] == "circuit_open"
    assert blocked["attempts"] == 0 and len(system.calls) == sent
    health = (await client.get(f"{url}/health", headers=owner)).json()
    assert health["breaker"] == "open"
    cancel = next(a for a in health["actions"] if a["action"] == "cancel_order")
    assert cancel["breaker"] == "open" and cancel["last_error"]["code"] == "circuit_open"
