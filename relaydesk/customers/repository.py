"""Customer queries. The tenant guard scopes every statement; nothing here passes a tenant."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    cast,
    exists,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB

from relaydesk.customers.identities import IdentityKey
from relaydesk.customers.models import (
    AttributeDefinition,
    Customer,
    CustomerIdentity,
    MergeSuggestion,
)
from relaydesk.customers.schemas import CustomerFilters
from relaydesk.errors import NotFound
from relaydesk.kit.pagination import PageParams
from relaydesk.kit.repository import Repository


def merged_error(customer_id: uuid.UUID, survivor_id: uuid.UUID) -> NotFound:
    """The answer for a merged customer: 404 ``customer_merged`` pointing at the survivor."""
    return NotFound(
        f"customer {customer_id} was merged into {survivor_id}",
        code="customer_merged",
        details={"merged_into": str(survivor_id)},
    )


class CustomerRepository(Repository[Customer]):
    model = Customer
    noun = "customer"

    async def get_live_or_404(self, id_: uuid.UUID) -> Customer:
        """A customer that was not merged; a merged one answers with its survivor's id."""
        customer = await self.get_or_404(id_)
        if customer.merged_into_id is not None:
            raise merged_error(customer.id, customer.merged_into_id)
        return customer

    async def by_ids(self, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Customer]:
        """Customers by id, merged ones (tombstones) included."""
        wanted = set(ids)
        if not wanted:
            return {}
        rows = await self.all(self.select().where(Customer.id.in_(wanted)))
        return {c.id: c for c in rows}

    def _has_tag(self, tag: str) -> ColumnElement[bool]:
        """``tag`` is one of the JSON array's elements (not a substring of one)."""
        if self.session.get_bind().dialect.name == "postgresql":
            return cast(Customer.tags, JSONB).contains([tag])
        elements = func.json_each(Customer.tags).table_valued("value")
        return exists(select(literal(1)).select_from(elements).where(elements.c.value == tag))

    @staticmethod
    def _holds(key: tuple[str, str, str]) -> ColumnElement[bool]:
        kind, namespace, value = key
        conditions = [CustomerIdentity.customer_id == Customer.id, CustomerIdentity.value == value]
        if kind != "*":
            conditions += [CustomerIdentity.kind == kind, CustomerIdentity.namespace == namespace]
        return exists(select(literal(1)).where(*conditions))

    def search(self, filters: CustomerFilters) -> Select[tuple[Customer]]:
        stmt = self.select().where(Customer.merged_into_id.is_(None))
        if filters.q:
            stmt = stmt.where(
                or_(
                    Customer.name.icontains(filters.q, autoescape=True),
                    Customer.company.icontains(filters.q, autoescape=True),
                )
            )
        if filters.phone:
            stmt = stmt.where(
                or_(Customer.phone == filters.phone, self._holds(("phone", "", filters.phone)))
            )
        if filters.email:
            stmt = stmt.where(
                or_(Customer.email == filters.email, self._holds(("email", "", filters.email)))
            )
        if filters.tag:
            stmt = stmt.where(self._has_tag(filters.tag))
        if filters.identity_keys:
            stmt = stmt.where(or_(*(self._holds(key) for key in filters.identity_keys)))
        return stmt

    async def list_page(
        self, filters: CustomerFilters, params: PageParams
    ) -> tuple[Sequence[Customer], str | None]:
        return await self.page(self.search(filters), params)

    async def repoint_tombstones(self, old: Sequence[uuid.UUID], survivor: uuid.UUID) -> None:
        """Customers merged earlier into ``old`` now point at ``survivor``."""
        await self.session.execute(
            update(Customer)
            .where(Customer.merged_into_id.in_(old))
            .values(merged_into_id=survivor)
            .execution_options(synchronize_session=False)
        )


