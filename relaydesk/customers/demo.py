"""The demo organisation's customer extras: attribute definitions, identities, a duplicate.

Called by the demo seed after the customers exist (``seed_customer_extras(session)`` on a
session scoped to the demo tenant). Each seeded customer gets verified external ids of the
demo CRM (``crm``) and order system (``orders``) matching :mod:`relaydesk.demo_systems.dataset`,
so identity resolution and search by CRM contact id work on the demo data; one unverified
web-chat contact that typed a known mobile number leaves a merge suggestion to look at.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.audit.service import SYSTEM
from relaydesk.customers.identities import IdentityKey
from relaydesk.customers.identity_service import attach
from relaydesk.customers.models import AttributeDefinition, Customer
from relaydesk.customers.repository import (
    CustomerRepository,
    DefinitionRepository,
    IdentityRepository,
)
from relaydesk.customers.resolution import IdentityClaim, resolve

#: the demo's attribute definitions (the seed's ``member_tier`` and ``source`` become typed)
DEFINITIONS: tuple[dict[str, Any], ...] = (
    {"key": "member_tier", "label_zh": "会员等级", "label_en": "Member tier", "type": "enum",
     "options": ["普通会员", "银卡会员", "金卡会员", "钻石会员"]},
    {"key": "source", "label_zh": "来源渠道", "label_en": "Acquisition channel",
     "type": "string"},
    {"key": "birthday", "label_zh": "生日", "label_en": "Birthday", "type": "date",
     "pii": True},
    {"key": "marketing_opt_in", "label_zh": "接受营销", "label_en": "Marketing opt-in",
     "type": "boolean"},
)  # fmt: skip


async def seed_customer_extras(session: AsyncSession) -> dict[str, int]:
    """Idempotent: definitions and identities that exist already are left alone."""
    from relaydesk.demo_systems.dataset import people  # the demo systems' shared dataset

    definitions = DefinitionRepository(session)
    created_definitions = 0
    for spec in DEFINITIONS:
        if await definitions.by_key(spec["key"]) is None:
            await definitions.create(AttributeDefinition(**spec))
            created_definitions += 1
    customers = CustomerRepository(session)
    identities = IdentityRepository(session)
    attached = 0
    by_phone: dict[str, Customer] = {}
    for row in await customers.all(customers.select().order_by(Customer.id)):
        if row.phone:
            by_phone.setdefault(row.phone.removeprefix("+86"), row)
    for person in people():
        customer = by_phone.get(person.mobile)
        if customer is None:
            continue
        for key in (IdentityKey("external", "crm:contact", person.crm_id),
                    IdentityKey("external", "orders:buyer", str(person.buyer_id))):  # fmt: skip
            if not await identities.by_keys([key]):
                await attach(session, customer, key, verified=True, source="demo")
                attached += 1
    tenant_id = session.info["tenant_id"]
    suggested = 0
    first = next(iter(by_phone.values()), None)
    if first is not None and first.phone:
        result = await resolve(
            session, tenant_id,
            [IdentityClaim("visitor", "demo-visitor-0001", verified=True),
             IdentityClaim("phone", first.phone, verified=False)],
            verified=True, source="webchat", name="网页访客", actor=SYSTEM,
        )  # fmt: skip
        suggested = len(result.suggested)
    return {"definitions": created_definitions, "identities": attached, "suggestions": suggested}
