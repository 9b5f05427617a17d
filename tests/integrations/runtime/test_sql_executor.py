"""The sql executor on SQLite, the local MariaDB and the local PostgreSQL.

MariaDB and PostgreSQL use their own database ``relaydesk_test_sql`` (created here; the
main suite's ``relaydesk_test`` is never touched). A server that is not installed skips its
tests; one that is installed but not running fails them (``make services`` starts it).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from relaydesk.integrations.auth import NoAuth
from relaydesk.integrations.resilience import ErrorClass, ErrorKind
from relaydesk.integrations.runtime import CallContext, ExecutorError, RawResult, executor_for
from relaydesk.integrations.runtime.sql import SqlExecutor
from relaydesk.integrations.spec import ConnectorSpec, load_spec, validate_params
from relaydesk.kit.safehttp import BlockedDestination

DB = "relaydesk_test_sql"
MARIADB_URL = os.environ.get("RDTEST_SQL_MARIADB_URL", f"mysql+aiomysql://root@127.0.0.1:3306/{DB}")
PG_URL = os.environ.get("RDTEST_SQL_PG_URL", f"postgresql+asyncpg://postgres@127.0.0.1:5432/{DB}")
INJECTION = "'; DROP TABLE rt_members; --"

SPEC = """
apiVersion: relaydesk.io/v1
kind: sql
name: points
config: {url: {type: string, required: true}}
sql: {url: "{{ config.url }}"}
actions:
  members_by_tier:
    effect: read
    params: {tier: {type: string, required: true}}
    sql: {statement: "SELECT id, mobile, name, points, joined_at FROM rt_members
                      WHERE tier = :tier ORDER BY id"}
    many: true
    mapping: {timezone: Asia/Shanghai, fields: {mobile: {expr: mobile}}}
  members_utc:
    effect: read
    params: {tier: {type: string, required: true}}
    sql: {statement: "SELECT id, joined_at FROM rt_members WHERE tier = :tier ORDER BY id"}
  member:
    effect: read
    params: {mobile: {type: string, required: true}}
    sql: {statement: "SELECT name, tier FROM rt_members WHERE mobile = :mobile", result: one}
  members_in_tiers:
    effect: read
    params: {tiers: {type: array, required: true}}
    sql: {statement: "SELECT mobile FROM rt_members WHERE tier IN :tiers ORDER BY id"}
  add_points:
    effect: write
    params: {mobile: {type: string, required: true}, delta: {type: integer, required: true}}
    sql: {statement: "UPDATE rt_members SET points = points + :delta WHERE mobile = :mobile",
          result: rowcount}
  add_points_as_rows:
    effect: write
    params: {mobile: {type: string, required: true}, delta: {type: integer, required: true}}
    sql: {statement: "UPDATE rt_members SET points = points + :delta WHERE mobile = :mobile"}
  join:
    effect: write
    params:
      id: {type: integer, required: true}
      mobile: {type: string, required: true}
      name: {type: string, required: true}
    sql: {statement: "INSERT INTO rt_members (id, mobile, name, tier, points)
                      VALUES (:id, :mobile, :name, 'basic', 0)", result: rowcount}
  count: {effect: read, sql: {statement: "SELECT COUNT(*) AS n FROM rt_members", result: one}}
  missing_table: {effect: read, sql: {statement: "SELECT * FROM rt_nope"}}
  by_id_text:
    effect: read
    params: {code: {type: string, required: true}}
    sql: {statement: "SELECT name FROM rt_members WHERE id = :code"}
  sleep_postgres:
    effect: read
    params: {s: {type: number, required: true}}
    sql: {statement: "SELECT pg_sleep(:s) AS slept", result: one}
  sleep_mariadb:
    effect: read
    params: {s: {type: number, required: true}}
    sql: {statement: "SELECT SLEEP(:s) AS slept", result: one}
"""
MEMBERS = [
    (1, "13800000001", "王小明", "gold", "1234.50", dt.datetime(2024, 5, 1, 10, 0, 0)),
    (2, "13800000002", "李娜", "gold", "0.00", dt.datetime(2023, 12, 31, 23, 59, 59)),
    (3, "13800000003", "欧阳修", "silver", "88.80", None),
]


def _installed(backend: str) -> bool:
    if backend == "mariadb":
        return bool(shutil.which("mariadbd") or Path("/usr/sbin/mariadbd").exists())
    return bool(shutil.which("pg_ctlcluster") or shutil.which("postgres"))


async def _create_database(backend: str, url: str) -> None:
    base = url.rsplit("/", 1)[0]
    admin = create_async_engine(f"{base}/postgres" if backend == "postgres" else f"{base}/",
                                isolation_level="AUTOCOMMIT")  # fmt: skip
    async with admin.connect() as conn:
        if backend == "postgres":
            found = await conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                                      {"n": DB})  # fmt: skip
            if not found:
                await conn.execute(text(f'CREATE DATABASE "{DB}"'))
        else:
            await conn.execute(text(f"CREATE DATABASE IF NOT EXISTS {DB} CHARACTER SET utf8mb4"))
    await admin.dispose()


@pytest.fixture(
    scope="module",
    params=["sqlite", "mariadb", pytest.param("postgres", marks=pytest.mark.postgres)],
)
async def backend_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[str, str]]:
    backend = str(request.param)
    if backend == "sqlite":
        path = tmp_path_factory.mktemp("sql-executor") / "points.db"
        yield backend, f"sqlite+aiosqlite:///{path}"
        return
    if not _installed(backend):
        pytest.skip(f"{backend} is not installed on this machine")
    url = MARIADB_URL if backend == "mariadb" else PG_URL
    await _create_database(backend, url)
    yield backend, url


@pytest.fixture
async def db(backend_url: tuple[str, str]) -> AsyncIterator[tuple[str, str]]:
    """The rt_members table, freshly created and seeded for each test."""
    backend, url = backend_url
    stamp = "TIMESTAMP" if backend == "postgres" else "DATETIME"
    charset = " DEFAULT CHARSET=utf8mb4" if backend == "mariadb" else ""
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("DROP TABLE IF EXISTS rt_members"))
        await conn.execute(text(
            "CREATE TABLE rt_members (id INTEGER PRIMARY KEY, mobile VARCHAR(20) NOT NULL UNIQUE,"
            " name VARCHAR(100) NOT NULL, tier VARCHAR(20) NOT NULL,"
            f" points DECIMAL(12, 2) NOT NULL, joined_at {stamp} NULL){charset}"
        ))  # fmt: skip
        for row in MEMBERS:
            await conn.execute(
                text("INSERT INTO rt_members VALUES (:i, :m, :n, :t, :p, :j)"),
                dict(zip("imntpj", row, strict=True)),
            )
    await engine.dispose()
    yield backend, url


def spec() -> ConnectorSpec:
    return load_spec(SPEC)


def context(spec: ConnectorSpec, config: Mapping[str, Any], timeout: float) -> CallContext:
    http = httpx.AsyncClient()  # unused by the sql kind; never opened
    return CallContext(uuid.uuid4(), uuid.uuid4(), spec, config, http, NoAuth(), timeout)


async def run(
    url: str, action: str, params: Mapping[str, Any] | None = None, *, limit: float = 10
) -> RawResult:
    the_spec, config = spec(), {"url": url}
    executor = executor_for(the_spec, config)
    try:
        values = validate_params(the_spec, action, dict(params or {}))
        return await executor.execute(action, values, context(the_spec, config, limit))
    finally:
        await executor.aclose()


async def test_rows_are_json_safe_dicts(db: tuple[str, str]) -> None:
    backend, url = db
    result = await run(url, "members_by_tier", {"tier": "gold"})
    assert result.status is None and result.body_json == result.data
    assert result.request_line == "SQL SELECT (members_by_tier)"
    first, second = result.data
    assert (first["mobile"], first["name"]) == ("13800000001", "王小明")
    if backend == "sqlite":  # no DECIMAL/DATETIME types: what SQLite stored comes back
        assert (first["points"], first["joined_at"]) == (1234.5, "2024-05-01 10:00:00")
    else:  # exact decimals as text; naive datetimes in the mapping's zone, with offset
        assert first["points"] == "1234.50" and second["points"] == "0.00"
        assert first["joined_at"] == "2024-05-01T10:00:00+08:00"
        utc = await run(url, "members_utc", {"tier": "gold"})  # no mapping: UTC
        assert utc.data[1]["joined_at"] == "2023-12-31T23:59:59+00:00"


async def test_one_row_or_none(db: tuple[str, str]) -> None:
    _, url = db
    found = await run(url, "member", {"mobile": "13800000003"})
    assert found.data == {"name": "欧阳修", "tier": "silver"}
    assert (await run(url, "member", {"mobile": "13900000000"})).data is None


async def test_array_param_expands_for_in(db: tuple[str, str]) -> None:
    _, url = db
    result = await run(url, "members_in_tiers", {"tiers": ["silver", "gold"]})
    assert [row["mobile"] for row in result.data] == ["13800000001", "13800000002", "13800000003"]


async def test_injection_attempts_are_plain_values(db: tuple[str, str]) -> None:
    _, url = db
    assert (await run(url, "member", {"mobile": "1 OR 1=1"})).data is None
    assert (await run(url, "member", {"mobile": "' OR '1'='1"})).data is None
    joined = await run(url, "join", {"id": 9, "mobile": "13800000009", "name": INJECTION})
    assert joined.data == {"rowcount": 1}
    assert (await run(url, "member", {"mobile": "13800000009"})).data["name"] == INJECTION
    assert (await run(url, "count")).data == {"n": 4}  # the table is still there


async def test_write_is_committed(db: tuple[str, str]) -> None:
    _, url = db
    result = await run(url, "add_points", {"mobile": "13800000003", "delta": 12})
    assert result.data == {"rowcount": 1}
    assert result.request_line == "SQL UPDATE (add_points)"
    rows = await run(url, "members_by_tier", {"tier": "silver"})
    assert float(rows.data[0]["points"]) == pytest.approx(100.80)


async def test_failed_write_is_rolled_back(db: tuple[str, str]) -> None:
    _, url = db
    with pytest.raises(ExecutorError) as caught:
        await run(url, "add_points_as_rows", {"mobile": "13800000003", "delta": 1000})
    assert caught.value.code == "no_rows_returned" and caught.value.kind is ErrorKind.config
    rows = await run(url, "members_by_tier", {"tier": "silver"})
    assert float(rows.data[0]["points"]) == pytest.approx(88.80)  # the UPDATE did not stay


async def test_unique_violation_is_a_clear_config_failure_without_values(
    db: tuple[str, str],
) -> None:
    _, url = db
    with pytest.raises(ExecutorError) as caught:
        await run(url, "join", {"id": 10, "mobile": "13800000001", "name": "冒名"})
    error = caught.value
    assert (error.kind, error.code, error.error_class) == (
        ErrorKind.config,
        "unique_violation",
        ErrorClass.fail,
    )
    assert "unique constraint violated" in error.message
    assert "13800000001" not in error.message and "冒名" not in error.message
    assert "INSERT" not in error.message


async def test_sql_error_names_the_table_but_no_values(db: tuple[str, str]) -> None:
    _, url = db
    with pytest.raises(ExecutorError) as caught:
        await run(url, "missing_table")
    assert caught.value.kind is ErrorKind.config and not caught.value.retryable
    assert caught.value.code is not None and caught.value.code.startswith("sql_error")
    assert "rt_nope" in caught.value.message
    try:  # PostgreSQL refuses text for an integer column and echoes the value: not here
        await run(url, "by_id_text", {"code": "abc-13800000001"})
    except ExecutorError as error:
        assert "13800000001" not in error.message


async def test_unreachable_server_is_transient() -> None:
    for url in ("postgresql+asyncpg://postgres@127.0.0.1:1/x",
                "mysql+aiomysql://root@127.0.0.1:1/x"):  # fmt: skip
        with pytest.raises(ExecutorError) as caught:
            await run(url, "count")
        assert caught.value.kind is ErrorKind.transient and caught.value.retryable
        assert caught.value.verdict().cls is ErrorClass.retry


async def test_missing_sqlite_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ExecutorError) as caught:
        await run(f"sqlite+aiosqlite:///{tmp_path / 'nope.db'}", "count")
    assert caught.value.code == "database_not_found"
    assert not (tmp_path / "nope.db").exists()  # not created by the attempt


async def test_timeout_is_transient_and_the_engine_recovers(db: tuple[str, str]) -> None:
    backend, url = db
    if backend == "sqlite":
        pytest.skip("SQLite has no sleep function")
    the_spec, config = spec(), {"url": url}
    executor = executor_for(the_spec, config)
    action = f"sleep_{backend}"
    try:
        with pytest.raises(ExecutorError) as caught:
            await executor.execute(action, {"s": 3}, context(the_spec, config, 0.5))
        assert (caught.value.kind, caught.value.code) == (ErrorKind.transient, "timeout")
        after = await executor.execute("count", {}, context(the_spec, config, 5))
        assert after.data == {"n": 3}
    finally:
        await executor.aclose()


async def test_unsupported_driver_is_refused() -> None:
    with pytest.raises(ExecutorError) as caught:
        executor_for(spec(), {"url": "mssql+pyodbc://sa:pw@erp/db"})
    assert caught.value.code == "unsupported_driver" and "pw" not in caught.value.message


async def test_allow_list_applies_to_the_database(db: tuple[str, str]) -> None:
    _, url = db
    the_spec, config = spec(), {"url": url}
    blocked = executor_for(the_spec, config, allow_network=[])
    with pytest.raises(BlockedDestination):
        await blocked.execute("count", {}, context(the_spec, config, 5))
    await blocked.aclose()
    allowed = executor_for(the_spec, config, allow_network=["127.0.0.1/32"])
    assert (await allowed.execute("count", {}, context(the_spec, config, 5))).data == {"n": 3}
    await allowed.aclose()


async def test_too_many_rows_are_refused(db: tuple[str, str]) -> None:
    _, url = db
    the_spec, config = spec(), {"url": url}
    executor = SqlExecutor(the_spec, config, max_rows=2)
    with pytest.raises(ExecutorError, match="more than 2 rows"):
        await executor.execute("members_in_tiers", {"tiers": ["gold", "silver"]},
                               context(the_spec, config, 5))  # fmt: skip
    await executor.aclose()
