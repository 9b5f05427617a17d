"""Small helpers shared by the admin API tests."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import select

from relaydesk.audit.models import AuditEntry
from relaydesk.kit.db import Database

API = "/api/v1"


async def audit_rows(db: Database, tenant_id: uuid.UUID, action: str) -> list[AuditEntry]:
    """The tenant's audit rows of one action, oldest first, read straight from the database."""
    async with db.job(tenant_id) as session:
        stmt = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)
        return list((await session.execute(stmt)).scalars().all())


def locs(response: httpx.Response) -> list[list[Any]]:
    """The field paths named by a validation error."""
    return [d["loc"] for d in response.json()["error"]["details"]]


async def create_role(
    client: httpx.AsyncClient, headers: dict[str, str], name: str, permissions: list[str],
    scope: str = "tenant",
) -> dict[str, Any]:
    r = await client.post(
        f"{API}/roles", headers=headers,
        json={"name": name, "permissions": permissions, "scope": scope},
    )
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def create_user(
    client: httpx.AsyncClient, headers: dict[str, str], email: str, password: str,
    roles: list[str], **extra: Any,
) -> dict[str, Any]:
    body = {"email": email, "display_name": email.split("@")[0], "password": password,
            "roles": roles, **extra}
    r = await client.post(f"{API}/users", headers=headers, json=body)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def login_as(
    client: httpx.AsyncClient, tenant: str, email: str, password: str
) -> dict[str, str]:
    r = await client.post(
        f"{API}/auth/login", json={"tenant": tenant, "email": email, "password": password}
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}
