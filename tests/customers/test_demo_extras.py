"""The demo's customer extras: typed attributes, connector ids, one merge suggestion."""

from __future__ import annotations

from sqlalchemy import select

from relaydesk.audit.service import SYSTEM
from relaydesk.customers.demo import DEFINITIONS, seed_customer_extras
from relaydesk.customers.models import AttributeDefinition, CustomerIdentity, MergeSuggestion
from relaydesk.customers.schemas import CustomerIn
from relaydesk.customers.service import CustomerService
from relaydesk.demo.seed import demo_customers
from relaydesk.demo_systems.dataset import people
from relaydesk.kit.db import Database, scope_session
from relaydesk.tenancy.service import create_tenant


async def test_seed_extras_link_the_demo_systems_ids_and_run_twice(db: Database) -> None:
    async with db.job(system=True) as session:
        tenant = await create_tenant(session, slug="demo-x", name="Demo")
        scope_session(session, tenant.id)
        for fields in demo_customers(5):
            await CustomerService(session, SYSTEM).create(CustomerIn.model_validate(fields))
        first = await seed_customer_extras(session)
        again = await seed_customer_extras(session)
    assert first == {"definitions": len(DEFINITIONS), "identities": 10, "suggestions": 1}
    assert again["definitions"] == 0 and again["identities"] == 0
    async with db.job(tenant.id) as session:
        keys = set((await session.scalars(select(AttributeDefinition.key))).all())
        external = {
            (i.namespace, i.value)
            for i in await session.scalars(
                select(CustomerIdentity).where(CustomerIdentity.kind == "external")
            )
        }
        suggestions = (await session.scalars(select(MergeSuggestion))).all()
    assert keys == {d["key"] for d in DEFINITIONS}
    person = people()[0]
    assert ("crm:contact", person.crm_id) in external
    assert ("orders:buyer", str(person.buyer_id)) in external
    assert len(suggestions) == 1 and suggestions[0].reasons[0]["why"] == "unverified_match"
