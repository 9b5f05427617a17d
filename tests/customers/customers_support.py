"""Helpers shared by the customer tests (plain functions; fixtures live in each module)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from starlette.middleware import Middleware

from relaydesk.audit.models import AuditEntry
from relaydesk.events.models import OutboxEvent
from relaydesk.kit.db import Database
from relaydesk.kit.xml_negotiation import XmlNegotiationMiddleware

BASE = "/api/v1/customers"

#: a customer as a client sends it, and the stored (normalised) personal values
ZHANG: dict[str, Any] = {
    "name": "张伟",
    "phone": "138 1234 5678",
    "email": "Zhang.Wei@Example.COM",
    "id_number": "110105199003071239",
    "bank_card": "6222 0212 3456 7890 128",
    "address": "北京市朝阳区建国路88号华贸中心3号楼1201室",
    "company": "华贸贸易有限公司",
    "tags": ["VIP", "北京"],
    "attributes": {"crm_id": "C-1001"},
}
ZHANG_STORED = {
    "phone": "+8613812345678",
    "email": "zhang.wei@example.com",
    "id_number": "110105199003071239",
    "bank_card": "6222021234567890128",
    "address": ZHANG["address"],
}
#: strings that must never appear in a masked response
CLEAR_VALUES = [
    "13812345678",
    "+8613812345678",
    "zhang.wei@example.com",
    "Zhang.Wei@Example.COM",
    "110105199003071239",
    "6222021234567890128",
    "6222 0212 3456 7890 128",
    "建国路88号",
    "1201室",
]


def with_xml(app: FastAPI) -> FastAPI:
    """Register XML negotiation as production does: the innermost middleware."""
    if any(m.cls is XmlNegotiationMiddleware for m in app.user_middleware):
        return app
    app.user_middleware.append(Middleware(XmlNegotiationMiddleware))  # [0] is the outermost
    return app


async def create(
    client: httpx.AsyncClient, headers: dict[str, str], **overrides: Any
) -> dict[str, Any]:
    r = await client.post(BASE, json={**ZHANG, **overrides}, headers=headers)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def audit_rows(db: Database, tenant_id: uuid.UUID, action: str) -> list[AuditEntry]:
    async with db.job(tenant_id) as session:
        stmt = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)
        return list((await session.execute(stmt)).scalars().all())


async def outbox(db: Database, tenant_id: uuid.UUID, *types: str) -> list[OutboxEvent]:
    """The tenant's outbox rows of these types, in emission order."""
    async with db.job(tenant_id) as session:
        stmt = select(OutboxEvent).order_by(OutboxEvent.id)
        if types:
            stmt = stmt.where(OutboxEvent.type.in_(types))
        return list((await session.execute(stmt)).scalars().all())


async def add_identity(
    client: httpx.AsyncClient, headers: dict[str, str], customer_id: str, **body: Any
) -> dict[str, Any]:
    r = await client.post(f"{BASE}/{customer_id}/identities", json=body, headers=headers)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out
