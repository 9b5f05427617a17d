"""Reading the audit log: filtered, newest first, in cursor pages."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Select, select

from relaydesk.audit.models import AuditEntry
from relaydesk.kit.pagination import PageParams, encode_cursor
from relaydesk.kit.repository import Repository


@dataclass(frozen=True)
class AuditFilter:
    #: exact action, or a prefix when it ends with ``*`` (``auth.*``)
    action: str | None = None
    actor_id: str | None = None
    actor_type: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    outcome: str | None = None
    #: inclusive bounds on ``occurred_at``
    since: dt.datetime | None = None
    until: dt.datetime | None = None


class AuditRepository(Repository[AuditEntry]):
    model = AuditEntry
    noun = "audit entry"

    def filtered(self, f: AuditFilter) -> Select[tuple[AuditEntry]]:
        stmt = self.select()
        if f.action is not None:
            if f.action.endswith("*"):
                prefix = f.action[:-1]
                if prefix:
                    stmt = stmt.where(AuditEntry.action.startswith(prefix, autoescape=True))
            else:
                stmt = stmt.where(AuditEntry.action == f.action)
        for column, value in (
            (AuditEntry.actor_id, f.actor_id),
            (AuditEntry.actor_type, f.actor_type),
            (AuditEntry.target_type, f.target_type),
            (AuditEntry.target_id, f.target_id),
            (AuditEntry.outcome, f.outcome),
        ):
            if value is not None:
                stmt = stmt.where(column == value)
        if f.since is not None:
            stmt = stmt.where(AuditEntry.occurred_at >= f.since)
        if f.until is not None:
            stmt = stmt.where(AuditEntry.occurred_at <= f.until)
        return stmt

    async def search(
        self, f: AuditFilter, params: PageParams
    ) -> tuple[Sequence[AuditEntry], str | None]:
        """Newest first by chain position (the ``(tenant_id, seq)`` unique index).

        The cursor is the id of the last row shown, like every other list; the next page
        starts below that row's ``seq``.
        """
        stmt = self.filtered(f)
        if params.cursor is not None:
            after = select(AuditEntry.seq).where(AuditEntry.id == params.cursor)
            stmt = stmt.where(AuditEntry.seq < after.scalar_subquery())
        rows = await self.all(stmt.order_by(AuditEntry.seq.desc()).limit(params.limit + 1))
        if len(rows) > params.limit:
            return rows[: params.limit], encode_cursor(rows[params.limit - 1].id)
        return rows, None
