"""Helpers shared by the authentication tests (not a conftest: keeps `from conftest` intact)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import httpx
from conftest import PASSWORD, Org
from fastapi import FastAPI
from sqlalchemy import select, update

from relaydesk.audit.models import AuditEntry
from relaydesk.auth.apikeys import create_api_key
from relaydesk.auth.models import ApiKey, AuthSession, User
from relaydesk.kit.db import Database
from relaydesk.tenancy.models import Tenant

LOGIN = "/api/v1/auth/login"
ME = "/api/v1/auth/me"


async def try_login(
    client: httpx.AsyncClient, org: Org, role: str, password: str = PASSWORD
) -> httpx.Response:
    return await client.post(
        LOGIN, json={"tenant": org.slug, "email": org.email(role), "password": password}
    )


async def audit_rows(db: Database, org: Org, action: str | None = None) -> list[AuditEntry]:
    async with db.job(org.id) as session:
        stmt = select(AuditEntry).order_by(AuditEntry.seq)
        if action is not None:
            stmt = stmt.where(AuditEntry.action == action)
        return list((await session.execute(stmt)).scalars())


async def make_key(
    db: Database, org: Org, permissions: Sequence[str],
    expires_at: dt.datetime | None = None,
) -> tuple[uuid.UUID, str]:
    async with db.job(org.id) as session:
        row, key = await create_api_key(
            session, tenant_id=org.id, name="integration", permissions=permissions,
            granted_by=None, expires_at=expires_at,
        )
        return row.id, key


async def get_key(db: Database, org: Org, key_id: uuid.UUID) -> ApiKey:
    async with db.job(org.id) as session:
        return (await session.execute(select(ApiKey).where(ApiKey.id == key_id))).scalar_one()


async def update_key(db: Database, org: Org, key_id: uuid.UUID, **values: Any) -> None:
    async with db.job(org.id) as session:
        await session.execute(update(ApiKey).where(ApiKey.id == key_id).values(**values))


async def update_sessions(db: Database, org: Org, **values: Any) -> None:
    async with db.job(org.id) as session:
        await session.execute(update(AuthSession).values(**values))


async def update_user(db: Database, org: Org, role: str, **values: Any) -> None:
    async with db.job(org.id) as session:
        await session.execute(update(User).where(User.id == org.users[role]).values(**values))


async def get_user(db: Database, org: Org, role: str) -> User:
    async with db.job(org.id) as session:
        return (await session.execute(select(User).where(User.id == org.users[role]))).scalar_one()


async def set_allowlist(db: Database, org: Org, cidrs: list[str]) -> None:
    async with db.job(system=True) as session:
        await session.execute(update(Tenant).where(Tenant.id == org.id).values(ip_allowlist=cidrs))


@asynccontextmanager
async def client_from(app: FastAPI, ip: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client connecting from another address."""
    transport = httpx.ASGITransport(app=app, client=(ip, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


def error_code(response: httpx.Response) -> str:
    code: str = response.json()["error"]["code"]
    return code
