"""Customer use cases: CRUD, search, typed attributes, and the audited reveal.

Services flush, never commit (the request's unit of work does). Every change emits
``customer.created`` / ``customer.updated`` in the same transaction. Responses are built by the
caller with :meth:`relaydesk.customers.schemas.CustomerOut.from_model`, fed by
:meth:`CustomerService.views` (identities and personal attribute keys).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.audit import service as audit
from relaydesk.audit.service import Actor
from relaydesk.auth.principal import Principal
from relaydesk.customers.attributes import Definition, check_attributes
from relaydesk.customers.echoes import keep_masked_echoes
from relaydesk.customers.events import emit_changed
from relaydesk.customers.identities import guess_keys, normalise_identity
from relaydesk.customers.identity_service import IdentityService, sync_profile
from relaydesk.customers.models import Customer, CustomerIdentity
from relaydesk.customers.repository import (
    CustomerRepository,
    DefinitionRepository,
    IdentityRepository,
)
from relaydesk.customers.schemas import (
    CustomerFilters,
    CustomerIn,
    CustomerOut,
    CustomerPatch,
    normalise_phone,
)
from relaydesk.errors import ValidationFailed
from relaydesk.kit.pagination import PageParams


def _bad_query(name: str, message: str) -> ValidationFailed:
    return ValidationFailed(
        f"query.{name}: {message}",
        details=[{"loc": ["query", name], "msg": message, "type": "value_error"}],
    )


def search_filters(
    q: str | None = None,
    phone: str | None = None,
    email: str | None = None,
    tag: str | None = None,
    identity: str | None = None,
    identity_kind: str | None = None,
    namespace: str | None = None,
) -> CustomerFilters:
    """Query parameters -> filters; phones and identities are normalised like stored ones.

    ``identity`` alone is matched as a phone, an e-mail or any opaque id; with
    ``identity_kind`` (and ``namespace`` where the kind has one) it is matched exactly.
    """
    normalised_phone = None
    if phone and phone.strip():
        try:
            normalised_phone = normalise_phone(phone.strip())
        except ValueError as exc:
            raise _bad_query("phone", str(exc)) from None
    keys: tuple[tuple[str, str, str], ...] = ()
    if identity and identity.strip():
        if identity_kind:
            try:
                key = normalise_identity(identity_kind, identity, namespace)
            except ValueError as exc:
                field = getattr(exc, "field", "value")
                name = {"value": "identity", "kind": "identity_kind"}.get(field, field)
                raise _bad_query(name, str(exc)) from None
            keys = ((key.kind, key.namespace, key.value),)
        else:
            keys = tuple((k.kind, k.namespace, k.value) for k in guess_keys(identity))
            if not keys:
                raise _bad_query("identity", "not a phone number, e-mail address or id")
    return CustomerFilters(
        q=(q or "").strip() or None,
        phone=normalised_phone,
        email=(email or "").strip().lower() or None,
        tag=(tag or "").strip() or None,
        identity_keys=keys,
    )


@dataclass(frozen=True)
class CustomerViews:
    """What the serializer needs besides the customers: identities and personal attributes."""

    identities: Mapping[uuid.UUID, Sequence[CustomerIdentity]]
    pii_attributes: frozenset[str]

    def out(self, customer: Customer, principal: Principal) -> CustomerOut:
        return CustomerOut.from_model(
            customer,
            principal,
            identities=self.identities.get(customer.id, ()),
            pii_attributes=self.pii_attributes,
        )


async def definitions_by_key(session: AsyncSession) -> dict[str, Definition]:
    return {d.key: d for d in await DefinitionRepository(session).all_defined()}


async def customer_out(
    session: AsyncSession, customer: Customer, principal: Principal
) -> CustomerOut:
    """One customer as a response, with identities and personal attributes masked by role.

    Other domains showing a customer (canned-response variables, rule contexts) use this
    rather than ``CustomerOut.from_model`` alone, which cannot know the personal attributes.
    """
    return (await customer_views(session, [customer])).out(customer, principal)


async def customer_views(session: AsyncSession, customers: Sequence[Customer]) -> CustomerViews:
    identities = await IdentityRepository(session).of_customers(c.id for c in customers)
    definitions = await definitions_by_key(session)
    pii = frozenset(key for key, d in definitions.items() if d.pii)
    return CustomerViews(identities, pii)


class CustomerService:
    def __init__(self, session: AsyncSession, actor: Actor) -> None:
        self.session = session
        self.actor = actor
        self.repo = CustomerRepository(session)

    async def views(self, customers: Sequence[Customer]) -> CustomerViews:
        return await customer_views(self.session, customers)

    async def list(
        self, filters: CustomerFilters, params: PageParams
    ) -> tuple[Sequence[Customer], str | None]:
        return await self.repo.list_page(filters, params)

    async def get(self, customer_id: uuid.UUID) -> Customer:
        return await self.repo.get_live_or_404(customer_id)

    async def create(self, data: CustomerIn) -> Customer:
        definitions = await definitions_by_key(self.session)
        fields = data.model_dump(exclude={"identities"})
        fields["attributes"] = check_attributes(data.attributes, definitions)
        customer = await self.repo.create(Customer(**fields))
        if data.identities:
            await IdentityService(self.session, self.actor).add_many(
                customer, data.identities, loc=("body", "identities"), source=_source(self.actor)
            )
        for field in ("phone", "email"):
            await sync_profile(self.session, customer, field, None, fields[field])
        await self.session.flush()
        await emit_changed(self.session, customer, created=True, changed=_ALL_FIELDS,
                           actor=self.actor)  # fmt: skip
        return customer

    async def update(
        self, customer_id: uuid.UUID, patch: CustomerPatch, *, masked: bool = False
    ) -> Customer:
        """``masked``: the caller reads masked values, and sending one back keeps the stored
        value (:func:`keep_masked_echoes`)."""
        customer = await self.repo.get_live_or_404(customer_id)
        changes = patch.changes()
        needed = masked or "attributes" in changes
        definitions = await definitions_by_key(self.session) if needed else {}
        if masked:
            pii = frozenset(key for key, d in definitions.items() if d.pii)
            changes = keep_masked_echoes(changes, customer, pii)
        if "attributes" in changes:
            changes["attributes"] = check_attributes(changes["attributes"], definitions)
        before = {name: getattr(customer, name) for name in changes}
        for name, value in changes.items():
            setattr(customer, name, value)
        for field in ("phone", "email"):
            if field in changes:
                await sync_profile(self.session, customer, field, before[field], changes[field])
        if changes:
            await self.session.flush()  # sets updated_at (a client-side onupdate) too
            changed = [name for name in changes if before[name] != changes[name]]
            if changed:
                await emit_changed(self.session, customer, created=False, changed=changed,
                                   actor=self.actor)  # fmt: skip
        return customer

    async def delete(self, customer_id: uuid.UUID) -> None:
        customer = await self.repo.get_live_or_404(customer_id)
        await self.repo.delete(customer)
        await audit.record(
            self.session,
            tenant_id=customer.tenant_id,
            action="customer.deleted",
            actor=self.actor,
            target_type="customer",
            target_id=customer.id,
        )

    async def reveal(self, customer_id: uuid.UUID, field: str) -> Any:
        """The clear value of one personal field; the audit row names the field only."""
        customer = await self.repo.get_live_or_404(customer_id)
        value: Any
        if field.startswith("attributes."):
            key = field.removeprefix("attributes.")
            definition = await DefinitionRepository(self.session).by_key(key)
            if definition is None or not definition.pii:
                message = f"attributes.{key} is not a personal attribute (nothing is masked)"
                raise ValidationFailed(message, details=[
                    {"loc": ["body", "field"], "msg": message, "type": "value_error"}
                ])  # fmt: skip
            value = customer.attributes.get(key)
        else:
            value = getattr(customer, field)
        await audit.record(
            self.session,
            tenant_id=customer.tenant_id,
            action="customer.pii_revealed",
            actor=self.actor,
            target_type="customer",
            target_id=customer.id,
            details={"field": field, "empty": value is None},
        )
        return value


_ALL_FIELDS = ("name", "phone", "email", "id_number", "bank_card", "address", "company", "tags",
               "attributes", "identities")  # fmt: skip


def _source(actor: Actor) -> str:
    return "agent" if actor.type == "user" else actor.type
