"""Merge and split, by an agent; both audited and emitted (``customer.merged``/``.split``).

Merge policy (docs/customers.md): the customer in the path survives. Its identities, tags and
attributes are kept; the merged customers' identities move to it (external ids included),
tags are added, attributes it lacks are taken (when both have a key, the survivor's value
stays and the key is reported as a conflict), and its empty profile fields are filled from
the merged customers in the order given. A merged customer stays as a tombstone without
personal data whose reads answer 404 ``customer_merged`` with ``merged_into``. Other domains
move their own references (conversations, timeline entries) with :func:`register_merge_hook`.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.audit import service as audit
from relaydesk.audit.service import Actor
from relaydesk.customers.events import CustomerMerged, CustomerSplit, emit_changed
from relaydesk.customers.events import emit_merged as _emit_merged
from relaydesk.customers.events import emit_split as _emit_split
from relaydesk.customers.identity_service import PROFILE_KINDS
from relaydesk.customers.models import Customer
from relaydesk.customers.repository import CustomerRepository, IdentityRepository
from relaydesk.customers.suggestions import close_after_merge
from relaydesk.errors import Conflict, ValidationFailed
from relaydesk.kit.db import utcnow

__all__ = ["MERGE_HOOKS", "MergeService", "register_merge_hook"]

#: ``async hook(session, survivor_id, merged_ids)``: re-point a domain's rows to the survivor
MergeHook = Callable[[AsyncSession, uuid.UUID, Sequence[uuid.UUID]], Awaitable[None]]
MERGE_HOOKS: list[MergeHook] = []

#: profile fields filled from the merged customers when the survivor's is empty
PROFILE_FIELDS = ("phone", "email", "id_number", "bank_card", "address", "company")
#: cleared on the tombstone (the survivor holds them now)
PERSONAL_FIELDS = ("phone", "email", "id_number", "bank_card", "address")


def register_merge_hook(hook: MergeHook) -> MergeHook:
    if hook not in MERGE_HOOKS:
        MERGE_HOOKS.append(hook)
    return hook


def _bad_item(field: str, index: int, message: str) -> ValidationFailed:
    return ValidationFailed(
        f"{field}.{index}: {message}",
        details=[{"loc": ["body", field, index], "msg": message, "type": "value_error"}],
    )


class MergeService:
    def __init__(self, session: AsyncSession, actor: Actor) -> None:
        self.session = session
        self.actor = actor
        self.customers = CustomerRepository(session)
        self.identities = IdentityRepository(session)

    async def _sources(self, survivor: Customer, merge_ids: Sequence[uuid.UUID]) -> list[Customer]:
        sources: list[Customer] = []
        for index, merge_id in enumerate(merge_ids):
            if merge_id == survivor.id:
                raise _bad_item("merge_ids", index, "a customer cannot be merged into itself")
            if any(s.id == merge_id for s in sources):
                raise _bad_item("merge_ids", index, "listed twice")
            found = await self.customers.get(merge_id)
            if found is None:
                raise _bad_item("merge_ids", index, f"customer {merge_id} not found")
            if found.merged_into_id is not None:
                raise Conflict(
                    f"merge_ids.{index}: customer {merge_id} was merged already",
                    details=[{"loc": ["body", "merge_ids", index], "msg": "merged already",
                              "type": "customer_merged",
                              "merged_into": str(found.merged_into_id)}],
                )  # fmt: skip
            sources.append(found)
        return sources

    async def merge(self, survivor_id: uuid.UUID, merge_ids: Sequence[uuid.UUID]) -> Customer:
        survivor = await self.customers.get_live_or_404(survivor_id)
        sources = await self._sources(survivor, merge_ids)
        conflicts: list[str] = []
        for name in PROFILE_FIELDS:
            values = [getattr(s, name) for s in sources if getattr(s, name)]
            if getattr(survivor, name) is None and values:
                setattr(survivor, name, values[0])
            if any(v != getattr(survivor, name) for v in values):
                conflicts.append(name)
        attributes: dict[str, Any] = dict(survivor.attributes)
        tags = list(survivor.tags)
        for source in sources:
            for key, value in source.attributes.items():
                if key not in attributes or attributes[key] is None:
                    attributes[key] = value
                elif attributes[key] != value and f"attributes.{key}" not in conflicts:
                    conflicts.append(f"attributes.{key}")
            tags += [t for t in source.tags if t not in tags]
        survivor.attributes, survivor.tags = attributes, tags
        source_ids = [s.id for s in sources]
        moved = await self.identities.move(source_ids, survivor.id)
        now = utcnow()
        for source in sources:
            for name in PERSONAL_FIELDS:
                setattr(source, name, None)
            source.attributes, source.tags = {}, []
            source.merged_into_id, source.merged_at = survivor.id, now
        survivor.updated_at = now
        await self.session.flush()
        await self.customers.repoint_tombstones(source_ids, survivor.id)
        await close_after_merge(self.session, survivor.id, source_ids)
        for hook in MERGE_HOOKS:
            await hook(self.session, survivor.id, source_ids)
        merged = [str(i) for i in source_ids]
        await audit.record(
            self.session,
            tenant_id=survivor.tenant_id,
            action="customer.merged",
            actor=self.actor,
            target_type="customer",
            target_id=survivor.id,
            details={"merged_ids": merged, "identities_moved": moved, "conflicts": conflicts},
        )
        payload = CustomerMerged(
            customer_id=str(survivor.id),
            merged_ids=merged,
            identities_moved=moved,
            conflicts=conflicts,
            tags=tags,
            actor_type=self.actor.type,
            actor_id=self.actor.id,
        )
        await _emit_merged(self.session, survivor, payload, self.actor)
        return survivor

    async def split(
        self, customer_id: uuid.UUID, identity_ids: Sequence[uuid.UUID], name: str | None
    ) -> Customer:
        customer = await self.customers.get_live_or_404(customer_id)
        own = {i.id: i for i in await self.identities.of_customer(customer.id)}
        chosen = []
        for index, identity_id in enumerate(identity_ids):
            row = own.get(identity_id)
            if row is None:
                raise _bad_item("identity_ids", index, "not an identity of this customer")
            if row in chosen:
                raise _bad_item("identity_ids", index, "listed twice")
            chosen.append(row)
        new = await self.customers.create(
            Customer(tenant_id=customer.tenant_id, name=name or customer.name)
        )
        for row in chosen:
            row.customer_id = new.id
        remaining = [i for i in own.values() if i not in chosen]
        for row in chosen:
            field = PROFILE_KINDS.get(row.kind)
            if field is None:
                continue
            if getattr(new, field) is None:
                setattr(new, field, row.value)
            if getattr(customer, field) == row.value:
                rest = [i.value for i in remaining if i.kind == row.kind]
                setattr(customer, field, rest[0] if rest else None)
        customer.updated_at = utcnow()
        await self.session.flush()
        ids = [str(r.id) for r in chosen]
        kinds = sorted({r.kind for r in chosen})
        await audit.record(
            self.session,
            tenant_id=customer.tenant_id,
            action="customer.split",
            actor=self.actor,
            target_type="customer",
            target_id=customer.id,
            details={"new_customer_id": str(new.id), "identity_ids": ids, "kinds": kinds},
        )
        await emit_changed(self.session, new, created=True, actor=self.actor,
                           changed=["name", "identities", "phone", "email"])  # fmt: skip
        payload = CustomerSplit(
            customer_id=str(customer.id),
            new_customer_id=str(new.id),
            identity_ids=ids,
            identity_kinds=kinds,
            actor_type=self.actor.type,
            actor_id=self.actor.id,
        )
        await _emit_split(self.session, customer, payload, self.actor)
        return new
