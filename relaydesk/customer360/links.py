"""Which customers an external event concerns: the links behind the timeline's events.

The ``customer360.timeline`` consumer (:mod:`relaydesk.customer360.consumers`) calls
:func:`link_event` for each ``order.*``, ``ticket.*`` and ``custom.*`` event. Matching rules
(docs/customer360.md), every match recorded with the rule that made it:

1. ``customer_id`` that is a Relaydesk customer's id → that customer (a merged one: the
   customer it was merged into);
2. ``customer_id`` of an event a connector instance delivered (``source.instance``) → the
   customers holding that value as an **external id** in the instance's namespace
   (``orders`` or ``orders:<id type>``, e.g. the order system's buyer id);
3. the buyer's phone (``customer_phone``, ``buyer_phone``, ``phone``, ``mobile``) and
   e-mail (``customer_email``, ``email``), normalised → the customer holding that identity;
4. ``customer_identities``: ``[{"kind", "namespace", "value"}]`` (``custom.*`` events).

Identities match only when **trusted** (verified, or entered by staff), as identity
resolution joins contacts: a phone a web visitor typed never pulls someone else's orders into
its timeline. ``receiver_phone`` is never used: the receiver of a parcel may be someone else.
Every lookup is an indexed equality (the identities' unique key); a link is one row.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.customer360.models import CustomerEvent
from relaydesk.customer360.repository import CustomerEventRepository
from relaydesk.customers.identities import IdentityError, IdentityKey, normalise_identity
from relaydesk.customers.merge import register_merge_hook
from relaydesk.events.envelope import Envelope

__all__ = [
    "EMAIL_FIELDS",
    "LINKED_TYPES",
    "MAX_LINKS",
    "PHONE_FIELDS",
    "link_event",
    "match_customers",
    "uuid7_at",
]

#: event families whose events are linked (external systems, and custom events)
LINKED_TYPES = ("order.*", "ticket.*", "custom.*")
PHONE_FIELDS = ("customer_phone", "buyer_phone", "phone", "mobile")
EMAIL_FIELDS = ("customer_email", "email")
#: an event is linked to this many customers at most
MAX_LINKS = 10
_MAX_CLAIMED = 10


def uuid7_at(when: dt.datetime) -> uuid.UUID:
    """A UUIDv7 whose time is ``when`` (random below the millisecond)."""
    ms = max(0, int(when.timestamp() * 1000)) & ((1 << 48) - 1)
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms << 80) | (0x7 << 76) | (((rand >> 62) & 0xFFF) << 64) | (0x2 << 62)
    return uuid.UUID(int=value | (rand & ((1 << 62) - 1)))


def _as_uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _key(kind: str, value: Any, namespace: str | None = None) -> IdentityKey | None:
    if not isinstance(value, str | int) or isinstance(value, bool) or str(value).strip() == "":
        return None
    try:
        return normalise_identity(kind, str(value), namespace)
    except IdentityError:
        return None


def _claimed_keys(payload: Mapping[str, Any]) -> list[tuple[IdentityKey, str]]:
    """(identity, rule) for the phone, e-mail and explicit identities of the payload."""
    keys: list[tuple[IdentityKey, str]] = []
    for kind, fields in (("phone", PHONE_FIELDS), ("email", EMAIL_FIELDS)):
        for name in fields:
            key = _key(kind, payload.get(name))
            if key is not None:
                keys.append((key, kind))
    claimed = payload.get("customer_identities")
    if isinstance(claimed, list):
        for item in claimed[:_MAX_CLAIMED]:
            if isinstance(item, Mapping):
                key = _key(str(item.get("kind", "")), item.get("value"), item.get("namespace"))
                if key is not None:
                    keys.append((key, f"identity:{key.kind}"))
    return keys


async def match_customers(session: AsyncSession, envelope: Envelope) -> dict[uuid.UUID, str]:
    """The customers ``envelope`` concerns: customer id → the rule that matched (first wins)."""
    repo = CustomerEventRepository(session)
    payload = envelope.payload
    found: dict[uuid.UUID, str] = {}
    raw_id = payload.get("customer_id")
    if raw_id is not None and not isinstance(raw_id, bool):
        own = _as_uuid(raw_id)
        live = await repo.live_customer(own) if own is not None else None
        if live is not None:
            found.setdefault(live, "customer_id")
        instance = envelope.source.get("instance")
        if own is None and isinstance(instance, str) and str(raw_id).strip():
            for customer_id, namespace in (
                await repo.external_holders(instance, str(raw_id).strip())
            ).items():
                found.setdefault(customer_id, f"external:{namespace}")
    keys = _claimed_keys(payload)
    rules = {key: rule for key, rule in reversed(keys)}
    for customer_id, key in (await repo.trusted_holders(k for k, _ in keys)).items():
        found.setdefault(customer_id, rules[key])
    return found


async def link_event(session: AsyncSession, envelope: Envelope) -> list[CustomerEvent]:
    """Link ``envelope`` to the customers it concerns (idempotent); returns the new links."""
    matched = await match_customers(session, envelope)
    if not matched:
        return []
    repo = CustomerEventRepository(session)
    known = await repo.linked(envelope.id)
    created = []
    for customer_id, rule in list(matched.items())[:MAX_LINKS]:
        if customer_id in known:
            continue
        created.append(repo.add(CustomerEvent(
            id=uuid7_at(envelope.occurred_at), tenant_id=envelope.tenant_id,
            customer_id=customer_id, event_id=envelope.id, type=envelope.type,
            occurred_at=envelope.occurred_at, matched_by=rule[:120],
        )))  # fmt: skip
    if created:
        await session.flush()
    return created


@register_merge_hook
async def _move_links(
    session: AsyncSession, survivor_id: uuid.UUID, merged_ids: Sequence[uuid.UUID]
) -> None:
    """A merge moves the merged customers' event links to the survivor."""
    await CustomerEventRepository(session).repoint(merged_ids, survivor_id)
