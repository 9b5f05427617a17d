"""The audit writer: rows committed before ``append`` returns, batched under concurrency, one
chain per tenant that still verifies, failures confined to their own caller.

These tests commit for real (a Database without the rolled-back outer transaction), each in
a tenant of its own.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from conftest import make_org
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from relaydesk.audit import service as audit
from relaydesk.audit.models import AuditEntry
from relaydesk.audit.service import Actor
from relaydesk.audit.writer import AuditWriter, writer_for
from relaydesk.events.models import OutboxEvent
from relaydesk.events.outbox import emit
from relaydesk.integrations.models import ConnectorCall
from relaydesk.kit.db import Database


@pytest.fixture
async def live(committing_engine: AsyncEngine) -> Database:
    """Sessions that commit (no shared outer transaction), in their own database."""
    return Database(committing_engine)


async def _count(db: Database, tenant_id: uuid.UUID, model: type, action: str = "") -> int:
    stmt = select(func.count()).select_from(model)
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    async with db.job(tenant_id) as session:
        return int((await session.execute(stmt)).scalar() or 0)


async def test_concurrent_appends_share_transactions_and_keep_the_chain(live: Database) -> None:
    org = await make_org(live, f"aw-{uuid.uuid4().hex[:8]}", roles=())
    writer = AuditWriter(live)
    actor = Actor("user", "u1", "坐席 13812345678")

    async def one(i: int) -> None:
        await writer.append(tenant_id=org.id, action="test.called", actor=actor,
                            details={"i": i, "phone": "13912345678"})  # fmt: skip

    await asyncio.gather(*(one(i) for i in range(40)))
    assert await _count(live, org.id, AuditEntry, "test.called") == 40  # committed on return
    assert writer.batches < 40  # group commit: fewer transactions than rows
    async with live.job(org.id) as session:
        result = await audit.verify(session, org.id)
        first = (
            (await session.execute(select(AuditEntry).where(AuditEntry.action == "test.called")))
            .scalars()
            .first()
        )
    assert result.ok and result.checked == 41, result.problems  # + tenant.created
    assert first.actor_label == "坐席 138****5678"  # masked like audit.record does
    assert first.details["phone"] == "139****5678"

    # and the in-session path continues the same chain
    async with live.job(org.id) as session:
        await audit.record(session, tenant_id=org.id, action="test.after")
    async with live.job(org.id) as session:
        assert (await audit.verify(session, org.id)).ok


async def test_the_chain_holds_when_others_append_between_the_writers_batches(
    live: Database,
) -> None:
    org = await make_org(live, f"aw-{uuid.uuid4().hex[:8]}", roles=())
    writer, other = AuditWriter(live), AuditWriter(live)  # e.g. two processes
    await writer.append(tenant_id=org.id, action="test.w1")
    async with live.job(org.id) as session:  # a unit of work appending itself
        await audit.record(session, tenant_id=org.id, action="test.session")
    await writer.append(tenant_id=org.id, action="test.w2")  # its remembered head is stale
    await other.append(tenant_id=org.id, action="test.other")
    await writer.append(tenant_id=org.id, action="test.w3")
    async with live.job(org.id) as session:
        result = await audit.verify(session, org.id)
        rows = (await session.execute(select(AuditEntry.seq, AuditEntry.action)
                                      .order_by(AuditEntry.seq))).all()  # fmt: skip
    assert result.ok, result.problems
    assert [a for _, a in rows if a.startswith("test.")] == [
        "test.w1", "test.session", "test.w2", "test.other", "test.w3"
    ]
    assert [seq for seq, _ in rows] == list(range(1, len(rows) + 1))  # no gap, no fork


async def test_rows_and_events_commit_with_their_audit_row(live: Database) -> None:
    org = await make_org(live, f"aw-{uuid.uuid4().hex[:8]}", roles=())
    instance_id = await _instance(live, org.id)
    writer = AuditWriter(live)

    async def event(session: AsyncSession) -> None:
        await emit(session, "custom.audit_writer_test", {"n": 1}, tenant_id=org.id)

    call = ConnectorCall(tenant_id=org.id, instance_id=instance_id, action="a", actor_type="user",
                         outcome="error", params={})  # fmt: skip
    await writer.append(tenant_id=org.id, action="connector.action_called", rows=[call],
                        also=event)  # fmt: skip
    assert await _count(live, org.id, ConnectorCall) == 1
    async with live.job(org.id) as session:
        types = (await session.execute(select(OutboxEvent.type))).scalars().all()
    assert "custom.audit_writer_test" in types


async def test_plain_rows_are_inserted_with_their_column_defaults(live: Database) -> None:
    org = await make_org(live, f"aw-{uuid.uuid4().hex[:8]}", roles=())
    instance_id = await _instance(live, org.id)
    writer = AuditWriter(live)
    values = {"id": uuid.uuid4(), "tenant_id": org.id, "instance_id": instance_id,
              "action": "a", "actor_type": "user", "outcome": "success", "params": {"q": 1}}
    await writer.append(tenant_id=org.id, action="connector.action_called",
                        rows=[(ConnectorCall.__table__, values)])  # fmt: skip
    async with live.job(org.id) as session:
        call = await session.get(ConnectorCall, values["id"])
    assert call is not None and call.params == {"q": 1}
    assert call.created_at is not None  # the Python-side default applied


async def test_a_failing_item_fails_only_its_caller(live: Database) -> None:
    org = await make_org(live, f"aw-{uuid.uuid4().hex[:8]}", roles=())
    writer = AuditWriter(live)
    bad = ConnectorCall(tenant_id=org.id, instance_id=uuid.uuid4(),  # no such instance: FK
                        action="a", actor_type="user", outcome="error", params={})  # fmt: skip
    results = await asyncio.gather(
        writer.append(tenant_id=org.id, action="test.ok1"),
        writer.append(tenant_id=org.id, action="test.bad", rows=[bad]),
        writer.append(tenant_id=org.id, action="test.ok2"),
        return_exceptions=True,
    )
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], Exception)
    async with live.job(org.id) as session:
        actions = (await session.execute(select(AuditEntry.action))).scalars().all()
        assert sorted(a for a in actions if a.startswith("test.")) == ["test.ok1", "test.ok2"]
        assert (await audit.verify(session, org.id)).ok


async def test_a_cancelled_caller_does_not_cancel_its_write(live: Database) -> None:
    org = await make_org(live, f"aw-{uuid.uuid4().hex[:8]}", roles=())
    writer = AuditWriter(live)
    task = asyncio.create_task(writer.append(tenant_id=org.id, action="test.cancelled"))
    await asyncio.sleep(0)  # queued, the write has started
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert writer._task is not None
    await writer._task
    assert await _count(live, org.id, AuditEntry, "test.cancelled") == 1


async def test_sessions_with_a_transaction_or_a_shared_connection_write_themselves(
    live: Database, db: Database
) -> None:
    async with live.reader(uuid.uuid4()) as reader:
        assert writer_for(reader) is writer_for(reader) is not None  # one per Database
    async with live.job(system=True) as session:
        assert writer_for(session) is None  # a job's session has begun its transaction
    async with db.job(system=True) as session:
        assert writer_for(session) is None  # tests: every session shares one connection


async def _instance(db: Database, tenant_id: uuid.UUID) -> uuid.UUID:
    from relaydesk.integrations.models import ConnectorInstance

    async with db.job(tenant_id) as session:
        row = ConnectorInstance(tenant_id=tenant_id, name="x", connector="x", spec={},
                                config_encrypted=b"")  # fmt: skip
        session.add(row)
        await session.flush()
        return row.id
