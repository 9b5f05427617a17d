"""The customer events this domain emits, and the helpers that emit them.

``customer.created`` and ``customer.updated`` are catalogued in :mod:`relaydesk.events.payloads`
(:class:`~relaydesk.events.payloads.CustomerChanged`); this module registers
``customer.merged`` and ``customer.split``. Every event is written with
:func:`relaydesk.events.outbox.emit` in the transaction of the change it describes.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.audit.service import Actor
from relaydesk.customers.models import Customer
from relaydesk.events.catalogue import EventSpec, register_event
from relaydesk.events.envelope import Envelope
from relaydesk.events.outbox import emit
from relaydesk.events.payloads import CustomerChanged

__all__ = ["CustomerMerged", "CustomerSplit", "emit_changed", "emit_merged", "emit_split"]


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CustomerMerged(_Payload):
    #: the surviving customer (the ordering key)
    customer_id: str
    merged_ids: list[str]
    identities_moved: int
    #: profile fields and ``attributes.<key>`` where both had a value: the survivor's was kept
    conflicts: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    actor_type: str
    actor_id: str | None = None


class CustomerSplit(_Payload):
    #: the customer the identities left (the ordering key)
    customer_id: str
    new_customer_id: str
    identity_ids: list[str]
    identity_kinds: list[str]
    actor_type: str
    actor_id: str | None = None


register_event(EventSpec(
    "customer.merged", CustomerMerged,
    "Customers were merged into one (by an agent): identities, attributes and tags moved to "
    "the surviving customer; the merged ones answer 404 customer_merged with merged_into.",
    key="customer_id", source="customers",
    examples=({
        "customer_id": "01938f2e-7c1a-7b3e-9d2f-5a8c6e4b1f07",
        "merged_ids": ["01938f2e-9a40-7c11-8e5d-2b7f4c9a0d31"],
        "identities_moved": 3, "conflicts": ["phone", "attributes.member_tier"],
        "tags": ["VIP", "微信"], "actor_type": "user",
        "actor_id": "01938f2d-1b2c-7d3e-8f40-5a6b7c8d9e0f",
    },),
))  # fmt: skip
register_event(EventSpec(
    "customer.split", CustomerSplit,
    "Identities of a customer were moved to a new customer (by an agent).",
    key="customer_id", source="customers",
    examples=({
        "customer_id": "01938f2e-7c1a-7b3e-9d2f-5a8c6e4b1f07",
        "new_customer_id": "01938f30-0c4d-7a2b-9e61-3f5a7b9c1d2e",
        "identity_ids": ["01938f2e-8b11-7e20-a3c4-6d7e8f9a0b1c"],
        "identity_kinds": ["phone"], "actor_type": "user",
        "actor_id": "01938f2d-1b2c-7d3e-8f40-5a6b7c8d9e0f",
    },),
))  # fmt: skip


def _source(actor: Actor, channel: str | None = None) -> dict[str, str | None]:
    source = {"kind": "customers", "actor_type": actor.type, "actor_id": actor.id}
    if channel is not None:
        source["channel"] = channel  # identity resolution: the inbound contact's channel
    return source


async def emit_changed(
    session: AsyncSession,
    customer: Customer,
    *,
    created: bool,
    changed: Iterable[str],
    actor: Actor,
    channel: str | None = None,
) -> Envelope:
    """``customer.created`` or ``customer.updated`` with the fields this change set."""
    payload = CustomerChanged(
        customer_id=str(customer.id),
        name=customer.name,
        phone=customer.phone,
        email=customer.email,
        tags=list(customer.tags),
        changed=sorted(set(changed)),
    )
    return await emit(
        session,
        "customer.created" if created else "customer.updated",
        payload,
        tenant_id=customer.tenant_id,
        source=_source(actor, channel),
    )


async def emit_merged(session: AsyncSession, customer: Customer, payload: CustomerMerged,
                      actor: Actor) -> Envelope:  # fmt: skip
    return await emit(session, "customer.merged", payload, tenant_id=customer.tenant_id,
                      source=_source(actor))  # fmt: skip


async def emit_split(session: AsyncSession, customer: Customer, payload: CustomerSplit,
                     actor: Actor) -> Envelope:  # fmt: skip
    return await emit(session, "customer.split", payload, tenant_id=customer.tenant_id,
                      source=_source(actor))  # fmt: skip
