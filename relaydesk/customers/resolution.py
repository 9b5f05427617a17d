"""Identity resolution: which customer an inbound contact is.

Channels (web chat, e-mail, SMS, voice, the API channel) call :func:`resolve` with the
identities a contact presents, each *verified* (the channel proved the contact controls it:
a carrier-delivered caller number, a widget user id signed by the site, a platform openid,
a DMARC-aligned sender) or not (typed into a pre-chat form, an unsigned sender). The rules,
in order (docs/customers.md):

1. A verified claim joins the customer that holds the identity, if that customer's identity
   is verified too or was entered by staff (an agent, an API client, an import). The first
   such claim decides; other customers matched that way become merge suggestions.
2. Otherwise a new customer is created. Unverified matches never join: the customer they
   matched becomes a merge suggestion.
3. Claims nobody holds are attached to the resolved customer (verified or not, origin
   ``contact``).
4. A verified claim that meets an *unverified identity another contact claimed* takes it
   over: the identity moves to the resolved customer, verified, and the previous holder
   becomes a merge suggestion (so a typed-in phone can never capture its real owner).

Everything happens in the caller's transaction; ``customer.created`` / ``customer.updated``
are emitted with it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.audit import service as audit
from relaydesk.audit.service import SYSTEM, Actor
from relaydesk.customers.events import emit_changed
from relaydesk.customers.identities import (
    IdentityError,
    IdentityKey,
    identity_pii_kind,
    normalise_identity,
)
from relaydesk.customers.identity_service import PROFILE_KINDS, attach
from relaydesk.customers.models import Customer, CustomerIdentity
from relaydesk.customers.repository import CustomerRepository, IdentityRepository
from relaydesk.customers.suggestions import suggest
from relaydesk.errors import ValidationFailed
from relaydesk.events.envelope import Envelope
from relaydesk.kit.db import utcnow
from relaydesk.kit.masking import mask

__all__ = ["IdentityClaim", "Resolution", "resolve"]

MAX_CLAIMS = 20


@dataclass(frozen=True)
class IdentityClaim:
    """One identity an inbound contact presents (raw: :func:`resolve` normalises it)."""

    kind: str
    value: str
    namespace: str | None = None
    #: None: the ``verified`` given to :func:`resolve`
    verified: bool | None = None


@dataclass
class Resolution:
    customer: Customer
    #: a new customer was created for this contact
    created: bool
    #: the verified identity that joined an existing customer (None: created)
    joined_on: IdentityKey | None = None
    #: identities newly attached to the customer
    attached: list[CustomerIdentity] = field(default_factory=list)
    #: identities of the customer that this contact verified
    verified: list[CustomerIdentity] = field(default_factory=list)
    #: unverified identities of other contacts that moved here (rule 4)
    taken_over: list[CustomerIdentity] = field(default_factory=list)
    #: other customers recorded as possible duplicates of this one
    suggested: list[uuid.UUID] = field(default_factory=list)
    events: list[Envelope] = field(default_factory=list)


@dataclass
class _Claim:
    key: IdentityKey
    verified: bool
    row: CustomerIdentity | None = None


def _invalid(loc: list[str | int], message: str, kind: str) -> ValidationFailed:
    where = ".".join(str(p) for p in loc)
    return ValidationFailed(
        f"{where}: {message}", details=[{"loc": loc, "msg": message, "type": kind}]
    )


def _normalise(claims: Sequence[IdentityClaim], verified: bool) -> list[_Claim]:
    if not claims:
        raise _invalid(["identities"], "at least one identity is needed", "missing")
    if len(claims) > MAX_CLAIMS:
        raise _invalid(["identities"], f"at most {MAX_CLAIMS}", "too_long")
    out: dict[IdentityKey, _Claim] = {}
    for index, claim in enumerate(claims):
        try:
            key = normalise_identity(claim.kind, claim.value, claim.namespace)
        except IdentityError as exc:
            raise _invalid(["identities", index, exc.field], exc.message, "value_error") from None
        is_verified = verified if claim.verified is None else claim.verified
        known = out.get(key)
        if known is None:
            out[key] = _Claim(key, is_verified)
        else:
            known.verified = known.verified or is_verified
    return list(out.values())


def _joins(claim: _Claim) -> bool:
    row = claim.row
    return row is not None and claim.verified and (row.verified or row.origin == "staff")


async def resolve(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    identities: Sequence[IdentityClaim],
    *,
    verified: bool,
    source: str = "api",
    name: str | None = None,
    actor: Actor = SYSTEM,
) -> Resolution:
    """The customer this contact is (joined or created); see the module docstring.

    ``session`` must be scoped to ``tenant_id`` (a request session or ``db.job(tenant_id)``).
    ``source`` names the channel (stored on new identities). ``name`` is the new customer's
    name when one is created (default: the first identity, masked). Bad identities raise
    :class:`ValidationFailed` at ``identities.<index>.<field>``.
    """
    if session.info.get("tenant_id") != tenant_id:
        raise RuntimeError("resolve() needs a session scoped to the contact's tenant")
    claims = _normalise(identities, verified)
    repo = IdentityRepository(session)
    held = await repo.by_keys(c.key for c in claims)
    for claim in claims:
        claim.row = held.get(claim.key)

    customers = CustomerRepository(session)
    joined = next((c for c in claims if _joins(c)), None)
    if joined is not None and joined.row is not None:
        customer = await customers.get_or_404(joined.row.customer_id)
        result = Resolution(customer, created=False, joined_on=joined.key)
    else:
        first = claims[0].key
        label = name or mask(first.value, identity_pii_kind(first.kind)) or first.kind
        customer = await customers.create(Customer(tenant_id=tenant_id, name=label[:200]))
        result = Resolution(customer, created=True)

    for claim in claims:
        if claim.row is None:
            claim.row = await _attach_or_find(session, customer, claim, source)
            if claim.row.customer_id == customer.id:
                result.attached.append(claim.row)
                continue
        row = claim.row
        if row.customer_id == customer.id:
            if claim.verified and not row.verified:
                row.verified, row.verified_at = True, utcnow()
                result.verified.append(row)
            continue
        previous = row.customer_id
        if claim.verified and not row.verified and row.origin == "contact":
            await _take_over(session, customer, row, actor)
            result.taken_over.append(row)
            why = "identity_taken_over"
        else:
            why = "verified_match" if claim.verified else "unverified_match"
            field_name = PROFILE_KINDS.get(row.kind)
            if result.created and field_name and getattr(customer, field_name) is None:
                setattr(customer, field_name, row.value)  # contact data, not an identity
        await suggest(session, customer.id, previous, why=why, identity=row)
        if previous not in result.suggested:
            result.suggested.append(previous)

    await session.flush()
    if result.created or result.attached or result.verified or result.taken_over:
        if result.created:
            changed = ["name", "identities"]
            changed += [f for f in ("phone", "email") if getattr(customer, f)]
        else:
            changed = ["identities"]
            customer.updated_at = utcnow()
        envelope = await emit_changed(
            session, customer, created=result.created, changed=changed, actor=actor, channel=source
        )
        result.events.append(envelope)
    return result


async def _attach_or_find(
    session: AsyncSession, customer: Customer, claim: _Claim, source: str
) -> CustomerIdentity:
    """Attach a claim nobody held; if a concurrent contact attached it first, return theirs."""
    try:
        async with session.begin_nested():
            return await attach(session, customer, claim.key, verified=claim.verified,
                                source=source, origin="contact")  # fmt: skip
    except IntegrityError:
        found = (await IdentityRepository(session).by_keys([claim.key])).get(claim.key)
        if found is None:  # pragma: no cover - the violation was about something else
            raise
        return found


async def _take_over(
    session: AsyncSession, customer: Customer, row: CustomerIdentity, actor: Actor
) -> None:
    previous = await CustomerRepository(session).get_or_404(row.customer_id)
    row.customer_id = customer.id
    row.verified, row.verified_at = True, utcnow()
    changed = ["identities"]
    field_name = PROFILE_KINDS.get(row.kind)
    if field_name and getattr(previous, field_name) == row.value:
        rest = [
            i
            for i in await IdentityRepository(session).of_customer(previous.id)
            if i.kind == row.kind and i.id != row.id
        ]
        setattr(previous, field_name, rest[0].value if rest else None)
        changed.append(field_name)
    if field_name and getattr(customer, field_name) is None:
        setattr(customer, field_name, row.value)
    previous.updated_at = utcnow()
    await session.flush()
    await audit.record(
        session, tenant_id=customer.tenant_id, action="customer.identity_reassigned",
        actor=actor, target_type="customer", target_id=customer.id,
        details={"identity_id": str(row.id), "kind": row.kind, "from_customer_id":
                 str(previous.id), "reason": "verified by an inbound contact"},
    )  # fmt: skip
    await emit_changed(session, previous, created=False, changed=changed, actor=actor)
