"""Helpers and wiring for the embedded-apps tests. Until the shared files include the package,
``app`` adds the router and the CSP middleware, and ``agents_read_apps`` gives the agent and
supervisor roles ``apps.read`` (both are no-ops once wired). Test modules import them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from conftest import Org
from fastapi import FastAPI
from sqlalchemy import insert

import relaydesk.apps
import relaydesk.apps.models  # noqa: F401 - the tables, for the metadata
from relaydesk.app import create_app
from relaydesk.apps.api import router as apps_router
from relaydesk.apps.csp import FrameSrcMiddleware
from relaydesk.config import Settings
from relaydesk.customers.models import Customer
from relaydesk.kit.db import Database
from relaydesk.kit.ids import uuid7
from relaydesk.tenancy import service as tenancy_service

API = "/api/v1/apps"
ERP = {
    "name": "ERP order screen",
    "url": "https://erp.example.com/embed/orders?view=compact",
    "origins": ["https://sso.example.com"],
}


async def create(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    r = await client.post(API, headers=headers, json={**ERP, **body})
    assert r.status_code == 201, r.text
    return dict(r.json())


async def customer(db: Database, org: Org, name: str = "李雷") -> str:
    """A customer of ``org`` (written directly: the customer API is not under test here)."""
    customer_id = uuid7()
    async with db.job(org.id) as session:  # core insert: only the columns named + defaults
        await session.execute(insert(Customer).values(id=customer_id, tenant_id=org.id, name=name))
    return str(customer_id)


async def verify(
    client: httpx.AsyncClient, token: str, audience: str, **options: Any
) -> dict[str, Any]:
    """What an app does: fetch the published JWKS (no credentials) and verify the token."""
    r = await client.get(f"{API}/jwks.json")
    assert r.status_code == 200, r.text
    keys = jwt.PyJWKSet.from_dict(r.json())
    kid = jwt.get_unverified_header(token)["kid"]
    found = [k for k in keys.keys if k.key_id == kid]
    if not found:
        raise LookupError(f"no published key {kid}")
    key = found[0]
    return dict(jwt.decode(token, key.key, algorithms=["ES256"], audience=audience, **options))


def wire(app: FastAPI) -> FastAPI:
    if not any(getattr(r, "path", "") == "/api/v1/apps/jwks.json" for r in app.routes):
        app.include_router(apps_router, prefix="/api/v1")
    if not any(m.cls is FrameSrcMiddleware for m in app.user_middleware):
        app.add_middleware(FrameSrcMiddleware)
    return app


@pytest.fixture(autouse=True)
def agents_read_apps(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    original = tenancy_service.builtin_roles

    def roles() -> dict[str, tuple[str, list[str]]]:
        out: dict[str, Any] = dict(original())
        for name in ("agent", "supervisor"):
            description, permissions = out[name]
            out[name] = (description, sorted({*permissions, "apps.read"}))
        return out

    monkeypatch.setattr(tenancy_service, "builtin_roles", roles)
    yield


@pytest.fixture
def app(settings: Settings, db: Database, agents_read_apps: None) -> FastAPI:
    return wire(create_app(settings, db=db))
