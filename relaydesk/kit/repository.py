"""Repository base: every query is scoped to the session's tenant.

The tenant guard in :mod:`relaydesk.kit.db` filters every ORM statement by tenant; this base
adds the conveniences (get-or-404, create with the tenant filled in, cursor pages) so that
services never write SQL and never pass a tenant id by hand.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, Generic, TypeVar, cast

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.errors import NotFound
from relaydesk.kit.db import Base, TenantScoped
from relaydesk.kit.pagination import PageParams, encode_cursor

M = TypeVar("M", bound=Base)

#: ``SELECT model WHERE id = :rd_id`` per model, for :meth:`Repository.get`
_BY_ID: dict[type[Any], Select[Any]] = {}


class Repository(Generic[M]):
    model: type[M]
    #: name used in "not found" messages
    noun = "object"

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @property
    def tenant_id(self) -> uuid.UUID:
        tenant_id = self.session.info.get("tenant_id")
        if tenant_id is None:
            raise RuntimeError("repository used without a tenant in scope")
        return tenant_id  # type: ignore[no-any-return]

    def select(self) -> Select[Any]:
        return select(self.model)

    async def get(self, id_: uuid.UUID) -> M | None:
        if type(self).select is not Repository.select:  # a narrower base query: build it
            return await self.one_or_none(self.select().where(self.model.id == id_))  # type: ignore[attr-defined]
        stmt = _BY_ID.get(self.model)
        if stmt is None:  # built once per model (statement construction is not free)
            stmt = _BY_ID[self.model] = select(self.model).where(
                self.model.id == bindparam("rd_id")  # type: ignore[attr-defined]
            )
        result = await self.session.execute(stmt, {"rd_id": id_})
        return cast("M | None", result.scalar_one_or_none())

    async def get_or_404(self, id_: uuid.UUID) -> M:
        obj = await self.get(id_)
        if obj is None:
            raise NotFound(f"{self.noun} {id_} not found")
        return obj

    async def one_or_none(self, stmt: Select[Any]) -> M | None:
        return cast("M | None", (await self.session.execute(stmt)).scalar_one_or_none())

    async def all(self, stmt: Select[Any]) -> Sequence[M]:
        return cast("Sequence[M]", (await self.session.execute(stmt)).scalars().all())

    async def count(self, stmt: Select[Any] | None = None) -> int:
        base = stmt if stmt is not None else self.select()
        result = await self.session.execute(select(func.count()).select_from(base.subquery()))
        return int(result.scalar_one())

    def add(self, obj: M) -> M:
        if isinstance(obj, TenantScoped) and getattr(obj, "tenant_id", None) is None:
            obj.tenant_id = self.tenant_id
        self.session.add(obj)
        return obj

    async def create(self, obj: M) -> M:
        self.add(obj)
        await self.session.flush()
        return obj

    async def delete(self, obj: M) -> None:
        await self.session.delete(obj)
        await self.session.flush()

    async def page(
        self, stmt: Select[Any], params: PageParams
    ) -> tuple[Sequence[M], str | None]:
        """Newest first, keyed on the time-ordered id."""
        id_col = self.model.id  # type: ignore[attr-defined]
        if params.cursor is not None:
            stmt = stmt.where(id_col < params.cursor)
        rows = await self.all(stmt.order_by(id_col.desc()).limit(params.limit + 1))
        if len(rows) > params.limit:
            return rows[: params.limit], encode_cursor(rows[params.limit - 1].id)  # type: ignore[attr-defined]
        return rows, None
