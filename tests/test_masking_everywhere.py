"""Meta-test: an agent (no `customers.pii.view`, no reveal) never receives a clear phone,
ID-card, e-mail, bank-card number or address detail in ANY response of the API, in JSON or
XML, and no log line written while serving those requests contains one either."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from conftest import Org, login
from customers.customers_support import CLEAR_VALUES, ZHANG, create

API = "/api/v1"
STAFF_PHONE = "13812345678"  # every conftest user has this phone


async def _all_responses(
    client: httpx.AsyncClient, app: Any, headers: dict[str, str], ids: dict[str, str]
) -> list[httpx.Response]:
    out = []
    for path, ops in app.openapi()["paths"].items():
        if "get" not in ops or not path.startswith(API):
            continue
        params = re.findall(r"{(\w+)}", path)
        if any(p not in ids for p in params):
            continue
        url = path.format(**ids)
        out.append(await client.get(url, headers=headers))
        out.append(await client.get(url, headers={**headers, "Accept": "application/xml"}))
    return out


async def test_agent_never_receives_clear_personal_data(
    client: httpx.AsyncClient, app: Any, org_a: Org, capsys: pytest.CaptureFixture[str]
) -> None:
    owner = await login(client, org_a, "owner")
    customer = await create(client, owner)
    agent = await login(client, org_a, "agent")
    capsys.readouterr()  # only what happens from here on

    responses = []
    created = await client.post(
        f"{API}/customers", headers=agent, json={**ZHANG, "name": "张伟二号"}
    )
    assert created.status_code == 201
    responses.append(created)
    responses.append(
        await client.patch(
            f"{API}/customers/{customer['id']}",
            headers=agent,
            json={"company": "新公司", "phone": "13812345678"},
        )
    )
    responses.append(
        await client.post(
            f"{API}/customers/{customer['id']}/reveal", headers=agent, json={"field": "phone"}
        )
    )
    ids = {"customer_id": customer["id"], "user_id": str(org_a.users["agent"])}
    responses += await _all_responses(client, app, agent, ids)

    assert sum(r.status_code == 200 for r in responses) >= 6
    assert responses[2].status_code == 403, "an agent may not reveal"
    for r in responses:
        for clear in [*CLEAR_VALUES, STAFF_PHONE]:
            assert clear not in r.text, f"{r.request.method} {r.request.url}: clear {clear!r}"
    logs = capsys.readouterr()
    for clear in [*CLEAR_VALUES, STAFF_PHONE]:
        assert clear not in logs.out + logs.err, f"clear {clear!r} in the logs"


async def test_owner_sees_clear_values_so_the_check_above_can_fail(
    client: httpx.AsyncClient, org_a: Org
) -> None:
    owner = await login(client, org_a, "owner")
    customer = await create(client, owner)
    r = await client.get(f"{API}/customers/{customer['id']}", headers=owner)
    assert "+8613812345678" in r.text
    assert r.json()["masked"] is False
