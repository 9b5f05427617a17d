"""Sending notifications (:func:`notify`) and reading one's own (:class:`NotificationService`).

``notify`` writes the rows in the caller's unit of work, so a rule's notification commits
with the step that sent it, together with one ``notification.created`` event per recipient
(the realtime tap pushes it to that user's open workbench). After commit the listeners
of channel ``notifications`` run (:mod:`relaydesk.kit.commit_hooks`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.events.envelope import Envelope
from relaydesk.events.outbox import emit
from relaydesk.kit.commit_hooks import poke_after_commit
from relaydesk.kit.db import scope_session, utcnow
from relaydesk.kit.pagination import PageParams
from relaydesk.notifications.models import Notification
from relaydesk.notifications.repository import NotificationRepository

__all__ = ["CHANNEL", "MAX_RECIPIENTS", "NotificationService", "notify", "recipients"]

CHANNEL = "notifications"
MAX_RECIPIENTS = 1000


async def recipients(
    session: AsyncSession,
    *,
    user_ids: Sequence[uuid.UUID] | None = None,
    role: str | None = None,
    permission: str | None = None,
) -> list[uuid.UUID]:
    """Active users of the session's tenant: listed by id, holding a role (by name) or a
    permission (through any of their roles); each once, at most :data:`MAX_RECIPIENTS`."""
    repo = NotificationRepository(session)
    found: dict[uuid.UUID, None] = {}
    for user_id in await repo.active_users(user_ids or []):
        found[user_id] = None
    if role is not None or permission is not None:
        if role is not None:
            roles = await repo.role_ids(name=role)
            for user_id in await repo.users_with_roles(roles):
                found[user_id] = None
        if permission is not None:
            roles = await repo.role_ids(permission=permission)
            for user_id in await repo.users_with_roles(roles):
                found[user_id] = None
    return list(found)[:MAX_RECIPIENTS]


async def notify(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    user_ids: Sequence[uuid.UUID] | None = None,
    role: str | None = None,
    permission: str | None = None,
    title: str = "",
    body: str = "",
    link: str | None = None,
    *,
    source: Mapping[str, Any] | None = None,
    cause: Envelope | None = None,
    event_source: Mapping[str, Any] | None = None,
) -> list[uuid.UUID]:
    """Notify users (by id, role name or permission) in the caller's transaction; returns the
    ids of the users notified (none is an answer, not an error). A rule passes the event that
    triggered it as ``cause`` and its chain as ``event_source`` (loop protection)."""
    if session.info.get("tenant_id") is None:
        scope_session(session, tenant_id)
    users = await recipients(session, user_ids=user_ids, role=role, permission=permission)
    rows = [
        Notification(
            tenant_id=tenant_id, user_id=user_id, title=title[:200], body=body[:4000],
            link=link[:500] if link else None, source=dict(source or {}),
        )
        for user_id in users
    ]  # fmt: skip
    session.add_all(rows)
    if users:
        await session.flush()
        for row in rows:
            await emit(session, "notification.created", {
                "notification_id": str(row.id), "user_id": str(row.user_id), "title": row.title,
                "body": row.body, "link": row.link, "source": row.source,
            }, tenant_id=tenant_id, cause=cause, source=event_source)  # fmt: skip
        poke_after_commit(session, CHANNEL)
    return users


class NotificationService:
    """The current user's notifications."""

    def __init__(self, session: AsyncSession, user_id: uuid.UUID | None) -> None:
        self.session = session
        self.user_id = user_id
        self.repo = NotificationRepository(session)

    def _user(self) -> uuid.UUID:
        # API keys have no inbox: every id is "not found" for them, lists are empty
        return self.user_id or uuid.UUID(int=0)

    async def page(
        self, params: PageParams, *, unread: bool = False
    ) -> tuple[list[Notification], str | None]:
        rows, cursor = await self.repo.of_user(self._user(), params, unread=unread)
        return list(rows), cursor

    async def unread(self) -> int:
        return await self.repo.unread_count(self._user())

    async def mark_read(self, notification_id: uuid.UUID) -> Notification:
        notification = await self.repo.one_of_user(self._user(), notification_id)
        if notification.read_at is None:
            notification.read_at = utcnow()
            await self.session.flush()
        return notification

    async def mark_all_read(self) -> int:
        return await self.repo.mark_all_read(self._user())
