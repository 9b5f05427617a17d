"""Identities of one customer: attach, remove, verify, reveal; and the profile mirror.

The profile's ``phone`` and ``email`` fields and the identities are kept in step:

* setting the profile field attaches the identity (source ``profile``, unverified) unless
  another customer holds it, which records a merge suggestion instead;
* changing or clearing the field removes the old ``profile`` identity if it was never verified;
* attaching a phone or e-mail identity fills an empty profile field, and removing the identity
  the field shows moves the field to another identity of that kind (or clears it).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.audit import service as audit
from relaydesk.audit.service import Actor
from relaydesk.customers.events import emit_changed
from relaydesk.customers.identities import IdentityKey, IdentityKind
from relaydesk.customers.identity_schemas import IdentityIn
from relaydesk.customers.models import Customer, CustomerIdentity
from relaydesk.customers.repository import CustomerRepository, IdentityRepository
from relaydesk.customers.suggestions import suggest
from relaydesk.errors import Conflict
from relaydesk.kit.db import utcnow

PROFILE_KINDS = {IdentityKind.PHONE.value: "phone", IdentityKind.EMAIL.value: "email"}


def conflict_error(key: IdentityKey, holder_id: uuid.UUID, loc: Sequence[str | int]) -> Conflict:
    where = ".".join(str(p) for p in loc if p != "body")
    message = f"{where}: this {key.kind} identity already belongs to customer {holder_id}"
    return Conflict(
        message,
        details=[{"loc": list(loc), "msg": message, "type": "identity_taken",
                  "customer_id": str(holder_id)}],
    )  # fmt: skip


async def attach(
    session: AsyncSession,
    customer: Customer,
    key: IdentityKey,
    *,
    verified: bool,
    source: str,
    origin: str = "staff",
) -> CustomerIdentity:
    """Add a new identity row (the caller checked that nobody holds ``key``)."""
    row = CustomerIdentity(
        tenant_id=customer.tenant_id,
        customer_id=customer.id,
        kind=key.kind,
        namespace=key.namespace,
        value=key.value,
        verified=verified,
        verified_at=utcnow() if verified else None,
        source=source[:64],
        origin=origin,
    )
    session.add(row)
    await session.flush()
    fill_profile(customer, row)
    return row


def fill_profile(customer: Customer, identity: CustomerIdentity) -> bool:
    """Show a phone/e-mail identity in the empty profile field; True if it did."""
    field = PROFILE_KINDS.get(identity.kind)
    if field is not None and getattr(customer, field) is None:
        setattr(customer, field, identity.value)
        return True
    return False


async def sync_profile(
    session: AsyncSession, customer: Customer, field: str, old: str | None, new: str | None
) -> None:
    """Mirror a profile phone/e-mail change into the identities (see the module docstring)."""
    repo = IdentityRepository(session)
    kind = field  # "phone" or "email": the same names as the identity kinds
    if old and old != new:
        row = (await repo.by_keys([IdentityKey(kind, "", old)])).get(IdentityKey(kind, "", old))
        if (
            row is not None
            and row.customer_id == customer.id
            and row.source == "profile"
            and not row.verified
        ):
            await repo.delete(row)
    if new:
        key = IdentityKey(kind, "", new)
        row = (await repo.by_keys([key])).get(key)
        if row is None:
            await attach(session, customer, key, verified=False, source="profile")
        elif row.customer_id != customer.id:
            await suggest(session, customer.id, row.customer_id, why="profile_duplicate",
                          identity=row)  # fmt: skip


class IdentityService:
    def __init__(self, session: AsyncSession, actor: Actor) -> None:
        self.session = session
        self.actor = actor
        self.customers = CustomerRepository(session)
        self.repo = IdentityRepository(session)

    async def list(self, customer_id: uuid.UUID) -> Sequence[CustomerIdentity]:
        customer = await self.customers.get_live_or_404(customer_id)
        return await self.repo.of_customer(customer.id)

    async def add_many(
        self,
        customer: Customer,
        items: Sequence[IdentityIn],
        *,
        loc: Sequence[str | int],
        source: str,
    ) -> Sequence[CustomerIdentity]:
        """Attach ``items``; a taken identity is a 409 at ``loc + [index, "value"]``."""
        keys = [item.key for item in items]
        held = await self.repo.by_keys(keys)
        seen: set[IdentityKey] = set()
        for index, key in enumerate(keys):
            row = held.get(key)
            if row is not None or key in seen:
                holder = row.customer_id if row is not None else customer.id
                raise conflict_error(key, holder, [*loc, index, "value"])
            seen.add(key)
        out = []
        for item in items:
            out.append(await attach(self.session, customer, item.key, verified=item.verified,
                                    source=source))  # fmt: skip
        return out

    async def add(self, customer_id: uuid.UUID, item: IdentityIn) -> CustomerIdentity:
        customer = await self.customers.get_live_or_404(customer_id)
        before = (customer.phone, customer.email)
        held = (await self.repo.by_keys([item.key])).get(item.key)
        if held is not None:
            raise conflict_error(item.key, held.customer_id, ["body", "value"])
        row = await attach(self.session, customer, item.key, verified=item.verified,
                           source=_source(self.actor))  # fmt: skip
        await self._changed(customer, before, "customer.identity_added", row)
        return row

    async def remove(self, customer_id: uuid.UUID, identity_id: uuid.UUID) -> None:
        customer = await self.customers.get_live_or_404(customer_id)
        row = await self.repo.get_of_customer(customer.id, identity_id)
        before = (customer.phone, customer.email)
        await self.repo.delete(row)
        field = PROFILE_KINDS.get(row.kind)
        if field is not None and getattr(customer, field) == row.value:
            others = [i for i in await self.repo.of_customer(customer.id) if i.kind == row.kind]
            setattr(customer, field, others[0].value if others else None)
        await self._changed(customer, before, "customer.identity_removed", row)

    async def verify(self, customer_id: uuid.UUID, identity_id: uuid.UUID) -> CustomerIdentity:
        customer = await self.customers.get_live_or_404(customer_id)
        row = await self.repo.get_of_customer(customer.id, identity_id)
        if not row.verified:
            row.verified, row.verified_at = True, utcnow()
            await self._changed(customer, (customer.phone, customer.email),
                                "customer.identity_verified", row)  # fmt: skip
        return row

    async def reveal(self, customer_id: uuid.UUID, identity_id: uuid.UUID) -> CustomerIdentity:
        """The clear value; the audit row names the identity and its kind, not the value."""
        customer = await self.customers.get_live_or_404(customer_id)
        row = await self.repo.get_of_customer(customer.id, identity_id)
        await audit.record(
            self.session,
            tenant_id=customer.tenant_id,
            action="customer.pii_revealed",
            actor=self.actor,
            target_type="customer",
            target_id=customer.id,
            details={"field": "identities", "identity_id": str(row.id), "kind": row.kind},
        )
        return row

    async def _changed(
        self,
        customer: Customer,
        before: tuple[str | None, str | None],
        action: str,
        row: CustomerIdentity,
    ) -> None:
        changed = ["identities"]
        changed += [f for f, old in zip(("phone", "email"), before, strict=True)
                    if getattr(customer, f) != old]  # fmt: skip
        customer.updated_at = utcnow()
        await self.session.flush()
        await audit.record(
            self.session, tenant_id=customer.tenant_id, action=action, actor=self.actor,
            target_type="customer", target_id=customer.id,
            details={"identity_id": str(row.id), "kind": row.kind, "namespace": row.namespace,
                     "verified": row.verified},
        )  # fmt: skip
        await emit_changed(self.session, customer, created=False, changed=changed,
                           actor=self.actor)  # fmt: skip


def _source(actor: Actor) -> str:
    return "agent" if actor.type == "user" else actor.type
