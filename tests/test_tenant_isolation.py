"""Meta-test: a user or API key of tenant B can neither read nor change anything of tenant A.

It walks every route of the OpenAPI document. Each path parameter must have a factory below
that creates an object in tenant A; every method on every such route is then called by B
(with a user token and with an API key holding every permission) on A's object and must
answer 404, never 200 or 403 (which would leak that the object exists). Afterwards A's
objects are unchanged, and B's collection listings never mention A's ids.
A new route with a new path parameter fails this test until it gets a factory and a body.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from conftest import Org, login

API = "/api/v1"
Factory = Callable[[httpx.AsyncClient, dict[str, str], Org], Awaitable[str]]


async def _post(
    client: httpx.AsyncClient, headers: dict[str, str], path: str, body: dict[str, Any]
) -> str:
    r = await client.post(f"{API}{path}", headers=headers, json=body)
    assert r.status_code == 201, f"{path}: {r.status_code} {r.text}"
    return str(r.json()["id"])


async def _department(c: httpx.AsyncClient, h: dict[str, str], org: Org) -> str:
    return await _post(c, h, "/departments", {"name": "售后服务部"})


async def _team(c: httpx.AsyncClient, h: dict[str, str], org: Org) -> str:
    return await _post(c, h, "/teams", {"name": "VIP 专席"})


async def _role(c: httpx.AsyncClient, h: dict[str, str], org: Org) -> str:
    return await _post(c, h, "/roles", {"name": "night-shift", "permissions": ["users.read"]})


async def _user(c: httpx.AsyncClient, h: dict[str, str], org: Org) -> str:
    return str(org.users["agent"])


async def _key(c: httpx.AsyncClient, h: dict[str, str], org: Org) -> str:
    return await _post(c, h, "/api-keys", {"name": "erp", "permissions": ["customers.read"]})


async def _customer(c: httpx.AsyncClient, h: dict[str, str], org: Org) -> str:
    return await _post(
        c,
        h,
        "/customers",
        {
            "name": "王小明",
            "phone": "13912345678",
            "id_number": "11010519491231002X",
            "email": "wang@example.cn",
            "address": "上海市浦东新区世纪大道100号",
        },
    )


CONNECTOR_SPEC = """\
apiVersion: relaydesk.io/v1
kind: http
name: parcels
config:
  base_url: {type: string, required: true}
  token: {type: string, required: true, secret: true}
http: {base_url: "{{ config.base_url }}"}
auth: {type: bearer, token: "{{ config.token }}"}
actions:
  track_parcel:
    effect: read
    params: {parcel_no: {type: string, required: true}}
    request: {path: "/parcels/{{ params.parcel_no }}"}
"""


async def _connector_instance(c: httpx.AsyncClient, h: dict[str, str], org: Org) -> str:
    config = {"base_url": "http://erp.example.com", "token": "t0ken-of-tenant-a"}
    return await _post(c, h, "/connector-instances", {"spec": CONNECTOR_SPEC, "config": config})


async def _connector_action(c: httpx.AsyncClient, h: dict[str, str], org: Org) -> str:
    return "track_parcel"  # an action of the instance above


FACTORIES: dict[str, Factory] = {
    "department_id": _department,
    "team_id": _team,
    "role_id": _role,
    "user_id": _user,
    "key_id": _key,
    "customer_id": _customer,
    "instance_id": _connector_instance,
    "action": _connector_action,
}

# a body each write operation would accept if the object were the caller's own
BODIES: dict[tuple[str, str], Any] = {
    ("patch", "/api/v1/departments/{department_id}"): {"name": "hijacked"},
    ("patch", "/api/v1/teams/{team_id}"): {"name": "hijacked"},
    ("put", "/api/v1/teams/{team_id}/members"): {"user_ids": []},
    ("patch", "/api/v1/roles/{role_id}"): {"description": "hijacked"},
    ("patch", "/api/v1/users/{user_id}"): {"display_name": "hijacked"},
    ("post", "/api/v1/users/{user_id}/unlock"): None,
    ("post", "/api/v1/users/{user_id}/password"): {"password": "hijacked-password-123"},
    ("patch", "/api/v1/customers/{customer_id}"): {"name": "hijacked"},
    ("post", "/api/v1/customers/{customer_id}/reveal"): {"field": "phone"},
    ("patch", "/api/v1/connector-instances/{instance_id}"): {"enabled": False},
    ("post", "/api/v1/connector-instances/{instance_id}/actions/{action}/run"): {
        "params": {"parcel_no": "SF1234567890"}
    },
}
# read-backs that show an object is unchanged (owner of A)
READ_BACK = {
    "department_id": "/departments/{}",
    "team_id": "/teams/{}",
    "role_id": "/roles/{}",
    "user_id": "/users/{}",
    "customer_id": "/customers/{}",
    "instance_id": "/connector-instances/{}",
}
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
    needles = [*ids.values(), str(org_a.id), *(str(u) for u in org_a.users.values())]
    for path, ops in spec["paths"].items():
        if "get" not in ops or "{" in path or not path.startswith(API) or "/auth/" in path:
            continue
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
