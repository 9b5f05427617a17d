"""The transactional outbox: an event commits or rolls back with the change it describes."""

from __future__ import annotations

import uuid

import pytest
from conftest import Org
from sqlalchemy import func, select

from relaydesk.errors import ValidationFailed
from relaydesk.events import catalogue, emit, event_spec
from relaydesk.events.catalogue import EventSpec, register_event
from relaydesk.events.models import OutboxEvent
from relaydesk.events.outbox import CHANNEL
from relaydesk.events.payloads import OrderEvent
from relaydesk.kit import commit_hooks
from relaydesk.kit.db import Database

SHIPPED = {"order_no": "SO20261121001", "status": "shipped", "carrier": "顺丰速运",
           "tracking_no": "SF1234567890", "receiver_phone": "13912345678"}  # fmt: skip


async def _count(db: Database, tenant: uuid.UUID) -> int:
    async with db.job(tenant) as session:
        return int(await session.scalar(select(func.count()).select_from(OutboxEvent)) or 0)


async def test_event_commits_with_the_transaction_and_vanishes_on_rollback(
    db: Database, org_a: Org
) -> None:
    async with db.job(org_a.id) as session:
        envelope = await emit(session, "order.shipped", SHIPPED, tenant_id=org_a.id)
    with pytest.raises(RuntimeError):
        async with db.job(org_a.id) as session:
            await emit(session, "order.shipped", SHIPPED, tenant_id=org_a.id)
            raise RuntimeError("the change failed")
    async with db.job(org_a.id) as session:
        rows = list(await session.scalars(select(OutboxEvent)))
    assert [row.id for row in rows] == [envelope.id]
    row = rows[0]
    assert row.type == "order.shipped" and row.published_at is None
    assert row.key == "SO20261121001"  # the catalogue's ordering key
    assert row.payload["carrier"] == "顺丰速运" and row.version == 1


async def test_invalid_payload_is_refused_with_the_field_path(db: Database, org_a: Org) -> None:
    async with db.job(org_a.id) as session:
        with pytest.raises(ValidationFailed) as caught:
            await emit(session, "order.shipped", {"status": "shipped"}, tenant_id=org_a.id)
        assert caught.value.details[0]["loc"] == ["payload", "order_no"]
        assert "order_no" in caught.value.message
        with pytest.raises(ValidationFailed) as unknown:
            await emit(session, "order.teleported", SHIPPED, tenant_id=org_a.id)
        assert "order.teleported" in unknown.value.message
        assert unknown.value.details[0]["loc"] == ["type"]
    assert await _count(db, org_a.id) == 0


async def test_custom_events_take_any_object_and_causes_chain(db: Database, org_a: Org) -> None:
    async with db.job(org_a.id) as session:
        first = await emit(session, "custom.vip_called", {"tier": "金卡", "n": 2},
                           tenant_id=org_a.id, correlation_id="req-1")  # fmt: skip
        second = await emit(session, "custom.followed_up", {}, tenant_id=org_a.id,
                            cause=first)  # fmt: skip
        third = await emit(session, "custom.escalated", {}, tenant_id=org_a.id,
                           cause=second, key="case-9")  # fmt: skip
    assert first.depth == 0 and second.depth == 1 and third.depth == 2
    assert second.causation_id == str(first.id) and third.causation_id == str(second.id)
    assert first.correlation_id == second.correlation_id == third.correlation_id == "req-1"
    assert first.key == str(first.id) and third.key == "case-9"
    assert first.payload == {"tier": "金卡", "n": 2}
    assert first.id < second.id < third.id  # id order is emission order


async def test_listeners_are_poked_after_commit_only(db: Database, org_a: Org) -> None:
    pokes: list[str] = []

    def poke() -> None:
        pokes.append("poke")

    commit_hooks.add_listener(CHANNEL, poke)
    try:
        with pytest.raises(RuntimeError):
            async with db.job(org_a.id) as session:
                await emit(session, "custom.a", {}, tenant_id=org_a.id)
                raise RuntimeError
        assert pokes == []
        async with db.job(org_a.id) as session:
            await emit(session, "custom.a", {}, tenant_id=org_a.id)
            await emit(session, "custom.b", {}, tenant_id=org_a.id)
            assert pokes == []
        assert pokes == ["poke"]
        async with db.job(org_a.id):
            pass  # a commit without events pokes nobody
        assert pokes == ["poke"]
    finally:
        commit_hooks.remove_listener(CHANNEL, poke)


async def test_outbox_rows_are_tenant_scoped(db: Database, org_a: Org, org_b: Org) -> None:
    async with db.job(org_a.id) as session:
        await emit(session, "order.paid", {"order_no": "A-1"}, tenant_id=org_a.id)
    assert await _count(db, org_a.id) == 1
    assert await _count(db, org_b.id) == 0


def test_catalogue_names_and_clashes() -> None:
    names = set(catalogue())
    assert {"order.shipped", "ticket.status_changed", "connector.action_failed"} <= names
    assert all(name.count(".") >= 1 and name == name.lower() for name in names)
    spec = event_spec("order.shipped")
    assert spec.key == "order_no" and "receiver_phone" in spec.pii
    register_event(spec)  # the same spec again is fine
    with pytest.raises(ValueError, match="already registered"):
        register_event(EventSpec("order.shipped", OrderEvent, "something else"))
    with pytest.raises(ValueError, match="invalid"):
        register_event(EventSpec("OrderShipped", OrderEvent, "not dotted"))
    with pytest.raises(ValueError, match="invalid"):
        register_event(EventSpec("custom.mine", OrderEvent, "custom is open, not catalogued"))
