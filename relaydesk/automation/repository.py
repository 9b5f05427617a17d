"""Rule, version, execution and watch queries (every statement tenant-guarded)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import BindParameter, Uuid, bindparam, or_, select, update

from relaydesk.automation.models import Rule, RuleExecution, RuleVersion, RuleWatch
from relaydesk.kit.pagination import PageParams
from relaydesk.kit.repository import Repository

__all__ = [
    "ExecutionRepository",
    "RuleRepository",
    "VersionRepository",
    "WatchRepository",
    "event_patterns",
]


def event_patterns(event_type: str) -> list[str]:
    """The trigger patterns an event type matches: itself, each family, and ``*``.

    ``order.shipped`` → ``["order.shipped", "order.*", "*"]``.
    """
    parts = event_type.split(".")
    families = [".".join(parts[:i]) + ".*" for i in range(len(parts) - 1, 0, -1)]
    return [event_type, *families, "*"]


def matches(pattern: str | None, event_type: str) -> bool:
    return pattern is not None and pattern in event_patterns(event_type)


class RuleRepository(Repository[Rule]):
    model = Rule
    noun = "rule"

    async def by_name(self, name: str) -> Rule | None:
        return await self.one_or_none(self.select().where(Rule.name == name))

    async def list_page(
        self, params: PageParams, *, enabled: bool | None = None, trigger: str | None = None
    ) -> tuple[Sequence[Rule], str | None]:
        stmt = self.select()
        if enabled is not None:
            stmt = stmt.where(Rule.enabled.is_(enabled))
        if trigger is not None:
            stmt = stmt.where(Rule.trigger_kind == trigger)
        return await self.page(stmt, params)

    async def triggered_by(self, event_type: str) -> list[Any]:
        """Enabled event and absence rules this event starts (or, for absence, ends).

        Every event's consumer asks this, so the statement is built and compiled once and runs
        on the session's connection, with the session's tenant bound explicitly."""
        tenant_id = self.session.info.get("tenant_id")
        patterns = event_patterns(event_type)
        if tenant_id is None or len(patterns) > _PATTERNS:
            stmt = select(*_COLUMNS).where(
                Rule.enabled.is_(True),
                or_(Rule.trigger_event.in_(patterns), Rule.trigger_end_event.in_(patterns)),
                Rule.trigger_kind.in_(("event", "absence")),
            )
            return list((await self.session.execute(stmt)).all())
        params: dict[str, Any] = {f"p{i}": patterns[min(i, len(patterns) - 1)]
                                  for i in range(_PATTERNS)}  # fmt: skip
        params["tenant_id"] = tenant_id
        connection = await self.session.connection()
        return list((await connection.execute(_TRIGGERED_BY, params)).all())


_COLUMNS = (Rule.id, Rule.name, Rule.version, Rule.version_id, Rule.trigger_kind,
            Rule.trigger_event, Rule.trigger_end_event)  # fmt: skip
#: patterns of an event name of up to five parts (padded with the last one)
_PATTERNS = 6
_BOUND: list[BindParameter[Any]] = [bindparam(f"p{i}") for i in range(_PATTERNS)]
_TRIGGERED_BY = select(*_COLUMNS).where(
    Rule.tenant_id == bindparam("tenant_id", type_=Uuid()),  # typed: see conversations/hot.py
    Rule.enabled.is_(True),
    or_(Rule.trigger_event.in_(_BOUND), Rule.trigger_end_event.in_(_BOUND)),
    or_(Rule.trigger_kind == "event", Rule.trigger_kind == "absence"),
)


class VersionRepository(Repository[RuleVersion]):
    model = RuleVersion
    noun = "rule version"

    async def of_rule(self, rule_id: uuid.UUID) -> Sequence[RuleVersion]:
        return await self.all(
            self.select().where(RuleVersion.rule_id == rule_id).order_by(RuleVersion.number.desc())
        )

    async def definitions(self, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
        wanted = list(ids)
        if not wanted:
            return {}
        stmt = select(RuleVersion.id, RuleVersion.definition).where(RuleVersion.id.in_(wanted))
        return {row.id: row.definition for row in (await self.session.execute(stmt)).all()}


class ExecutionRepository(Repository[RuleExecution]):
    model = RuleExecution
    noun = "rule execution"

    async def by_key(self, dedupe_key: str) -> RuleExecution | None:
        return await self.one_or_none(self.select().where(RuleExecution.dedupe_key == dedupe_key))

    async def list_page(
        self, rule_id: uuid.UUID, params: PageParams, *, status: str | None = None
    ) -> tuple[Sequence[RuleExecution], str | None]:
        stmt = self.select().where(RuleExecution.rule_id == rule_id)
        if status is not None:
            stmt = stmt.where(RuleExecution.status == status)
        return await self.page(stmt, params)


class WatchRepository(Repository[RuleWatch]):
    model = RuleWatch
    noun = "watch"

    async def satisfy(
        self, rule_ids: Sequence[uuid.UUID], key: str, event_id: uuid.UUID, at: dt.datetime
    ) -> int:
        """Close the open watches of these rules for ``key`` that started before ``at``."""
        if not rule_ids:
            return 0
        result = await self.session.execute(
            update(RuleWatch)
            .where(RuleWatch.rule_id.in_(list(rule_ids)), RuleWatch.key == key,
                   RuleWatch.status == "waiting", RuleWatch.started_at <= at)
            .values(status="satisfied", satisfied_by=event_id)
            .execution_options(synchronize_session=False)
        )  # fmt: skip
        return int(getattr(result, "rowcount", 0) or 0)
