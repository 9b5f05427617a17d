"""Inboxes: where a channel's conversations arrive; settings validated, secrets encrypted."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.audit import service as audit
from relaydesk.audit.service import Actor
from relaydesk.channels import apply_settings, inbox_saved
from relaydesk.conversations.models import Inbox
from relaydesk.conversations.repository import InboxRepository
from relaydesk.conversations.schemas import InboxIn, InboxPatch
from relaydesk.conversations.service import invalid_field
from relaydesk.errors import Conflict
from relaydesk.kit.crypto import Keyring
from relaydesk.tenancy.models import Department, Team


class InboxService:
    def __init__(self, session: AsyncSession, actor: Actor, keyring: Keyring | None = None) -> None:
        self.session, self.actor, self._keyring = session, actor, keyring
        self.repo = InboxRepository(session)

    @property
    def keyring(self) -> Keyring:
        if self._keyring is None:
            from relaydesk.config import get_settings

            self._keyring = Keyring.from_settings(get_settings())
        return self._keyring

    async def _check_refs(self, team_id: uuid.UUID | None, department_id: uuid.UUID | None) -> None:
        if team_id is not None and await self.session.get(Team, team_id) is None:
            raise invalid_field("team_id", "no such team")
        if department_id is not None and await self.session.get(Department, department_id) is None:
            raise invalid_field("department_id", "no such department")

    async def create(self, body: InboxIn) -> Inbox:
        if await self.repo.by_name(body.name) is not None:
            raise Conflict(f"an inbox named {body.name!r} already exists")
        await self._check_refs(body.team_id, body.department_id)
        inbox = await self.repo.create(Inbox(**body.model_dump(exclude={"settings"})))
        apply_settings(inbox, body.settings, self.keyring)  # validated; secrets encrypted
        await self.session.flush()
        await inbox_saved(self.session, inbox)  # e.g. e-mail: read the mailbox now
        await audit.record(self.session, tenant_id=inbox.tenant_id, action="inbox.created",
                           actor=self.actor, target_type="inbox", target_id=inbox.id,
                           details={"name": inbox.name, "channel": inbox.channel})  # fmt: skip
        return inbox

    async def update(self, inbox_id: uuid.UUID, body: InboxPatch) -> Inbox:
        inbox = await self.repo.get_or_404(inbox_id)
        changes = body.model_dump(exclude_unset=True)
        if changes.get("name", inbox.name) != inbox.name:
            if changes["name"] is None:
                raise invalid_field("name", "may not be null")
            if await self.repo.by_name(changes["name"]) is not None:
                raise Conflict(f"an inbox named {changes['name']!r} already exists")
        await self._check_refs(changes.get("team_id"), changes.get("department_id"))
        for key, value in changes.items():
            if key in ("name", "enabled", "settings") and value is None:
                raise invalid_field(key, "may not be null")
            if key != "settings":
                setattr(inbox, key, value)
        if "settings" in changes:
            apply_settings(inbox, changes["settings"], self.keyring)
        await self.session.flush()
        await inbox_saved(self.session, inbox)
        await audit.record(self.session, tenant_id=inbox.tenant_id, action="inbox.updated",
                           actor=self.actor, target_type="inbox", target_id=inbox.id,
                           details={"fields": sorted(changes)})  # fmt: skip
        return inbox

    async def delete(self, inbox_id: uuid.UUID) -> None:
        inbox = await self.repo.get_or_404(inbox_id)
        await audit.record(self.session, tenant_id=inbox.tenant_id, action="inbox.deleted",
                           actor=self.actor, target_type="inbox", target_id=inbox.id,
                           details={"name": inbox.name})  # fmt: skip
        await self.repo.delete(inbox)
