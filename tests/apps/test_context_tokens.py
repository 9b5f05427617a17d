"""Context tokens: claims, lifetime, verification with the published JWKS, key rotation."""

from __future__ import annotations

import datetime as dt
import uuid
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from apps_support import API, agents_read_apps, app, create, customer, verify  # noqa: F401
from conftest import Org, login
from fastapi import FastAPI
from sqlalchemy import select

from relaydesk.apps import service as apps_service
from relaydesk.apps.keys import SigningKeys, retire_superseded, rotate
from relaydesk.apps.models import AppSigningKey
from relaydesk.kit.crypto import DecryptionFailed, Keyring, bind, generate_key, parse_key
from relaydesk.kit.db import Database, mark_system, utcnow


async def _token(
    client: httpx.AsyncClient, headers: dict[str, str], app_id: str, **body: str
) -> httpx.Response:
    return await client.post(f"{API}/{app_id}/context", headers=headers, json=body)


async def test_agent_gets_a_token_the_app_verifies_with_the_jwks(
    client: httpx.AsyncClient, org_a: Org, db: Database
) -> None:
    admin = await login(client, org_a, "admin")
    made = await create(client, admin)
    agent = await login(client, org_a, "agent")
    cid = await customer(db, org_a)
    r = await _token(client, agent, made["id"], customer_id=cid)
    assert r.status_code == 200, r.text
    out = r.json()
    token = out["token"]

    claims = await verify(client, token, audience=made["id"])
    assert claims["customer_id"] == cid
    assert claims["agent_id"] == claims["sub"] == str(org_a.users["agent"])
    assert claims["tenant_id"] == str(org_a.id) and claims["tenant"] == org_a.slug
    assert claims["app_id"] == made["id"] and claims["aud"] == made["id"]
    assert claims["iss"] == "http://testserver"
    assert "conversation_id" not in claims
    assert 0 < claims["exp"] - claims["iat"] <= 300
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "ES256" and header["kid"]

    query = parse_qs(urlsplit(out["url"]).query)
    assert query == {"view": ["compact"], "rd_token": [token]}
    assert out["origin"] == "https://erp.example.com"

    with pytest.raises(jwt.InvalidAudienceError):
        await verify(client, token, audience=str(uuid.uuid4()))
    head, body, sig = token.split(".")
    forged = jwt.utils.base64url_encode(
        jwt.utils.base64url_decode(body).replace(cid.encode(), str(uuid.uuid4()).encode())
    ).decode()
    with pytest.raises(jwt.InvalidSignatureError):
        await verify(client, f"{head}.{forged}.{sig}", audience=made["id"])


async def test_an_old_token_is_refused_as_expired(
    client: httpx.AsyncClient, org_a: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = await login(client, org_a, "admin")
    made = await create(client, admin)
    monkeypatch.setattr(
        apps_service, "utcnow", lambda: utcnow() - dt.timedelta(minutes=5, seconds=1)
    )
    r = await _token(client, admin, made["id"])
    assert r.status_code == 200, r.text
    with pytest.raises(jwt.ExpiredSignatureError):
        await verify(client, r.json()["token"], audience=made["id"])


async def test_refusals(client: httpx.AsyncClient, org_a: Org, org_b: Org, db: Database) -> None:
    admin = await login(client, org_a, "admin")
    made = await create(client, admin)
    other = await customer(db, org_b, "韩梅梅")
    r = await _token(client, admin, made["id"], customer_id=other)
    assert r.status_code == 404, "another tenant's customer"
    r = await _token(client, admin, made["id"], conversation_id=str(uuid.uuid4()))
    assert r.status_code == 404, "an unknown conversation"
    key = await client.post(
        "/api/v1/api-keys", headers=admin, json={"name": "k", "permissions": ["apps.read"]}
    )
    r = await _token(client, {"X-API-Key": key.json()["key"]}, made["id"])
    assert r.status_code == 403, "tokens name an agent: API keys get none"
    await client.patch(f"{API}/{made['id']}", headers=admin, json={"enabled": False})
    r = await _token(client, admin, made["id"])
    assert r.status_code == 409


async def test_the_private_key_is_encrypted_at_rest(
    client: httpx.AsyncClient, org_a: Org, db: Database
) -> None:
    admin = await login(client, org_a, "admin")
    made = await create(client, admin)
    assert (await _token(client, admin, made["id"])).status_code == 200
    async with db.sessionmaker() as session:
        mark_system(session)
        rows = (await session.execute(select(AppSigningKey))).scalars().all()
    assert len(rows) == 1
    blob = rows[0].private_key_encrypted
    assert b"PRIVATE KEY" not in blob
    stranger = Keyring([parse_key(generate_key())])
    with pytest.raises(DecryptionFailed):
        stranger.decrypt(blob, bind("app-signing-key", "system", rows[0].kid))
    jwks = (await client.get(f"{API}/jwks.json")).json()
    assert jwks["keys"][0]["kid"] == rows[0].kid
    assert set(jwks["keys"][0]) == {"kty", "crv", "x", "y", "kid", "use", "alg"}, "public only"


async def test_rotation_publishes_first_signs_later_and_retires(
    client: httpx.AsyncClient,
    org_a: Org,
    db: Database,
    app: FastAPI,  # noqa: F811
) -> None:
    admin = await login(client, org_a, "admin")
    made = await create(client, admin)
    old = (await _token(client, admin, made["id"])).json()["token"]
    old_kid = jwt.get_unverified_header(old)["kid"]
    keys: SigningKeys = app.state.app_signing_keys
    keyring = app.state.keyring

    async with db.job(system=True) as session:
        pending = await rotate(session, keyring, dt.timedelta(minutes=10))
    keys.invalidate()
    published = {k["kid"] for k in (await client.get(f"{API}/jwks.json")).json()["keys"]}
    assert published == {old_kid, pending.kid}, "published before it signs"
    token = (await _token(client, admin, made["id"])).json()["token"]
    assert jwt.get_unverified_header(token)["kid"] == old_kid

    async with db.job(system=True) as session:
        fresh = await rotate(session, keyring, dt.timedelta(0))
        # time passes: the first key has signed for 20 minutes, the fresh one for 6
        first = await session.get(AppSigningKey, old_kid)
        assert first is not None
        first.activates_at = utcnow() - dt.timedelta(minutes=20)
        fresh.activates_at = utcnow() - dt.timedelta(minutes=6)
    keys.invalidate()
    token = (await _token(client, admin, made["id"])).json()["token"]
    assert jwt.get_unverified_header(token)["kid"] == fresh.kid
    assert (await verify(client, old, audience=made["id"]))["aud"] == made["id"]

    async with db.job(system=True) as session:
        retired = await retire_superseded(session, dt.timedelta(minutes=5))
    assert retired == [old_kid]
    keys.invalidate()
    published = {k["kid"] for k in (await client.get(f"{API}/jwks.json")).json()["keys"]}
    assert published == {pending.kid, fresh.kid}
    with pytest.raises(LookupError):
        await verify(client, old, audience=made["id"])
