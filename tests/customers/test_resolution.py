"""Identity resolution: verified identities join, unverified ones never join silently."""

from __future__ import annotations

import uuid

import httpx
import pytest
from conftest import Org, login
from customers_support import BASE, audit_rows, create, outbox
from sqlalchemy import select

from relaydesk.customers.models import Customer, CustomerIdentity, MergeSuggestion
from relaydesk.customers.resolution import IdentityClaim, Resolution, resolve
from relaydesk.errors import ValidationFailed
from relaydesk.kit.db import Database

WX = "wx1234567890abcdef"


async def _resolve(db: Database, org: Org, *claims: IdentityClaim, verified: bool,
                   source: str = "webchat", name: str | None = None) -> Resolution:  # fmt: skip
    async with db.job(org.id) as session:
        return await resolve(session, org.id, claims, verified=verified, source=source, name=name)


async def _suggestions(db: Database, org: Org) -> list[MergeSuggestion]:
    async with db.job(org.id) as session:
        return list((await session.scalars(select(MergeSuggestion).order_by(
            MergeSuggestion.id))).all())  # fmt: skip


async def _identity(db: Database, org: Org, kind: str, value: str) -> CustomerIdentity:
    async with db.job(org.id) as session:
        return (await session.scalars(select(CustomerIdentity).where(
            CustomerIdentity.kind == kind, CustomerIdentity.value == value))).one()  # fmt: skip


async def test_a_verified_contact_is_created_once_then_joins(db: Database, org_a: Org) -> None:
    openid = IdentityClaim("openid", "oWx-9fK2", namespace=WX)
    first = await _resolve(db, org_a, openid, verified=True, name="微信用户")
    assert first.created and first.customer.name == "微信用户"
    (attached,) = first.attached
    assert (attached.verified, attached.origin, attached.source) == (True, "contact", "webchat")

    again = await _resolve(db, org_a, openid, IdentityClaim("email", "Wei@Example.com"),
                           verified=True)  # fmt: skip
    assert not again.created and again.customer.id == first.customer.id
    assert again.joined_on is not None and again.joined_on.kind == "openid"
    assert [i.kind for i in again.attached] == ["email"]
    assert again.customer.email == "wei@example.com"  # the empty profile field is filled
    events = await outbox(db, org_a.id, "customer.created", "customer.updated")
    assert [(e.type, e.key) for e in events] == [
        ("customer.created", str(first.customer.id)),
        ("customer.updated", str(first.customer.id)),
    ]
    assert events[0].source == {"kind": "customers", "actor_type": "system", "actor_id": None,
                                "channel": "webchat"}  # fmt: skip


async def test_unverified_matches_never_join_and_become_suggestions(
    client: httpx.AsyncClient, db: Database, org_a: Org
) -> None:
    owner = await login(client, org_a, "owner")
    zhang = await create(client, owner)  # the agent-entered customer holding 138 1234 5678
    typed = IdentityClaim("phone", "138-1234-5678")  # typed into a pre-chat form
    results = [
        await _resolve(db, org_a, IdentityClaim("visitor", f"v{i}"), typed, verified=False)
        for i in range(2)
    ]
    for result in results:
        assert result.created and result.customer.id != uuid.UUID(zhang["id"])
        assert result.suggested == [uuid.UUID(zhang["id"])]
        assert [i.kind for i in result.attached] == ["visitor"]  # the phone stays with zhang
        assert result.customer.phone == "+8613812345678"  # shown as contact data
    rows = await _suggestions(db, org_a)
    assert [(r.customer_id, r.candidate_id, r.reasons[0]["why"]) for r in rows] == [
        (result.customer.id, uuid.UUID(zhang["id"]), "unverified_match") for result in results
    ]
    phone = await _identity(db, org_a, "phone", "+8613812345678")
    assert str(phone.customer_id) == zhang["id"] and phone.verified is False

    agent = await login(client, org_a, "agent")
    listed = await client.get(f"{BASE}/merge-suggestions", headers=agent)
    assert listed.status_code == 200
    item = listed.json()["items"][0]
    assert item["candidate"]["id"] == zhang["id"]
    assert item["reasons"] == [
        {
            "why": "unverified_match",
            "kind": "phone",
            "identity_id": str(phone.id),
            "value": "+86138****5678",
        }
    ]
    assert "13812345678" not in listed.text


