"""Queries of embedded apps (tenant-guarded through the repository base)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select

from relaydesk.apps.models import EmbeddedApp
from relaydesk.customers.models import Customer
from relaydesk.kit.repository import Repository

__all__ = ["EmbeddedAppRepository"]


class EmbeddedAppRepository(Repository[EmbeddedApp]):
    model = EmbeddedApp
    noun = "embedded app"

    async def by_name(self, name: str) -> EmbeddedApp | None:
        return await self.one_or_none(self.select().where(EmbeddedApp.name == name))

    async def listed(
        self, *, placement: str | None = None, enabled: bool | None = None
    ) -> Sequence[EmbeddedApp]:
        """One page, by name (an organisation registers a handful of apps)."""
        stmt = self.select()
        if placement is not None:
            stmt = stmt.where(EmbeddedApp.placement == placement)
        if enabled is not None:
            stmt = stmt.where(EmbeddedApp.enabled.is_(enabled))
        return await self.all(stmt.order_by(EmbeddedApp.name).limit(200))

    async def customer_exists(self, customer_id: uuid.UUID) -> bool:
        """The customer is the caller's tenant's (the guard filters other tenants' rows)."""
        found = await self.session.execute(select(Customer.id).where(Customer.id == customer_id))
        return found.first() is not None

    async def conversation_exists(self, conversation_id: uuid.UUID) -> bool | None:
        """The conversation is visible to the caller (tenant and department guards); None when
        this version has no conversations domain."""
        try:
            from relaydesk.conversations.models import Conversation
        except ImportError:  # pragma: no cover - the domain ships with the workbench
            return None
        found = await self.session.execute(
            select(Conversation.id).where(Conversation.id == conversation_id)
        )
        return found.first() is not None
