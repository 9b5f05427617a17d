"""Registering embedded apps: validation, permissions, audit, tenant isolation."""

from __future__ import annotations

import httpx
from apps_support import API, ERP, agents_read_apps, app, create  # noqa: F401
from conftest import Org, login
from sqlalchemy import select

from relaydesk.audit.models import AuditEntry
from relaydesk.kit.db import Database, scope_session


async def test_admin_registers_an_app_and_agents_see_it(
    client: httpx.AsyncClient, org_a: Org
) -> None:
    admin = await login(client, org_a, "admin")
    made = await create(client, admin, url="HTTPS://ERP.example.com:443/embed/orders?view=compact")
    assert made["url"] == "https://ERP.example.com:443/embed/orders?view=compact"
    assert made["origin"] == "https://erp.example.com"
    assert made["origins"] == ["https://erp.example.com", "https://sso.example.com"]
    assert made["placement"] == "customer_panel" and made["enabled"] is True

    agent = await login(client, org_a, "agent")
    r = await client.get(API, headers=agent, params={"placement": "customer_panel"})
    assert r.status_code == 200
    assert [a["name"] for a in r.json()["items"]] == ["ERP order screen"]
    r = await client.post(API, headers=agent, json={**ERP, "name": "mine"})
    assert r.status_code == 403
    r = await client.patch(f"{API}/{made['id']}", headers=agent, json={"enabled": False})
    assert r.status_code == 403


async def test_bad_urls_and_origins_name_the_field(client: httpx.AsyncClient, org_a: Org) -> None:
    admin = await login(client, org_a, "admin")
    cases = [
        ({"url": "javascript:alert(1)"}, ["body", "url"]),
        ({"url": "https://user:pw@erp.example.com/"}, ["body", "url"]),
        ({"url": "https://erp.example.com/x#frag"}, ["body", "url"]),
        ({"url": "https://erp.example.com/x?rd_token=forged"}, ["body", "url"]),
        ({"origins": ["https://ok.example.com", "https://erp.example.com/path"]},
         ["body", "origins"]),
        ({"origins": ["https://*.example.com"]}, ["body", "origins"]),
        ({"placement": "sidebar"}, ["body", "placement"]),
        ({"height": 10}, ["body", "height"]),
    ]  # fmt: skip
    for body, loc in cases:
        r = await client.post(API, headers=admin, json={**ERP, **body})
        assert r.status_code == 422, (body, r.text)
        assert r.json()["error"]["details"][0]["loc"] == loc, (body, r.json())
    r = await client.get(API, headers=admin)
    assert r.json()["items"] == [], "no partial writes"


async def test_duplicate_names_conflict_and_patch_recomputes_origins(
    client: httpx.AsyncClient, org_a: Org
) -> None:
    admin = await login(client, org_a, "admin")
    first = await create(client, admin)
    r = await client.post(API, headers=admin, json=ERP)
    assert r.status_code == 409
    assert r.json()["error"]["details"][0]["loc"] == ["body", "name"]

    r = await client.patch(
        f"{API}/{first['id']}", headers=admin, json={"url": "https://erp2.example.com/embed"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["origins"] == ["https://erp2.example.com", "https://sso.example.com"]
    r = await client.patch(f"{API}/{first['id']}", headers=admin, json={"origins": []})
    assert r.json()["origins"] == ["https://erp2.example.com"]
    r = await client.patch(f"{API}/{first['id']}", headers=admin, json={"name": None})
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["loc"] == ["body", "name"]
    r = await client.delete(f"{API}/{first['id']}", headers=admin)
    assert r.status_code == 204
    assert (await client.get(f"{API}/{first['id']}", headers=admin)).status_code == 404


async def test_changes_are_audited(client: httpx.AsyncClient, org_a: Org, db: Database) -> None:
    admin = await login(client, org_a, "admin")
    made = await create(client, admin)
    await client.patch(f"{API}/{made['id']}", headers=admin, json={"enabled": False})
    await client.delete(f"{API}/{made['id']}", headers=admin)
    async with db.sessionmaker() as session:
        scope_session(session, org_a.id)
        rows = (
            (
                await session.execute(
                    select(AuditEntry)
                    .where(AuditEntry.target_id == made["id"])
                    .order_by(AuditEntry.seq)
                )
            )
            .scalars()
            .all()
        )
    assert [r.action for r in rows] == ["app.created", "app.updated", "app.deleted"]
    assert rows[1].details["changed"] == ["enabled"]


async def test_another_tenant_cannot_reach_the_app(
    client: httpx.AsyncClient, org_a: Org, org_b: Org
) -> None:
    made = await create(client, await login(client, org_a, "admin"))
    owner_b = await login(client, org_b, "owner")
    url = f"{API}/{made['id']}"
    calls = [
        ("GET", url, None),
        ("PATCH", url, {"enabled": False}),
        ("DELETE", url, None),
        ("POST", f"{url}/context", {}),
    ]
    for method, path, body in calls:
        r = await client.request(method, path, headers=owner_b, json=body)
        assert r.status_code == 404, (method, r.text)
    assert (await client.get(API, headers=owner_b)).json()["items"] == []
    again = await client.get(url, headers=await login(client, org_a, "admin"))
    assert again.json()["enabled"] is True
