"""Notification and recipient queries (tenant-guarded like every repository)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

from sqlalchemy import func, select, update

from relaydesk.auth.models import Role, User, UserRole
from relaydesk.auth.permissions import grants
from relaydesk.kit.db import utcnow
from relaydesk.kit.pagination import PageParams
from relaydesk.kit.repository import Repository
from relaydesk.notifications.models import Notification


class NotificationRepository(Repository[Notification]):
    model = Notification
    noun = "notification"

    async def of_user(
        self, user_id: uuid.UUID, params: PageParams, *, unread: bool = False
    ) -> tuple[Sequence[Notification], str | None]:
        stmt = self.select().where(Notification.user_id == user_id)
        if unread:
            stmt = stmt.where(Notification.read_at.is_(None))
        return await self.page(stmt, params)

    async def one_of_user(self, user_id: uuid.UUID, notification_id: uuid.UUID) -> Notification:
        found = await self.one_or_none(
            self.select().where(Notification.id == notification_id,
                                Notification.user_id == user_id)
        )  # fmt: skip
        if found is None:
            from relaydesk.errors import NotFound

            raise NotFound(f"notification {notification_id} not found")
        return found

    async def unread_count(self, user_id: uuid.UUID) -> int:
        stmt = (
            select(func.count())
            .select_from(Notification)
            .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        )
        return int((await self.session.execute(stmt)).scalar_one())

    async def mark_all_read(self, user_id: uuid.UUID) -> int:
        result = await self.session.execute(
            update(Notification)
            .where(Notification.user_id == user_id, Notification.read_at.is_(None))
            .values(read_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    # --- recipients ------------------------------------------------------------------------

    async def active_users(self, ids: Iterable[uuid.UUID]) -> list[uuid.UUID]:
        wanted = list(ids)
        if not wanted:
            return []
        stmt = select(User.id).where(User.id.in_(wanted), User.is_active.is_(True))
        return list((await self.session.execute(stmt)).scalars())

    async def users_with_roles(self, role_ids: Iterable[uuid.UUID]) -> list[uuid.UUID]:
        wanted = list(role_ids)
        if not wanted:
            return []
        stmt = (
            select(User.id)
            .join(UserRole, UserRole.user_id == User.id)
            .where(UserRole.role_id.in_(wanted), User.is_active.is_(True))
            .distinct()
        )
        return list((await self.session.execute(stmt)).scalars())

    async def role_ids(self, *, name: str | None = None, permission: str | None = None
                       ) -> list[uuid.UUID]:  # fmt: skip
        roles = (await self.session.execute(select(Role))).scalars().all()
        return [
            role.id for role in roles
            if (name is not None and role.name == name)
            or (permission is not None and grants(frozenset(role.permissions or []), permission))
        ]  # fmt: skip