class IdentityRepository(Repository[CustomerIdentity]):
    model = CustomerIdentity
    noun = "identity"

    async def of_customer(self, customer_id: uuid.UUID) -> Sequence[CustomerIdentity]:
        return await self.all(
            self.select()
            .where(CustomerIdentity.customer_id == customer_id)
            .order_by(CustomerIdentity.id)
        )

    async def of_customers(
        self, customer_ids: Iterable[uuid.UUID]
    ) -> dict[uuid.UUID, list[CustomerIdentity]]:
        ids = set(customer_ids)
        out: dict[uuid.UUID, list[CustomerIdentity]] = {i: [] for i in ids}
        if not ids:
            return out
        rows = await self.all(
            self.select().where(CustomerIdentity.customer_id.in_(ids)).order_by(CustomerIdentity.id)
        )
        for row in rows:
            out[row.customer_id].append(row)
        return out

    async def get_of_customer(
        self, customer_id: uuid.UUID, identity_id: uuid.UUID
    ) -> CustomerIdentity:
        row = await self.one_or_none(
            self.select().where(
                CustomerIdentity.id == identity_id, CustomerIdentity.customer_id == customer_id
            )
        )
        if row is None:
            raise NotFound(f"identity {identity_id} of customer {customer_id} not found")
        return row

    async def by_keys(self, keys: Iterable[IdentityKey]) -> dict[IdentityKey, CustomerIdentity]:
        wanted = set(keys)
        if not wanted:
            return {}
        conditions = [
            and_(
                CustomerIdentity.kind == k.kind,
                CustomerIdentity.namespace == k.namespace,
                CustomerIdentity.value == k.value,
            )
            for k in wanted
        ]
        rows = await self.all(self.select().where(or_(*conditions)))
        return {IdentityKey(r.kind, r.namespace, r.value): r for r in rows}

    async def by_ids(self, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, CustomerIdentity]:
        wanted = set(ids)
        if not wanted:
            return {}
        rows = await self.all(self.select().where(CustomerIdentity.id.in_(wanted)))
        return {r.id: r for r in rows}

    async def move(self, from_ids: Sequence[uuid.UUID], to_id: uuid.UUID) -> int:
        """Every identity of ``from_ids`` now belongs to ``to_id``; returns how many moved."""
        result = await self.session.execute(
            update(CustomerIdentity)
            .where(CustomerIdentity.customer_id.in_(from_ids))
            .values(customer_id=to_id)
            .execution_options(synchronize_session="fetch")
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


class DefinitionRepository(Repository[AttributeDefinition]):
    model = AttributeDefinition
    noun = "attribute definition"

    async def all_defined(self) -> Sequence[AttributeDefinition]:
        return await self.all(self.select().order_by(AttributeDefinition.key))

    async def by_key(self, key: str) -> AttributeDefinition | None:
        return await self.one_or_none(self.select().where(AttributeDefinition.key == key))

    async def by_key_or_404(self, key: str) -> AttributeDefinition:
        found = await self.by_key(key)
        if found is None:
            raise NotFound(f"attribute definition {key!r} not found")
        return found

    async def customers_using(self, key: str, values: Sequence[str]) -> int:
        """How many live customers hold one of ``values`` in attribute ``key``."""
        stmt = (
            select(func.count())
            .select_from(Customer)
            .where(
                Customer.merged_into_id.is_(None),
                Customer.attributes[key].as_string().in_(values),
            )
        )
        return int((await self.session.execute(stmt)).scalar_one())


class SuggestionRepository(Repository[MergeSuggestion]):
    model = MergeSuggestion
    noun = "merge suggestion"

    async def between(self, a: uuid.UUID, b: uuid.UUID) -> MergeSuggestion | None:
        return await self.one_or_none(
            self.select().where(
                or_(
                    and_(MergeSuggestion.customer_id == a, MergeSuggestion.candidate_id == b),
                    and_(MergeSuggestion.customer_id == b, MergeSuggestion.candidate_id == a),
                )
            )
        )

    async def involving(self, ids: Sequence[uuid.UUID]) -> Sequence[MergeSuggestion]:
        return await self.all(
            self.select().where(
                or_(MergeSuggestion.customer_id.in_(ids), MergeSuggestion.candidate_id.in_(ids))
            )
        )

    def listing(self, status: str | None) -> Select[tuple[MergeSuggestion]]:
        stmt = self.select()
        if status is not None:
            stmt = stmt.where(MergeSuggestion.status == status)
        return stmt
