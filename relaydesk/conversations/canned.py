"""Canned responses: shared reply texts with ``{{ customer.name }}``-style variables.

Variables are JMESPath expressions over ``customer`` (as the agent may see it: masked unless
they hold ``customers.pii.view``), ``agent`` (``name``, ``email``) and ``conversation``
(``id``, ``subject``, ``channel``, ``status``), rendered by the integration hub's template
engine; a variable without a value renders empty and is reported as missing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.audit import service as audit
from relaydesk.auth.models import User
from relaydesk.auth.principal import Principal
from relaydesk.conversations.models import CannedResponse
from relaydesk.conversations.repository import CannedRepository, ConversationRepository
from relaydesk.conversations.schemas import CannedIn, CannedPatch
from relaydesk.customers.models import Customer
from relaydesk.customers.service import customer_out
from relaydesk.errors import Conflict, ValidationFailed
from relaydesk.integrations.templating import TemplateError, render, template_references
from relaydesk.kit.pagination import PageParams


def _check_template(body: str) -> None:
    try:
        template_references(body)
    except TemplateError as exc:
        raise ValidationFailed(
            f"body: {exc}", details=[{"loc": ["body", "body"], "msg": str(exc),
                                      "type": "template_error"}]
        ) from None  # fmt: skip


class CannedService:
    def __init__(self, session: AsyncSession, principal: Principal) -> None:
        self.session, self.principal = session, principal
        self.repo = CannedRepository(session)

    async def find(
        self, params: PageParams, q: str | None = None
    ) -> tuple[Sequence[CannedResponse], str | None]:
        stmt = select(CannedResponse)
        if q:
            like = f"%{q}%"
            stmt = stmt.where(
                CannedResponse.shortcut.ilike(like) | CannedResponse.title.ilike(like)
            )
        return await self.repo.page(stmt, params)

    async def create(self, body: CannedIn) -> CannedResponse:
        if await self.repo.by_shortcut(body.shortcut) is not None:
            raise Conflict(f"the shortcut /{body.shortcut} is taken")
        _check_template(body.body)
        canned = await self.repo.create(CannedResponse(**body.model_dump()))
        await self._audit("canned_response.created", canned)
        return canned

    async def update(self, canned_id: uuid.UUID, body: CannedPatch) -> CannedResponse:
        canned = await self.repo.get_or_404(canned_id)
        changes = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None}
        shortcut = changes.get("shortcut", canned.shortcut)
        if shortcut != canned.shortcut and await self.repo.by_shortcut(shortcut) is not None:
            raise Conflict(f"the shortcut /{shortcut} is taken")
        if "body" in changes:
            _check_template(changes["body"])
        for key, value in changes.items():
            setattr(canned, key, value)
        await self.session.flush()
        await self._audit("canned_response.updated", canned)
        return canned

    async def delete(self, canned_id: uuid.UUID) -> None:
        canned = await self.repo.get_or_404(canned_id)
        await self._audit("canned_response.deleted", canned)
        await self.repo.delete(canned)

    async def _audit(self, action: str, canned: CannedResponse) -> None:
        await audit.record(self.session, tenant_id=canned.tenant_id, action=action,
                           actor=self.principal.actor, target_type="canned_response",
                           target_id=canned.id, details={"shortcut": canned.shortcut})  # fmt: skip

    async def render(
        self, canned_id: uuid.UUID, conversation_id: uuid.UUID
    ) -> tuple[str, list[str]]:
        canned = await self.repo.get_or_404(canned_id)
        conversation = await ConversationRepository(self.session).get_or_404(conversation_id)
        customer = await self.session.get(Customer, conversation.customer_id)
        user = (await self.session.get(User, self.principal.user_id)
                if self.principal.user_id else None)  # fmt: skip
        context: dict[str, Any] = {
            "customer": ((await customer_out(self.session, customer, self.principal))
                         .model_dump(mode="json") if customer is not None else {}),
            "agent": {"name": user.display_name if user else self.principal.label,
                      "email": user.email if user else None},
            "conversation": {"id": str(conversation.id), "subject": conversation.subject,
                             "channel": conversation.channel, "status": conversation.status},
        }  # fmt: skip
        missing = sorted(
            ref for ref in template_references(canned.body)
            if render("{{ " + ref + " }}", context) in (None, "")
        )  # fmt: skip
        text = render(canned.body, context)
        return (text if isinstance(text, str) else str(text)), missing
