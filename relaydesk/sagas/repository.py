"""Queries of saga definitions, sagas and their steps (tenant-guarded like every repository)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from relaydesk.kit.pagination import PageParams
from relaydesk.kit.repository import Repository
from relaydesk.sagas.models import Saga, SagaDefinition, SagaStep


class DefinitionRepository(Repository[SagaDefinition]):
    model = SagaDefinition
    noun = "saga definition"

    async def by_name(self, name: str) -> SagaDefinition | None:
        return await self.one_or_none(self.select().where(SagaDefinition.name == name))

    async def list_page(self, params: PageParams) -> tuple[Sequence[SagaDefinition], str | None]:
        return await self.page(self.select(), params)


class SagaRepository(Repository[Saga]):
    model = Saga
    noun = "saga"

    async def for_update(self, saga_id: uuid.UUID) -> Saga | None:
        """The saga, locked until the transaction ends (PostgreSQL; SQLite's writer lock
        already serialises the jobs' transactions)."""
        stmt = self.select().where(Saga.id == saga_id).with_for_update()
        return await self.one_or_none(stmt)

    async def steps(self, saga_id: uuid.UUID) -> list[SagaStep]:
        stmt = select(SagaStep).where(SagaStep.saga_id == saga_id).order_by(SagaStep.position)
        return list((await self.session.execute(stmt)).scalars().all())

    async def list_page(
        self, params: PageParams, *, status: str | None = None, definition: str | None = None
    ) -> tuple[Sequence[Saga], str | None]:
        stmt: Any = self.select()
        if status is not None:
            stmt = stmt.where(Saga.status == status)
        if definition is not None:
            stmt = stmt.where(Saga.definition_name == definition)
        return await self.page(stmt, params)

    def add_step(self, step: SagaStep) -> SagaStep:
        step.tenant_id = self.tenant_id
        self.session.add(step)
        return step
