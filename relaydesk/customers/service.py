"""Customer use cases: CRUD, search, and the audited reveal of one personal field.

Services flush, never commit (the request's unit of work does). Responses are built by the
caller with :meth:`relaydesk.customers.schemas.CustomerOut.from_model`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.audit import service as audit
from relaydesk.audit.service import Actor
from relaydesk.customers.models import Customer
from relaydesk.customers.repository import CustomerRepository
from relaydesk.customers.schemas import (
    CustomerFilters,
    CustomerIn,
    CustomerPatch,
    PiiField,
    normalise_phone,
)
from relaydesk.errors import ValidationFailed
from relaydesk.kit.pagination import PageParams


def search_filters(
    q: str | None = None, phone: str | None = None, email: str | None = None,
    tag: str | None = None,
) -> CustomerFilters:
    """Query parameters -> filters; the phone is normalised like a stored one."""
    normalised_phone = None
    if phone and phone.strip():
        try:
            normalised_phone = normalise_phone(phone.strip())
        except ValueError as exc:
            raise ValidationFailed(
                f"query.phone: {exc}",
                details=[{"loc": ["query", "phone"], "msg": str(exc), "type": "value_error"}],
            ) from None
    return CustomerFilters(
        q=(q or "").strip() or None,
        phone=normalised_phone,
        email=(email or "").strip().lower() or None,
        tag=(tag or "").strip() or None,
    )


class CustomerService:
    def __init__(self, session: AsyncSession, actor: Actor) -> None:
        self.session = session
        self.actor = actor
        self.repo = CustomerRepository(session)

    async def list(
        self, filters: CustomerFilters, params: PageParams
    ) -> tuple[Sequence[Customer], str | None]:
        return await self.repo.list_page(filters, params)

    async def get(self, customer_id: uuid.UUID) -> Customer:
        return await self.repo.get_or_404(customer_id)

    async def create(self, data: CustomerIn) -> Customer:
        return await self.repo.create(Customer(**data.model_dump()))

    async def update(self, customer_id: uuid.UUID, patch: CustomerPatch) -> Customer:
        customer = await self.repo.get_or_404(customer_id)
        changes = patch.changes()
        for name, value in changes.items():
            setattr(customer, name, value)
        if changes:
            await self.session.flush()  # sets updated_at (a client-side onupdate) too
        return customer

    async def delete(self, customer_id: uuid.UUID) -> None:
        customer = await self.repo.get_or_404(customer_id)
        await self.repo.delete(customer)
        await audit.record(
            self.session, tenant_id=customer.tenant_id, action="customer.deleted",
            actor=self.actor, target_type="customer", target_id=customer.id,
        )

    async def reveal(self, customer_id: uuid.UUID, field: PiiField) -> str | None:
        """The clear value of one personal field; the audit row names the field only."""
        customer = await self.repo.get_or_404(customer_id)
        value: str | None = getattr(customer, field)
        await audit.record(
            self.session, tenant_id=customer.tenant_id, action="customer.pii_revealed",
            actor=self.actor, target_type="customer", target_id=customer.id,
            details={"field": field, "empty": value is None},
        )
        return value
