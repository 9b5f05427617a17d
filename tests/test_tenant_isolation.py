"""Meta-test: a user or API key of tenant B can neither read nor change anything of tenant A.

It walks every route of the OpenAPI document. Each path parameter must have a factory
(tenant_isolation_objects.py) that creates an object in tenant A; every method on every such
route is then called by B (with a user token and with an API key holding every permission)
on A's object and must answer 404, never 200 or 403 (which would leak that the object
exists). Afterwards A's objects are unchanged, and B's collection listings never mention A's ids.
A new route with a new path parameter fails this test until it gets a factory and a body.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from conftest import Org, login
from tenant_isolation_objects import API, BODIES, FACTORIES, READ_BACK, _customer

VOLATILE = {"last_used_at", "last_login_at", "updated_at"}


def _strip(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _strip(v) for k, v in data.items() if k not in VOLATILE}
    return data


async def _b_api_key(client: httpx.AsyncClient, owner_b: dict[str, str]) -> dict[str, str]:
    perms = [
        p["name"] for p in (await client.get(f"{API}/permissions", headers=owner_b)).json()["items"]
    ]
    r = await client.post(
        f"{API}/api-keys", headers=owner_b, json={"name": "all", "permissions": perms}
    )
    assert r.status_code == 201, r.text
    return {"X-API-Key": r.json()["key"]}


async def test_tenant_b_cannot_reach_tenant_a(
    client: httpx.AsyncClient, app: Any, org_a: Org, org_b: Org
) -> None:
    owner_a = await login(client, org_a, "owner")
    owner_b = await login(client, org_b, "owner")
    key_b = await _b_api_key(client, owner_b)
    ids = {param: await make(client, owner_a, org_a) for param, make in FACTORIES.items()}
    before = {
        p: _strip((await client.get(API + READ_BACK[p].format(i), headers=owner_a)).json())
        for p, i in ids.items()
        if p in READ_BACK
    }

    spec = app.openapi()
    checked = 0
    for path, ops in spec["paths"].items():
        params = re.findall(r"{(\w+)}", path)
        if not params or not path.startswith(API):
            continue  # /hooks/... authenticates by signature, not by user: tests/integrations
        unknown = [p for p in params if p not in FACTORIES]
        assert not unknown, f"{path}: add a factory for {unknown} to this meta-test"
        url = path.format(**ids)
        for method, op in ops.items():
            has_body = "requestBody" in op
            if (
                has_body
                or method in ("put", "patch")
                or (method == "post" and path.endswith(("unlock",)))
            ):
                assert (method, path) in BODIES, f"add a body for {method.upper()} {path}"
            body = BODIES.get((method, path))
            for who, headers in (("user", owner_b), ("api key", key_b)):
                r = await client.request(
                    method.upper(), url, headers=headers, json=body if body is not None else None
                )
                assert r.status_code == 404, (
                    f"{method.upper()} {path} as tenant B's {who}: {r.status_code} {r.text[:200]}"
                )
                assert r.json()["error"]["code"] == "not_found"
                checked += 1
    assert checked >= 2 * len(FACTORIES)

    after = {
        p: _strip((await client.get(API + READ_BACK[p].format(i), headers=owner_a)).json())
        for p, i in ids.items()
        if p in READ_BACK
    }
    assert after == before, "tenant B changed tenant A's objects"
    keys_a = (await client.get(f"{API}/api-keys", headers=owner_a)).json()["items"]
    assert all(k["revoked_at"] is None for k in keys_a), "tenant B revoked tenant A's key"

    # collections: nothing of A shows up in any listing B can make
    ids_of_a = [v for p, v in ids.items() if p != "index"]  # an index ("0") is no id
    needles = [*ids_of_a, str(org_a.id), *(str(u) for u in org_a.users.values())]
    for path, ops in spec["paths"].items():
        if "get" not in ops or "{" in path or not path.startswith(API) or "/auth/" in path:
            continue
        if path.endswith("/me"):
            continue  # about the caller (a user), not a collection
        for headers in (owner_b, key_b):
            r = await client.get(path, headers=headers)
            assert r.status_code == 200, f"GET {path}: {r.status_code} {r.text[:200]}"
            leaked = [n for n in needles if n in r.text]
            assert not leaked, f"GET {path} as tenant B shows tenant A's ids {leaked}"


@pytest.mark.parametrize("role", ["agent", "read-only"])
async def test_lower_roles_of_b_also_get_404_not_403(
    client: httpx.AsyncClient, org_a: Org, org_b: Org, role: str
) -> None:
    owner_a = await login(client, org_a, "owner")
    customer = await _customer(client, owner_a, org_a)
    headers = await login(client, org_b, role)
    r = await client.get(f"{API}/customers/{customer}", headers=headers)
    assert r.status_code == 404
