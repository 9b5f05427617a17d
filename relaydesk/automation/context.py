"""What a rule sees: the event, the customer it is about, its identity (principal).

The customer is found from the event's payload: ``customer_id`` when it is a Relaydesk
customer's id (conversations, customers), else the first phone field
(``customer_phone``, ``phone``, ``buyer_phone``, ``mobile``, ``receiver_phone``: order and
ticket callbacks) matched against customers' phones. A merged customer resolves to the one
it was merged into. The customer is shown to the rule as its own identity may see it:
personal fields masked unless ``run_as`` holds ``customers.pii.view``; ``phone_national``
is the phone without its country code (``13912345678``), as order systems take it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

import phonenumbers
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.auth.principal import Principal
from relaydesk.customers.models import Customer
from relaydesk.customers.schemas import normalise_phone
from relaydesk.customers.service import customer_out
from relaydesk.events.envelope import Envelope
from relaydesk.kit.db import utcnow
from relaydesk.kit.ids import uuid7

__all__ = [
    "CRON_EVENT",
    "PHONE_FIELDS",
    "event_json",
    "resolve_customer",
    "rule_principal",
    "tick_envelope",
]

PHONE_FIELDS = ("customer_phone", "phone", "buyer_phone", "mobile", "receiver_phone")
#: the type of the synthetic event a cron tick gives its rule (never published)
CRON_EVENT = "automation.cron_tick"


def rule_principal(
    tenant_id: uuid.UUID,
    tenant_slug: str,
    rule_id: uuid.UUID,
    name: str,
    run_as: frozenset[str],
) -> Principal:
    """The rule's own service identity: exactly its ``run_as`` permissions."""
    return Principal(kind="rule", id=rule_id, tenant_id=tenant_id, tenant_slug=tenant_slug,
                     label=f"rule {name}"[:200], permissions=run_as)  # fmt: skip


def tick_envelope(tenant_id: uuid.UUID, rule_id: uuid.UUID, tick: dt.datetime) -> Envelope:
    return Envelope(
        id=uuid7(), tenant_id=tenant_id, type=CRON_EVENT, version=1, key=f"rule:{rule_id}",
        payload={"tick": tick.isoformat(), "rule_id": str(rule_id)}, occurred_at=utcnow(),
        source={"kind": "cron"}, depth=0,
    )  # fmt: skip


def event_json(envelope: Envelope) -> dict[str, Any]:
    """The ``event`` root of the context: type, key, payload, source, depth..."""
    return envelope.to_json()


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


async def _by_id(session: AsyncSession, customer_id: uuid.UUID) -> Customer | None:
    customer = await session.get(Customer, customer_id)
    hops = 0
    while customer is not None and getattr(customer, "merged_into_id", None) and hops < 5:
        customer = await session.get(Customer, customer.merged_into_id)
        hops += 1
    return customer


async def find_customer(session: AsyncSession, payload: Mapping[str, Any]) -> Customer | None:
    raw_id = payload.get("customer_id")
    if raw_id is not None and (customer_id := _uuid(raw_id)) is not None:
        customer = await _by_id(session, customer_id)
        if customer is not None:
            return customer
    for field in PHONE_FIELDS:
        value = payload.get(field)
        if not isinstance(value, str) or not value.strip():
            continue
        try:
            phone = normalise_phone(value.strip())
        except ValueError:
            continue
        found = (
            await session.execute(select(Customer).where(Customer.phone == phone).limit(1))
        ).scalar_one_or_none()
        if found is not None:
            return await _by_id(session, found.id)
    return None


async def resolve_customer(
    session: AsyncSession,
    payload: Mapping[str, Any],
    principal: Principal,
    customer_id: uuid.UUID | None = None,
) -> tuple[uuid.UUID | None, dict[str, Any] | None]:
    """(id, the ``customer`` root) for the event's payload, or (None, None)."""
    customer = await _by_id(session, customer_id) if customer_id else \
        await find_customer(session, payload)  # fmt: skip
    if customer is None:
        return None, None
    shown = (await customer_out(session, customer, principal)).model_dump(mode="json")
    phone = shown.get("phone")
    shown["phone_national"] = phone if shown.get("masked") else _national(phone)
    return customer.id, shown


def _national(phone: Any) -> str | None:
    """``+8613912345678`` → ``13912345678`` (what most Chinese systems take as a mobile)."""
    if not isinstance(phone, str) or not phone.startswith("+"):
        return phone if isinstance(phone, str) else None
    try:
        parsed = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return phone
    return str(parsed.national_number)
