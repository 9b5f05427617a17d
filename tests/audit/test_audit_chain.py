"""Tamper evidence: the chain notices changed and removed rows, and the table refuses both."""

from __future__ import annotations

import uuid

import httpx
import pytest
from conftest import Org, login
from sqlalchemy import Uuid, bindparam, text
from sqlalchemy.exc import DBAPIError

from relaydesk.kit.db import Database


async def _raw(db: Database, sql: str, tenant_id: uuid.UUID, **params: object) -> None:
    """Run SQL straight against the table, as someone with database access would."""
    stmt = text(sql).bindparams(bindparam("t", type_=Uuid()))
    async with db.job(system=True) as session:
        await session.execute(stmt, {"t": tenant_id, **params})


async def _drop_triggers(db: Database) -> None:
    async with db.job(system=True) as session:
        if db.dialect == "sqlite":
            await session.execute(text("DROP TRIGGER audit_log_no_update"))
            await session.execute(text("DROP TRIGGER audit_log_no_delete"))
        else:
            await session.execute(text("DROP TRIGGER audit_log_append_only ON audit_log"))


async def _verify(client: httpx.AsyncClient, org: Org) -> dict[str, object]:
    r = await client.get("/api/v1/audit/verify", headers=await login(client, org, "admin"))
    assert r.status_code == 200, r.text
    body: dict[str, object] = r.json()
    return body


async def test_intact_chain_verifies(client: httpx.AsyncClient, org_a: Org) -> None:
    body = await _verify(client, org_a)
    # tenant.created, five user.created, and the admin's own auth.login
    assert body == {"ok": True, "checked": 7, "problems": []}


@pytest.mark.parametrize(
    ("column", "value"),
    [("action", "'user.deleted'"), ("details", "'{\"roles\": [\"owner\"]}'")],
)
async def test_modified_row_is_detected(
    client: httpx.AsyncClient, db: Database, org_a: Org, column: str, value: str
) -> None:
    await _drop_triggers(db)
    cast = "CAST({} AS JSON)" if column == "details" and db.dialect != "sqlite" else "{}"
    sql = f"UPDATE audit_log SET {column} = {cast.format(value)} WHERE tenant_id = :t AND seq = 3"
    await _raw(db, sql, org_a.id)
    body = await _verify(client, org_a)
    assert body["ok"] is False
    assert body["problems"] == [{"seq": 3, "problem": "row content was modified"}]


async def test_deleted_middle_row_is_detected(
    client: httpx.AsyncClient, db: Database, org_a: Org
) -> None:
    await _drop_triggers(db)
    await _raw(db, "DELETE FROM audit_log WHERE tenant_id = :t AND seq = 2", org_a.id)
    body = await _verify(client, org_a)
    assert body["ok"] is False
    assert {"seq": 2, "problem": "rows 2..2 missing"} in body["problems"]  # type: ignore[operator]
    assert {"seq": 3, "problem": "link to the previous row is broken"} in body["problems"]  # type: ignore[operator]


async def test_deleted_last_row_is_detected(
    client: httpx.AsyncClient, db: Database, org_a: Org
) -> None:
    await _drop_triggers(db)
    # the last row so far is the last user.created (seq 6); verifying logs in first, so
    # remove the newest row right before verifying with a token obtained earlier
    headers = await login(client, org_a, "admin")  # appends auth.login as seq 7
    await _raw(db, "DELETE FROM audit_log WHERE tenant_id = :t AND seq = 7", org_a.id)
    r = await client.get("/api/v1/audit/verify", headers=headers)
    body = r.json()
    assert body["ok"] is False
    assert body["checked"] == 6
    assert body["problems"] == [
        {"seq": 7, "problem": "chain head is at 7 but the log ends at 6"}
    ]


async def test_other_tenants_chain_unaffected_by_tampering(
    client: httpx.AsyncClient, db: Database, org_a: Org, org_b: Org
) -> None:
    await _drop_triggers(db)
    await _raw(db, "DELETE FROM audit_log WHERE tenant_id = :t AND seq = 2", org_a.id)
    assert (await _verify(client, org_b))["ok"] is True
    assert (await _verify(client, org_a))["ok"] is False


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_log SET action = 'user.deleted' WHERE tenant_id = :t AND seq = 2",
        "DELETE FROM audit_log WHERE tenant_id = :t AND seq = 2",
        "DELETE FROM audit_log WHERE tenant_id = :t",
    ],
)
async def test_table_refuses_update_and_delete(db: Database, org_a: Org, sql: str) -> None:
    with pytest.raises(DBAPIError, match="append-only"):
        await _raw(db, sql, org_a.id)
    async with db.job(system=True) as session:
        count = await session.execute(
            text("SELECT count(*) FROM audit_log WHERE tenant_id = :t AND action = 'user.created'")
            .bindparams(bindparam("t", type_=Uuid())),
            {"t": org_a.id},
        )
        assert count.scalar_one() == 5
