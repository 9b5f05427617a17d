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
import functools
import os
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Uuid, bindparam, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.customer360.models import CustomerEvent
from relaydesk.customer360.repository import CustomerEventRepository
from relaydesk.customers.identities import IdentityError, IdentityKey, normalise_identity
from relaydesk.customers.merge import register_merge_hook
from relaydesk.customers.models import CustomerIdentity
from relaydesk.events.envelope import Envelope
from relaydesk.kit.db import utcnow

__all__ = [
    "EMAIL_FIELDS",
    "LINKED_TYPES",
    "MAX_LINKS",
    "PHONE_FIELDS",
    "link_event",
    "link_events",
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
    return _normalised(kind, str(value), namespace)


@functools.lru_cache(maxsize=4096)
def _normalised(kind: str, value: str, namespace: str | None) -> IdentityKey | None:
    """``normalise_identity`` or None (a pure function; parsing a phone number is costly, and
    one buyer's orders send the same phone again and again)."""
    try:
        return normalise_identity(kind, value, namespace)
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


# The batch's statements, built once. They run on the session's connection (no ORM
# execute path, no guard), so they filter on the tenant themselves. (``tenant_id`` is typed
# here: a foreign key column has no type until the table it points to is loaded.)
_HOLDERS = select(
    CustomerIdentity.customer_id, CustomerIdentity.kind, CustomerIdentity.namespace,
    CustomerIdentity.value,
).where(
    CustomerIdentity.tenant_id == bindparam("tenant_id", type_=Uuid()),
    CustomerIdentity.kind.in_(bindparam("kinds", expanding=True)),
    CustomerIdentity.namespace.in_(bindparam("namespaces", expanding=True)),
    CustomerIdentity.value.in_(bindparam("values", expanding=True)),
    or_(CustomerIdentity.verified.is_(True), CustomerIdentity.origin == "staff"),
)  # fmt: skip
_LINKED = select(CustomerEvent.event_id, CustomerEvent.customer_id).where(
    CustomerEvent.tenant_id == bindparam("tenant_id", type_=Uuid()),
    CustomerEvent.event_id.in_(bindparam("events", expanding=True)),
)


async def _holders(
    session: AsyncSession, tenant_id: uuid.UUID, keys: set[IdentityKey]
) -> dict[IdentityKey, list[uuid.UUID]]:
    """Trusted holders of each of ``keys`` (one query for a whole batch)."""
    if not keys:
        return {}
    connection = await session.connection()
    rows = await connection.execute(_HOLDERS, {
        "tenant_id": tenant_id, "kinds": sorted({k.kind for k in keys}),
        "namespaces": sorted({k.namespace for k in keys}),
        "values": sorted({k.value for k in keys}),
    })  # fmt: skip
    out: dict[IdentityKey, list[uuid.UUID]] = {}
    for customer_id, kind, namespace, value in rows:
        key = IdentityKey(kind, namespace, value)
        if key in keys:  # the query matches each column on its own: keep exact keys only
            out.setdefault(key, []).append(customer_id)
    return out


async def _own_and_external(
    repo: CustomerEventRepository, envelope: Envelope, found: dict[uuid.UUID, str]
) -> None:
    """Rules 1 and 2: the payload's ``customer_id``."""
    raw_id = envelope.payload.get("customer_id")
    if raw_id is None or isinstance(raw_id, bool):
        return
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


async def match_customers(session: AsyncSession, envelope: Envelope) -> dict[uuid.UUID, str]:
    """The customers ``envelope`` concerns: customer id → the rule that matched (first wins)."""
    return (await _match_all(session, [envelope]))[0]


async def _match_all(
    session: AsyncSession, envelopes: Sequence[Envelope]
) -> list[dict[uuid.UUID, str]]:
    """:func:`match_customers` of each envelope (one tenant), the identities looked up
    once for all of them."""
    if not envelopes:
        return []
    repo = CustomerEventRepository(session)
    claimed = [_claimed_keys(envelope.payload) for envelope in envelopes]
    holders = await _holders(session, envelopes[0].tenant_id,
                             {key for keys in claimed for key, _ in keys})  # fmt: skip
    matches = []
    for envelope, keys in zip(envelopes, claimed, strict=True):
        found: dict[uuid.UUID, str] = {}
        await _own_and_external(repo, envelope, found)
        for key, rule in keys:
            for customer_id in holders.get(key, ()):
                found.setdefault(customer_id, rule)
        matches.append(found)
    return matches


async def link_event(session: AsyncSession, envelope: Envelope) -> list[CustomerEvent]:
    """Link ``envelope`` to the customers it concerns (idempotent); returns the new links."""
    return await link_events(session, [envelope])


async def link_events(session: AsyncSession, envelopes: Sequence[Envelope]) -> list[CustomerEvent]:
    """:func:`link_event` on each of ``envelopes`` (one tenant) in turn, with a few
    statements for all of them: the identities, the links they have, one insert."""
    matched = [(e, m) for e, m in zip(envelopes, await _match_all(session, envelopes),
                                      strict=True) if m]  # fmt: skip
    if not matched:
        return []
    tenant_id = envelopes[0].tenant_id
    connection = await session.connection()
    known: dict[uuid.UUID, set[uuid.UUID]] = {}
    rows = await connection.execute(_LINKED, {
        "tenant_id": tenant_id, "events": sorted({e.id for e, _ in matched})})  # fmt: skip
    for event_id, customer_id in rows:
        known.setdefault(event_id, set()).add(customer_id)
    created = []
    for envelope, customers in matched:
        linked = known.setdefault(envelope.id, set())
        for customer_id, rule in list(customers.items())[:MAX_LINKS]:
            if customer_id in linked:
                continue
            linked.add(customer_id)
            created.append(CustomerEvent(
                id=uuid7_at(envelope.occurred_at), tenant_id=envelope.tenant_id,
                customer_id=customer_id, event_id=envelope.id, type=envelope.type,
                occurred_at=envelope.occurred_at, matched_by=rule[:120], created_at=utcnow(),
            ))  # fmt: skip
    if created:
        columns = [c.key for c in CustomerEvent.__table__.columns]
        rows_out = [{c: getattr(row, c) for c in columns} for row in created]
        await connection.execute(insert(CustomerEvent), rows_out)
    return created


@register_merge_hook
async def _move_links(
    session: AsyncSession, survivor_id: uuid.UUID, merged_ids: Sequence[uuid.UUID]
) -> None:
    """A merge moves the merged customers' event links to the survivor."""
    await CustomerEventRepository(session).repoint(merged_ids, survivor_id)
