"""Authenticating with API keys: recorded use, revocation, expiry, own permissions only."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from auth_helpers import ME, audit_rows, error_code, get_key, make_key, update_key
from conftest import Org

from relaydesk.kit.db import Database, utcnow


async def test_use_is_recorded(client: httpx.AsyncClient, db: Database, org_a: Org) -> None:
    key_id, key = await make_key(db, org_a, ["audit.read"])
    assert (await get_key(db, org_a, key_id)).last_used_at is None
    r = await client.get(ME, headers={"X-API-Key": key})
    assert r.status_code == 200
    assert r.json()["kind"] == "api_key"
    assert r.json()["permissions"] == ["audit.read"]
    row = await get_key(db, org_a, key_id)
    assert row.last_used_at is not None
    assert utcnow() - row.last_used_at < dt.timedelta(seconds=10)
    assert row.last_used_ip == "127.0.0.1"
    used = await audit_rows(db, org_a, "apikey.used")
    assert [(u.outcome, u.actor_type, u.actor_id, u.target_id) for u in used] == [
        ("success", "api_key", str(key_id), str(key_id))
    ]
    # bookkeeping is throttled: a burst of calls is one audit row, not one per call
    await client.get(ME, headers={"X-API-Key": key})
    assert len(await audit_rows(db, org_a, "apikey.used")) == 1


async def test_bearer_form_works_too(client: httpx.AsyncClient, db: Database, org_a: Org) -> None:
    _, key = await make_key(db, org_a, ["audit.read"])
    r = await client.get(ME, headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200 and r.json()["kind"] == "api_key"


@pytest.mark.parametrize("state", ["revoked", "expired"])
async def test_revoked_or_expired_key_is_401(
    client: httpx.AsyncClient, db: Database, org_a: Org, state: str
) -> None:
    key_id, key = await make_key(
        db, org_a, ["audit.read"], expires_at=utcnow() + dt.timedelta(days=1)
    )
    assert (await client.get(ME, headers={"X-API-Key": key})).status_code == 200
    past = utcnow() - dt.timedelta(seconds=1)
    await update_key(db, org_a, key_id, **({"revoked_at": past} if state == "revoked"
                                          else {"expires_at": past}))
    r = await client.get(ME, headers={"X-API-Key": key})
    assert r.status_code == 401
    assert error_code(r) == "invalid_api_key"


@pytest.mark.parametrize(
    "key",
    ["rdk_", "rdk_deadbeef_" + "x" * 43, "rdk_short_x", "not-a-key-at-all-but-long-enough"],
)
async def test_unknown_or_malformed_key_is_401(
    client: httpx.AsyncClient, org_a: Org, key: str
) -> None:
    r = await client.get(ME, headers={"X-API-Key": key})
    assert r.status_code == 401


async def test_key_with_right_prefix_but_wrong_secret_is_401(
    client: httpx.AsyncClient, db: Database, org_a: Org
) -> None:
    _, key = await make_key(db, org_a, ["audit.read"])
    forged = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    r = await client.get(ME, headers={"X-API-Key": forged})
    assert r.status_code == 401
    assert error_code(r) == "invalid_api_key"


async def test_key_has_only_its_own_permissions(
    client: httpx.AsyncClient, db: Database, org_a: Org
) -> None:
    _, reader = await make_key(db, org_a, ["audit.read"])
    _, customers = await make_key(db, org_a, ["customers.read"])
    assert (await client.get("/api/v1/audit", headers={"X-API-Key": reader})).status_code == 200
    r = await client.get("/api/v1/audit", headers={"X-API-Key": customers})
    assert r.status_code == 403
    assert r.json()["error"]["details"] == {"missing": ["audit.read"]}


async def test_key_sees_only_its_own_org(
    client: httpx.AsyncClient, db: Database, org_a: Org, org_b: Org
) -> None:
    _, key = await make_key(db, org_b, ["audit.read"])
    r = await client.get("/api/v1/audit", headers={"X-API-Key": key}, params={"limit": 200})
    targets = {(row["target"] or {}).get("id") for row in r.json()["items"]}
    assert str(org_b.id) in targets
    assert str(org_a.id) not in targets
