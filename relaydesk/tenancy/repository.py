"""Queries over the organisation: the tenant itself, departments, teams and their members.

Every statement goes through the tenant guard, so another tenant's rows are simply absent.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, delete, select

from relaydesk.auth.models import User
from relaydesk.auth.repository import UserRepository
from relaydesk.errors import NotFound
from relaydesk.kit.pagination import PageParams
from relaydesk.kit.repository import Repository
from relaydesk.tenancy.models import Department, Team, TeamMember, Tenant

#: departments nest at most this deep; also bounds the walk up the parent chain
MAX_DEPTH = 32


class TenantRepository(Repository[Tenant]):
    model = Tenant
    noun = "organisation"

    async def current(self) -> Tenant:
        """The tenant the session is scoped to."""
        tenant = await self.get(self.tenant_id)
        if tenant is None:
            raise NotFound("organisation not found")
        return tenant


class DepartmentRepository(Repository[Department]):
    model = Department
    noun = "department"

    def filtered(self, parent_id: uuid.UUID | None = None) -> Select[Any]:
        """All departments, or only the direct children of ``parent_id``."""
        stmt = self.select()
        if parent_id is not None:
            stmt = stmt.where(Department.parent_id == parent_id)
        return stmt

    async def by_name(self, name: str) -> Department | None:
        return await self.one_or_none(self.select().where(Department.name == name))

    async def ancestor_ids(self, department_id: uuid.UUID) -> list[uuid.UUID]:
        """``department_id`` and the ids above it, nearest first (stops at a loop)."""
        chain: list[uuid.UUID] = []
        current: uuid.UUID | None = department_id
        while current is not None and current not in chain and len(chain) <= MAX_DEPTH:
            chain.append(current)
            stmt = select(Department.parent_id).where(Department.id == current)
            current = (await self.session.execute(stmt)).scalar_one_or_none()
        return chain

    async def child_count(self, department_id: uuid.UUID) -> int:
        return await self.count(self.select().where(Department.parent_id == department_id))

    async def user_count(self, department_id: uuid.UUID) -> int:
        return await self.count(select(User).where(User.department_id == department_id))


class TeamRepository(Repository[Team]):
    model = Team
    noun = "team"

    def filtered(self, department_id: uuid.UUID | None = None) -> Select[Any]:
        """All teams, or only those of ``department_id``."""
        stmt = self.select()
        if department_id is not None:
            stmt = stmt.where(Team.department_id == department_id)
        return stmt

    async def by_name(self, name: str) -> Team | None:
        return await self.one_or_none(self.select().where(Team.name == name))

    async def member_ids(self, team_id: uuid.UUID) -> list[uuid.UUID]:
        stmt = select(TeamMember).where(TeamMember.team_id == team_id)
        return [m.user_id for m in (await self.session.execute(stmt)).scalars().all()]

    async def existing_user_ids(self, user_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        """The subset of ``user_ids`` that are users this session may see."""
        if not user_ids:
            return set()
        stmt = select(User).where(User.id.in_(user_ids))
        return {u.id for u in (await self.session.execute(stmt)).scalars().all()}

    async def set_members(self, team: Team, user_ids: Sequence[uuid.UUID]) -> None:
        await self.session.execute(delete(TeamMember).where(TeamMember.team_id == team.id))
        for user_id in user_ids:
            self.session.add(TeamMember(tenant_id=team.tenant_id, team_id=team.id, user_id=user_id))
        await self.session.flush()

    async def members_page(
        self, team_id: uuid.UUID, params: PageParams
    ) -> tuple[Sequence[User], str | None]:
        users = UserRepository(self.session)
        member = select(TeamMember.user_id).where(TeamMember.team_id == team_id)
        return await users.page(users.select().where(User.id.in_(member)), params)
