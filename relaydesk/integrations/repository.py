"""Connector instance and call-log queries. The tenant guard scopes every statement."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from relaydesk.integrations.models import ConnectorCall, ConnectorInstance
from relaydesk.kit.pagination import PageParams
from relaydesk.kit.repository import Repository


class ConnectorInstanceRepository(Repository[ConnectorInstance]):
    model = ConnectorInstance
    noun = "connector instance"

    async def by_name(self, name: str) -> ConnectorInstance | None:
        return await self.one_or_none(self.select().where(ConnectorInstance.name == name))

    async def list_page(
        self, params: PageParams, *, connector: str | None = None, enabled: bool | None = None
    ) -> tuple[Sequence[ConnectorInstance], str | None]:
        stmt = self.select()
        if connector is not None:
            stmt = stmt.where(ConnectorInstance.connector == connector)
        if enabled is not None:
            stmt = stmt.where(ConnectorInstance.enabled == enabled)
        return await self.page(stmt, params)


class ConnectorCallRepository(Repository[ConnectorCall]):
    model = ConnectorCall
    noun = "connector call"

    def add_call(self, call: ConnectorCall) -> ConnectorCall:
        """Add the row to the unit of work; it is written with the next flush."""
        return self.add(call)

    async def list_page(
        self,
        instance_id: uuid.UUID,
        params: PageParams,
        *,
        action: str | None = None,
        outcome: str | None = None,
    ) -> tuple[Sequence[ConnectorCall], str | None]:
        stmt = self.select().where(ConnectorCall.instance_id == instance_id)
        if action is not None:
            stmt = stmt.where(ConnectorCall.action == action)
        if outcome is not None:
            stmt = stmt.where(ConnectorCall.outcome == outcome)
        return await self.page(stmt, params)

    async def recent(
        self, instance_id: uuid.UUID, action: str, limit: int
    ) -> Sequence[Any]:
        """The last ``limit`` calls of one action, newest first, with the columns health needs."""
        stmt = (
            select(
                ConnectorCall.created_at,
                ConnectorCall.outcome,
                ConnectorCall.cached,
                ConnectorCall.stale,
                ConnectorCall.latency_ms,
                ConnectorCall.error_class,
                ConnectorCall.error_code,
                ConnectorCall.error_message,
            )
            .where(ConnectorCall.instance_id == instance_id, ConnectorCall.action == action)
            .order_by(ConnectorCall.id.desc())
            .limit(limit)
        )
        return (await self.session.execute(stmt)).all()
