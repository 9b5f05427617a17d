"""Merge suggestions: two customers that look like one person, for an agent to decide.

They are recorded when an identity matched but could not join (an unverified inbound
contact, a verified contact meeting another customer's identity, a profile phone or e-mail
that another customer already holds). One row per pair; later reasons are appended.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.audit import service as audit
from relaydesk.audit.service import Actor
from relaydesk.customers.models import CustomerIdentity, MergeSuggestion
from relaydesk.customers.repository import SuggestionRepository
from relaydesk.errors import Conflict
from relaydesk.kit.pagination import PageParams

MAX_REASONS = 20


async def suggest(
    session: AsyncSession,
    customer_id: uuid.UUID,
    candidate_id: uuid.UUID,
    *,
    why: str,
    identity: CustomerIdentity,
) -> MergeSuggestion | None:
    """Record that ``customer_id`` resembles ``candidate_id`` (no-op for the same customer)."""
    if customer_id == candidate_id:
        return None
    repo = SuggestionRepository(session)
    reason: dict[str, Any] = {"why": why, "kind": identity.kind, "identity_id": str(identity.id)}
    row = await repo.between(customer_id, candidate_id)
    if row is None:
        return await repo.create(
            MergeSuggestion(customer_id=customer_id, candidate_id=candidate_id, reasons=[reason])
        )
    if row.status == "merged":
        return row
    if reason not in row.reasons and len(row.reasons) < MAX_REASONS:
        row.reasons = [*row.reasons, reason]
    if row.status == "dismissed" and why != "profile_duplicate":
        row.status = "open"  # new evidence reopens a dismissed pair
    await session.flush()
    return row


async def close_after_merge(
    session: AsyncSession, survivor_id: uuid.UUID, merged_ids: Sequence[uuid.UUID]
) -> None:
    """Pairs within the merge are ``merged``; the others now name the survivor."""
    repo = SuggestionRepository(session)
    group = {survivor_id, *merged_ids}
    for row in await repo.involving(list(merged_ids)):
        if row.customer_id in group and row.candidate_id in group:
            row.status = "merged"
            continue
        other = row.candidate_id if row.customer_id in group else row.customer_id
        existing = await repo.between(survivor_id, other)
        if existing is not None and existing.id != row.id:
            existing.reasons = (existing.reasons + row.reasons)[:MAX_REASONS]
            if existing.status == "dismissed" and row.status == "open":
                existing.status = "open"
            await repo.delete(row)
            continue
        if row.customer_id in group:
            row.customer_id = survivor_id
        else:
            row.candidate_id = survivor_id
    await session.flush()


class SuggestionService:
    def __init__(self, session: AsyncSession, actor: Actor) -> None:
        self.session = session
        self.actor = actor
        self.repo = SuggestionRepository(session)

    async def list(
        self, status: str | None, params: PageParams
    ) -> tuple[Sequence[MergeSuggestion], str | None]:
        return await self.repo.page(self.repo.listing(status), params)

    async def dismiss(self, suggestion_id: uuid.UUID) -> MergeSuggestion:
        row = await self.repo.get_or_404(suggestion_id)
        if row.status == "merged":
            raise Conflict("these customers were merged already")
        if row.status != "dismissed":
            row.status = "dismissed"
            await self.session.flush()
            await audit.record(
                self.session,
                tenant_id=row.tenant_id,
                action="customer.merge_dismissed",
                actor=self.actor,
                target_type="customer",
                target_id=row.customer_id,
                details={"suggestion_id": str(row.id), "candidate_id": str(row.candidate_id)},
            )
        return row
