"""``/api/v1/webhooks/endpoints``: CRUD, validation with field paths, SSRF refusal, the
include_pii permission, secrets shown once and stored encrypted, rotation, permissions."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from conftest import Org, login
from sqlalchemy import select
from webhook_support import API, clock_fixture, create_endpoint, wh_fixture  # noqa: F401 - fixtures

from relaydesk.audit.models import AuditEntry
from relaydesk.kit.db import Database
from relaydesk.webhooks.models import WebhookEndpoint

pytestmark = pytest.mark.usefixtures("wh")
URL = "http://127.0.0.1:9/hook"


async def test_create_shows_the_secret_once_and_stores_it_encrypted(
    client: httpx.AsyncClient, org_a: Org, db: Database
) -> None:
    owner = await login(client, org_a, "owner")
    created = await create_endpoint(
        client, owner, URL, description="ERP 同步", event_types=["order.*", "customer.created"],
        rate_limit=50,
    )  # fmt: skip
    secret = created["secret"]
    assert secret.startswith("whsec_")
    assert created["event_types"] == ["order.*", "customer.created"]
    assert created["enabled"] and not created["include_pii"]
    assert created["health"]["consecutive_failures"] == 0

    shown = (await client.get(f"{API}/endpoints/{created['id']}", headers=owner)).json()
    assert "secret" not in shown and secret not in str(shown)
    listed = (await client.get(f"{API}/endpoints", headers=owner)).json()
    assert [e["id"] for e in listed["items"]] == [created["id"]]
    assert secret not in str(listed)

    async with db.job(org_a.id) as session:
        row = (await session.scalars(select(WebhookEndpoint))).one()
        assert secret.encode() not in row.secret_encrypted
        entries = (await session.scalars(select(AuditEntry))).all()
    assert any(e.action == "webhook_endpoint.created" for e in entries)
    assert secret not in str([e.details for e in entries])


BAD_INPUT: list[tuple[dict[str, Any], list[Any]]] = [
    ({"url": "ftp://example.com/x"}, ["body", "url"]),
    ({"url": "https://user:pw@example.com/x"}, ["body", "url"]),
    ({"url": "https:///nohost"}, ["body", "url"]),
    ({"url": "http://example.com:99999/"}, ["body", "url"]),
    ({"url": URL, "event_types": ["order.*", "no such"]}, ["body", "event_types", 1]),
    ({"url": URL, "event_types": ["order.teleported"]}, ["body", "event_types", 0]),
    ({"url": URL, "event_types": []}, ["body", "event_types"]),
    ({"url": URL, "allow_network": ["127.0.0.1", "10.0.0.1/8"]}, ["body", "allow_network", 1]),
    ({"url": URL, "secret": "not-a-secret"}, ["body", "secret"]),
    ({"url": URL, "rate_limit": 0}, ["body", "rate_limit"]),
    ({"url": URL, "colour": "red"}, ["body", "colour"]),
]

SSRF: list[tuple[str, list[str]]] = [
    ("http://169.254.169.254/latest/meta-data/", []),
    ("http://169.254.169.254/latest/meta-data/", ["169.254.0.0/16"]),  # always blocked
    ("http://127.0.0.1:8080/hook", []),
    ("http://10.1.2.3/hook", ["127.0.0.1"]),
    ("http://[::ffff:127.0.0.1]/hook", []),
    ("http://localhost:8080/hook", []),
]


async def test_bad_input_names_the_field(client: httpx.AsyncClient, org_a: Org) -> None:
    owner = await login(client, org_a, "owner")
    for body, loc in BAD_INPUT:
        r = await client.post(f"{API}/endpoints", headers=owner, json=body)
        assert r.status_code == 422, (body, r.text)
        assert loc in [d["loc"] for d in r.json()["error"]["details"]], (body, r.text)
    assert (await client.get(f"{API}/endpoints", headers=owner)).json()["items"] == []


async def test_ssrf_targets_are_refused(client: httpx.AsyncClient, org_a: Org) -> None:
    owner = await login(client, org_a, "owner")
    for url, allow in SSRF:
        body = {"url": url, "allow_network": allow}
        r = await client.post(f"{API}/endpoints", headers=owner, json=body)
        assert r.status_code == 422, (url, r.text)
        detail = r.json()["error"]["details"][0]
        assert detail["loc"] == ["body", "url"], (url, detail)
        assert detail["type"] == "blocked_destination", (url, detail)


async def test_intranet_target_allowed_when_opened(client: httpx.AsyncClient, org_a: Org) -> None:
    owner = await login(client, org_a, "owner")
    created = await create_endpoint(
        client, owner, "http://10.1.2.3/hook", allow_network=["10.0.0.0/8"]
    )
    assert created["allow_network"] == ["10.0.0.0/8"]
    r = await client.patch(f"{API}/endpoints/{created['id']}", headers=owner,
                           json={"allow_network": []})  # fmt: skip
    assert r.status_code == 422 and r.json()["error"]["details"][0]["loc"] == ["body", "url"]


async def test_include_pii_needs_the_permission_and_is_audited(
    client: httpx.AsyncClient, org_a: Org, db: Database
) -> None:
    owner = await login(client, org_a, "owner")
    r = await client.post("/api/v1/api-keys", headers=owner, json={
        "name": "hooks", "permissions": ["webhooks.read", "webhooks.manage"]})  # fmt: skip
    key = {"X-API-Key": r.json()["key"]}
    body = {"url": URL, "allow_network": ["127.0.0.1"], "include_pii": True}
    r = await client.post(f"{API}/endpoints", headers=key, json=body)
    assert r.status_code == 403, r.text
    plain = await create_endpoint(client, key, URL)
    r = await client.patch(
        f"{API}/endpoints/{plain['id']}", headers=key, json={"include_pii": True}
    )
    assert r.status_code == 403

    r = await client.patch(
        f"{API}/endpoints/{plain['id']}", headers=owner, json={"include_pii": True}
    )
    assert r.status_code == 200 and r.json()["include_pii"] is True
    async with db.job(org_a.id) as session:
        rows = (await session.scalars(
            select(AuditEntry).where(AuditEntry.action == "webhook_endpoint.updated")
        )).all()  # fmt: skip
    assert rows[-1].details["changed"] == {"include_pii": True}


async def test_permissions(client: httpx.AsyncClient, org_a: Org) -> None:
    owner = await login(client, org_a, "owner")
    created = await create_endpoint(client, owner, URL)
    agent = await login(client, org_a, "agent")
    assert (await client.get(f"{API}/endpoints", headers=agent)).status_code == 403
    reader = await login(client, org_a, "read-only")
    assert (await client.get(f"{API}/endpoints/{created['id']}", headers=reader)).status_code == 200
    r = await client.patch(
        f"{API}/endpoints/{created['id']}", headers=reader, json={"enabled": False}
    )
    assert r.status_code == 403
    assert (await client.post(f"{API}/endpoints/{created['id']}/rotate-secret",
                              headers=reader)).status_code == 403  # fmt: skip


async def test_update_disable_enable_and_delete(client: httpx.AsyncClient, org_a: Org) -> None:
    owner = await login(client, org_a, "owner")
    created = await create_endpoint(client, owner, URL)
    path = f"{API}/endpoints/{created['id']}"
    r = await client.patch(path, headers=owner, json={"enabled": False, "disabled_reason": "维护"})
    assert r.json()["enabled"] is False and r.json()["disabled_reason"] == "维护"
    assert (await client.get(f"{API}/endpoints?enabled=false", headers=owner)).json()["items"]
    r = await client.patch(
        path, headers=owner, json={"enabled": True, "event_types": ["order.paid"]}
    )
    body = r.json()
    assert body["enabled"] and body["disabled_reason"] is None and body["version"] == 3
    assert body["event_types"] == ["order.paid"]
    assert (await client.delete(path, headers=owner)).status_code == 204
    assert (await client.get(path, headers=owner)).status_code == 404


async def test_rotate_secret_keeps_the_old_one_for_the_overlap(
    client: httpx.AsyncClient, org_a: Org
) -> None:
    owner = await login(client, org_a, "owner")
    created = await create_endpoint(client, owner, URL)
    r = await client.post(f"{API}/endpoints/{created['id']}/rotate-secret", headers=owner,
                          json={"overlap_seconds": 3600})  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["secret"].startswith("whsec_") and r.json()["secret"] != created["secret"]
    assert r.json()["previous_secret_expires_at"] is not None
    r = await client.post(f"{API}/endpoints/{created['id']}/rotate-secret", headers=owner,
                          json={"secret": "whsec_short"})  # fmt: skip
    assert r.status_code == 422 and r.json()["error"]["details"][0]["loc"] == ["body", "secret"]
