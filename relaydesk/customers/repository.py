"""Customer queries. The tenant guard scopes every statement; nothing here passes a tenant."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, Select, cast, exists, func, literal, or_, select
from sqlalchemy.dialects.postgresql import JSONB

from relaydesk.customers.models import Customer
from relaydesk.customers.schemas import CustomerFilters
from relaydesk.kit.pagination import PageParams
from relaydesk.kit.repository import Repository


class CustomerRepository(Repository[Customer]):
    model = Customer
    noun = "customer"

    def _has_tag(self, tag: str) -> ColumnElement[bool]:
        """``tag`` is one of the JSON array's elements (not a substring of one)."""
        if self.session.get_bind().dialect.name == "postgresql":
            return cast(Customer.tags, JSONB).contains([tag])
        elements = func.json_each(Customer.tags).table_valued("value")
        return exists(select(literal(1)).select_from(elements).where(elements.c.value == tag))

    def search(self, filters: CustomerFilters) -> Select[tuple[Customer]]:
        stmt = self.select()
        if filters.q:
            stmt = stmt.where(
                or_(
                    Customer.name.icontains(filters.q, autoescape=True),
                    Customer.company.icontains(filters.q, autoescape=True),
                )
            )
        if filters.phone:
            stmt = stmt.where(Customer.phone == filters.phone)
        if filters.email:
            stmt = stmt.where(Customer.email == filters.email)
        if filters.tag:
            stmt = stmt.where(self._has_tag(filters.tag))
        return stmt

    async def list_page(
        self, filters: CustomerFilters, params: PageParams
    ) -> tuple[Sequence[Customer], str | None]:
        return await self.page(self.search(filters), params)

