from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import Select, or_, select, update

from relaydesk.auth.models import ApiKey, AuthSession, Role, User, UserRole
from relaydesk.kit.repository import Repository


class UserRepository(Repository[User]):
    model = User
    noun = "user"

    async def by_email(self, email: str) -> User | None:
        return await self.one_or_none(self.select().where(User.email == email.lower()))

    async def roles_of(self, user_id: uuid.UUID) -> Sequence[Role]:
        stmt = (
            select(Role)
            .join(UserRole, UserRole.role_id == Role.id)
            .where(UserRole.user_id == user_id)
            .order_by(Role.name)
        )
        return (await self.session.execute(stmt)).scalars().all()

    async def roles_by_user(self, user_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[Role]]:
        if not user_ids:
            return {}
        stmt = (
            select(UserRole.user_id, Role)
            .join(Role, UserRole.role_id == Role.id)
            .where(UserRole.user_id.in_(user_ids))
            .order_by(Role.name)
        )
        out: dict[uuid.UUID, list[Role]] = {uid: [] for uid in user_ids}
        for user_id, role in (await self.session.execute(stmt)).all():
            out[user_id].append(role)
        return out

    async def set_roles(self, user: User, roles: Sequence[Role]) -> None:
        existing = (
            await self.session.execute(select(UserRole).where(UserRole.user_id == user.id))
        ).scalars().all()
        for link in existing:
            await self.session.delete(link)
        await self.session.flush()
        for role in roles:
            self.session.add(UserRole(tenant_id=user.tenant_id, user_id=user.id, role_id=role.id))
        await self.session.flush()


class RoleRepository(Repository[Role]):
    model = Role
    noun = "role"

    async def by_name(self, name: str) -> Role | None:
        return await self.one_or_none(self.select().where(Role.name == name))

    async def by_ids(self, ids: Sequence[uuid.UUID]) -> Sequence[Role]:
        return await self.all(self.select().where(Role.id.in_(ids)))

    async def member_count(self, role_id: uuid.UUID) -> int:
        return await self.count(select(UserRole).where(UserRole.role_id == role_id))


class SessionRepository(Repository[AuthSession]):
    model = AuthSession
    noun = "session"

    async def by_refresh_hash(self, refresh_hash: str) -> AuthSession | None:
        return await self.one_or_none(self.select().where(AuthSession.refresh_hash == refresh_hash))


class ApiKeyRepository(Repository[ApiKey]):
    model = ApiKey
    noun = "API key"

    async def by_prefix(self, prefix: str) -> ApiKey | None:
        return await self.one_or_none(self.select().where(ApiKey.prefix == prefix))


# --- queries of the admin API (users, roles, sessions) --------------------------------------


class UserAdminRepository(UserRepository):
    def filtered(
        self,
        *,
        q: str | None = None,
        role: str | None = None,
        department_id: uuid.UUID | None = None,
        is_active: bool | None = None,
    ) -> Select[tuple[User]]:
        stmt = self.select()
        if q:
            needle = q.lower()
            stmt = stmt.where(
                or_(
                    User.email.contains(needle, autoescape=True),
                    User.display_name.icontains(q, autoescape=True),
                )
            )
        if role:
            holders = (
                select(UserRole.user_id)
                .join(Role, Role.id == UserRole.role_id)
                .where(Role.name == role)
            )
            stmt = stmt.where(User.id.in_(holders))
        if department_id is not None:
            stmt = stmt.where(User.department_id == department_id)
        if is_active is not None:
            stmt = stmt.where(User.is_active.is_(is_active))
        return stmt

    async def email_taken(self, email: str) -> bool:
        """Whether any user of the tenant has this e-mail, in whatever department."""
        info = self.session.info
        departments = info.get("department_ids")
        info["department_ids"] = None  # the tenant filter stays; the department one is lifted
        try:
            return await self.by_email(email) is not None
        finally:
            info["department_ids"] = departments

    async def active_holders(self, role_id: uuid.UUID) -> list[uuid.UUID]:
        """Ids of the active users holding the role."""
        stmt = (
            self.select()
            .join(UserRole, UserRole.user_id == User.id)
            .where(UserRole.role_id == role_id, User.is_active.is_(True))
        )
        return [u.id for u in await self.all(stmt)]


class SessionAdminRepository(SessionRepository):
    async def revoke_all_of(self, user_id: uuid.UUID, now: dt.datetime) -> int:
        """Sign the user out everywhere; the number of sessions revoked."""
        live = await self.all(
            self.select().where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
        )
        if live:
            await self.session.execute(
                update(AuthSession)
                .where(AuthSession.id.in_([s.id for s in live]))
                .values(revoked_at=now)
            )
        return len(live)
