"""GET /audit: who may read it, whose rows they see, filters and pages."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import httpx
import pytest
from conftest import PASSWORD, Org, login

URL = "/api/v1/audit"


async def _rows(client: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> list[Any]:
    r = await client.get(URL, headers=headers, params={"limit": 200, **params})
    assert r.status_code == 200, r.text
    items: list[Any] = r.json()["items"]
    return items


@pytest.mark.parametrize("role", ["read-only", "agent"])
async def test_roles_without_audit_read_get_403(
    client: httpx.AsyncClient, org_a: Org, role: str
) -> None:
    headers = await login(client, org_a, role)
    for path in (URL, f"{URL}/verify"):
        r = await client.get(path, headers=headers)
        assert r.status_code == 403
        assert r.json()["error"]["code"] == "forbidden"
        assert r.json()["error"]["details"] == {"missing": ["audit.read"]}


async def test_requires_authentication(client: httpx.AsyncClient, org_a: Org) -> None:
    r = await client.get(URL)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "unauthorized"


async def test_rows_newest_first_with_chain_fields(client: httpx.AsyncClient, org_a: Org) -> None:
    headers = await login(client, org_a, "supervisor")
    rows = await _rows(client, headers)
    assert [row["seq"] for row in rows] == [7, 6, 5, 4, 3, 2, 1]
    newest = rows[0]
    assert newest["action"] == "auth.login"
    assert newest["outcome"] == "success"
    assert newest["actor"]["type"] == "user"
    assert newest["actor"]["id"] == str(org_a.users["supervisor"])
    assert newest["target"]["type"] == "session"
    assert newest["ip"] == "127.0.0.1"
    assert newest["request_id"]
    oldest = rows[-1]
    assert oldest["action"] == "tenant.created"
    assert oldest["actor"] == {"type": "system", "id": None, "label": "system"}
    assert oldest["target"] == {"type": "tenant", "id": str(org_a.id)}
    assert oldest["details"] == {"slug": "acme"}
    assert oldest["prev_hash"] == "0" * 64
    # every row links to the one before it
    for newer, older in itertools.pairwise(rows):
        assert newer["prev_hash"] == older["hash"]


async def test_org_b_cannot_see_org_a_rows(
    client: httpx.AsyncClient, org_a: Org, org_b: Org
) -> None:
    await login(client, org_a, "admin")  # activity in org_a
    rows = await _rows(client, await login(client, org_b, "admin"))
    assert len(rows) == 7
    tenant_rows = [r for r in rows if r["target"] and r["target"]["type"] == "tenant"]
    assert [r["target"]["id"] for r in tenant_rows] == [str(org_b.id)]
    a_ids = {str(uid) for uid in org_a.users.values()} | {str(org_a.id)}
    for row in rows:
        assert row["actor"]["id"] not in a_ids
        assert (row["target"] or {}).get("id") not in a_ids
    verify = (await client.get(f"{URL}/verify", headers=await login(client, org_b, "admin")))
    assert verify.json()["checked"] == 8


async def test_filters(client: httpx.AsyncClient, org_a: Org) -> None:
    failed = await client.post(
        "/api/v1/auth/login",
        json={"tenant": "acme", "email": org_a.email("agent"), "password": "wrong" + PASSWORD},
    )
    assert failed.status_code == 401
    headers = await login(client, org_a, "owner")

    created = await _rows(client, headers, action="user.created")
    assert len(created) == 5
    assert {r["action"] for r in created} == {"user.created"}

    auth = await _rows(client, headers, action="auth.*")
    assert [(r["action"], r["outcome"]) for r in auth] == [
        ("auth.login", "success"), ("auth.login", "failure")
    ]
    assert await _rows(client, headers, action="auth.") == []  # no * means exact
    assert len(await _rows(client, headers, action="*")) == 8

    failures = await _rows(client, headers, outcome="failure")
    assert len(failures) == 1
    assert failures[0]["actor"]["id"] == str(org_a.users["agent"])
    assert failures[0]["details"]["reason"] == "bad_credentials"

    by_actor = await _rows(client, headers, actor_id=str(org_a.users["owner"]))
    assert [r["action"] for r in by_actor] == ["auth.login"]

    system = await _rows(client, headers, actor_type="system")
    assert len(system) == 6

    agent_id = str(org_a.users["agent"])
    target = await _rows(client, headers, target_type="user", target_id=agent_id)
    assert [(r["action"], r["target"]["id"]) for r in target] == [("user.created", agent_id)]

    combined = await _rows(client, headers, action="auth.*", actor_type="user", outcome="success")
    assert len(combined) == 1


async def test_time_window(client: httpx.AsyncClient, org_a: Org) -> None:
    headers = await login(client, org_a, "admin")
    rows = await _rows(client, headers)
    newest = dt.datetime.fromisoformat(rows[0]["occurred_at"])
    future = (newest + dt.timedelta(hours=1)).isoformat()
    past = (newest - dt.timedelta(days=1)).isoformat()

    assert await _rows(client, headers, since=future) == []
    assert len(await _rows(client, headers, since=past)) == len(rows)
    assert await _rows(client, headers, until=past) == []
    only_newest = await _rows(client, headers, since=rows[0]["occurred_at"], until=future)
    assert rows[0]["seq"] in [r["seq"] for r in only_newest]
    # an offset-less time is UTC
    naive = (newest + dt.timedelta(hours=1)).replace(tzinfo=None).isoformat()
    assert len(await _rows(client, headers, until=naive)) == len(rows)


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"since": "2030-01-02T00:00:00Z", "until": "2030-01-01T00:00:00Z"}, 422,
         "validation_error"),
        ({"since": "yesterday"}, 422, "validation_error"),
        ({"action": "auth.*.x"}, 422, "validation_error"),
        ({"actor_type": "robot"}, 422, "validation_error"),
        ({"cursor": "not a cursor!"}, 400, "bad_request"),
        ({"limit": 0}, 422, "validation_error"),
    ],
)
async def test_bad_filters_are_refused(
    client: httpx.AsyncClient, org_a: Org, params: dict[str, Any], status: int, code: str
) -> None:
    r = await client.get(URL, headers=await login(client, org_a, "admin"), params=params)
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code


async def test_since_after_until_names_the_parameter(client: httpx.AsyncClient, org_a: Org) -> None:
    r = await client.get(
        URL, headers=await login(client, org_a, "admin"),
        params={"since": "2030-01-02T00:00:00+00:00", "until": "2030-01-01T00:00:00+00:00"},
    )
    assert r.json()["error"]["message"] == "since must not be later than until"
    assert r.json()["error"]["details"][0]["loc"] == ["query", "since"]


async def test_cursor_pages_cover_everything_once(client: httpx.AsyncClient, org_a: Org) -> None:
    headers = await login(client, org_a, "admin")
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        r = await client.get(URL, headers=headers, params=params)
        assert r.status_code == 200
        body = r.json()
        seen += [row["seq"] for row in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == [7, 6, 5, 4, 3, 2, 1]
    assert pages == 3


async def test_cursor_pages_keep_filters(client: httpx.AsyncClient, org_a: Org) -> None:
    headers = await login(client, org_a, "admin")
    first = (await client.get(URL, headers=headers,
                              params={"limit": 2, "action": "user.created"})).json()
    second = (await client.get(URL, headers=headers, params={
        "limit": 10, "action": "user.created", "cursor": first["next_cursor"]})).json()
    assert [r["seq"] for r in first["items"]] == [6, 5]
    assert [r["seq"] for r in second["items"]] == [4, 3, 2]
    assert second["next_cursor"] is None


async def test_foreign_cursor_shows_nothing_of_the_other_org(
    client: httpx.AsyncClient, org_a: Org, org_b: Org
) -> None:
    a_page = (await client.get(URL, headers=await login(client, org_a, "admin"),
                               params={"limit": 1})).json()
    b_headers = await login(client, org_b, "admin")
    r = await client.get(URL, headers=b_headers, params={"cursor": a_page["next_cursor"]})
    assert r.status_code == 200
    b_ids = {row["id"] for row in await _rows(client, b_headers)}
    assert {row["id"] for row in r.json()["items"]} <= b_ids