async def test_a_verified_claim_joins_a_staff_entered_identity_and_verifies_it(
    client: httpx.AsyncClient, db: Database, org_a: Org
) -> None:
    zhang = await create(client, await login(client, org_a, "owner"))
    sms = await _resolve(db, org_a, IdentityClaim("phone", "+86 138 1234 5678"), verified=True,
                         source="sms")  # fmt: skip
    assert not sms.created and str(sms.customer.id) == zhang["id"]
    assert [i.kind for i in sms.verified] == ["phone"]
    assert (await _identity(db, org_a, "phone", "+8613812345678")).verified is True
    assert await _suggestions(db, org_a) == []


async def test_a_typed_in_phone_never_captures_its_real_owner(db: Database, org_a: Org) -> None:
    impostor = await _resolve(db, org_a, IdentityClaim("visitor", "v-imp", verified=True),
                              IdentityClaim("phone", "13912345678"), verified=False)  # fmt: skip
    assert impostor.created and impostor.customer.phone == "+8613912345678"
    claimed = await _identity(db, org_a, "phone", "+8613912345678")
    assert (claimed.origin, claimed.verified) == ("contact", False)

    owner = await _resolve(db, org_a, IdentityClaim("phone", "139 1234 5678"), verified=True,
                           source="sms")  # fmt: skip
    assert owner.created and owner.customer.id != impostor.customer.id
    assert [i.id for i in owner.taken_over] == [claimed.id]
    moved = await _identity(db, org_a, "phone", "+8613912345678")
    assert moved.customer_id == owner.customer.id and moved.verified is True
    async with db.job(org_a.id) as session:
        before = await session.get(Customer, impostor.customer.id)
        assert before is not None and before.phone is None
    (suggestion,) = await _suggestions(db, org_a)
    assert (suggestion.customer_id, suggestion.candidate_id) == (
        owner.customer.id,
        impostor.customer.id,
    )
    assert suggestion.reasons[0]["why"] == "identity_taken_over"
    (row,) = await audit_rows(db, org_a.id, "customer.identity_reassigned")
    assert row.details["from_customer_id"] == str(impostor.customer.id)
    # the impostor's visitor id, presented again, still leads to the impostor's profile only
    back = await _resolve(db, org_a, IdentityClaim("visitor", "v-imp"), verified=True)
    assert back.customer.id == impostor.customer.id and back.customer.phone is None


async def test_verified_claims_of_two_customers_join_the_first_and_suggest_the_other(
    db: Database, org_a: Org
) -> None:
    a = await _resolve(db, org_a, IdentityClaim("openid", "o-a", namespace=WX), verified=True)
    b = await _resolve(db, org_a, IdentityClaim("unionid", "u-b"), verified=True)
    both = await _resolve(db, org_a, IdentityClaim("openid", "o-a", namespace=WX),
                          IdentityClaim("unionid", "u-b"), verified=True)  # fmt: skip
    assert both.customer.id == a.customer.id and both.suggested == [b.customer.id]
    assert (await _suggestions(db, org_a))[0].reasons[0]["why"] == "verified_match"


async def test_bad_claims_and_unscoped_sessions_are_refused(db: Database, org_a: Org) -> None:
    with pytest.raises(ValidationFailed) as caught:
        await _resolve(db, org_a, IdentityClaim("visitor", "v1"), IdentityClaim("openid", "o1"),
                       verified=True)  # fmt: skip
    assert caught.value.details[0]["loc"] == ["identities", 1, "namespace"]
    with pytest.raises(ValidationFailed):
        await _resolve(db, org_a, verified=True)
    async with db.job(system=True) as session:
        with pytest.raises(RuntimeError):
            await resolve(session, org_a.id, [IdentityClaim("visitor", "v1")], verified=True)
    async with db.job(org_a.id) as session:
        assert (await session.scalars(select(Customer))).all() == []
