"""The membership connector (sql kind): recorded results mapped to members and points
transactions, and every action run on SQLite, MariaDB and PostgreSQL.

MariaDB and PostgreSQL use their own database, ``relaydesk_demo_members_connector_test``,
recreated from the seed for each test. A server that is not installed is skipped; one that
is installed but not running fails (``make services`` starts it).
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from connectors.support import Instance, instance, map_fixture, verdict_of_fixture
from relaydesk.connectors import load_connector
from relaydesk.demo_systems.membership import create_membership_db, default_membership_url
from relaydesk.integrations.resilience import ErrorClass

DB = "relaydesk_demo_members_connector_test"
MARIADB_URL = os.environ.get(
    "RDTEST_CONNECTOR_MARIADB_URL", f"mysql+aiomysql://root@127.0.0.1:3306/{DB}"
)
PG_URL = os.environ.get(
    "RDTEST_CONNECTOR_PG_URL", f"postgresql+asyncpg://postgres@127.0.0.1:5432/{DB}"
)
ZHAO_MIN = "13476694409"  # 赵敏, gold member M20181266
AT = "2026-11-20T20:30:00"


def test_spec_validates_with_the_demo_database_as_default() -> None:
    spec = load_connector("membership")
    assert spec.kind == "sql" and spec.sql is not None
    assert spec.config["url"].default == "sqlite+aiosqlite:///var/demo-systems/members.db"
    assert spec.actions["add_points"].effect == "write"
    assert not spec.actions["add_points"].idempotent  # one ledger entry per call
    assert spec.actions["sync_points"].idempotent


def test_a_member_maps_with_tier_points_and_dates_in_shanghai_time() -> None:
    member = map_fixture("membership", "get_member_by_mobile")
    assert member == {
        "member_id": "M20181266", "name": "赵敏", "phone": ZHAO_MIN, "tier": "gold",
        "points": 20879, "joined_at": "2024-09-13T00:00:00+08:00",
        "updated_at": "2026-11-11T01:09:28+08:00",
    }  # fmt: skip


def test_points_history_maps_with_the_running_balance() -> None:
    rows = map_fixture("membership", "list_points")
    assert len(rows) == 5
    newest = rows[0]
    assert newest == {"id": "152", "member_id": "M20181266", "delta": 7377, "balance": 20879,
                      "reason": "订单YQ20261111000880消费获得积分",
                      "created_at": "2026-11-11T01:09:28+08:00"}  # fmt: skip
    # the balance after each entry is the one after the entry before it plus its delta
    for later, earlier in itertools.pairwise(rows):
        assert later["balance"] == earlier["balance"] + later["delta"]
    assert newest["balance"] == map_fixture("membership", "get_member_by_mobile")["points"]


def test_write_fixtures() -> None:
    assert map_fixture("membership", "add_points") == {"applied": True, "rows": 1}
    assert map_fixture("membership", "sync_points") == {"applied": True, "rows": 1}
    refused = verdict_of_fixture("membership", "add_points_refused.json")
    assert (refused.cls, refused.code) == (ErrorClass.fail, "not_applied")
    assert refused.message == "未写入：该手机号不是会员，或扣减后积分会小于 0"


def _installed(backend: str) -> bool:
    if backend == "mariadb":
        names = ("mariadbd", "mysqld")
        return any(shutil.which(n) or Path(f"/usr/sbin/{n}").exists() for n in names)
    return bool(shutil.which("pg_ctlcluster") or shutil.which("postgres") or shutil.which("psql"))


@pytest.fixture(params=[
    "sqlite",
    pytest.param("mariadb", marks=pytest.mark.mariadb),
    pytest.param("postgres", marks=pytest.mark.postgres),
])  # fmt: skip
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return default_membership_url(tmp_path)
    if not _installed(request.param):
        pytest.skip(f"{request.param} is not installed on this machine")
    return MARIADB_URL if request.param == "mariadb" else PG_URL


@pytest.fixture
async def members(url: str) -> AsyncIterator[Instance]:
    await create_membership_db(url, reset=True)
    async with instance("membership", {"url": url}) as live:
        yield live


async def _ledger_sum(url: str, mobile: str) -> tuple[int, int]:
    """(members.points, SUM(points_ledger.delta)) of a member, read directly."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            row = (await conn.execute(text(
                "SELECT m.points, (SELECT SUM(l.delta) FROM points_ledger l "
                "WHERE l.member_id = m.member_id) FROM members m WHERE m.mobile = :mobile"),
                {"mobile": mobile})).one()  # fmt: skip
    finally:
        await engine.dispose()
    return int(row[0]), int(row[1])


async def test_reads_map_the_same_on_every_backend(members: Instance) -> None:
    member = await members.run("get_member_by_mobile", {"mobile": ZHAO_MIN})
    assert member == map_fixture("membership", "get_member_by_mobile")
    history = await members.run("list_points", {"mobile": ZHAO_MIN, "limit": 5})
    assert history == map_fixture("membership", "list_points")
    assert await members.run("get_member_by_mobile", {"mobile": "13800000000"}) is None
    assert await members.run("list_points", {"mobile": "13800000000"}) == []


async def test_a_credit_is_recorded_then_synced_keeping_points_equal_to_the_ledger(
    members: Instance, url: str
) -> None:
    credit = {"mobile": ZHAO_MIN, "delta": 200, "reason": "客服补偿：物流延误", "at": AT}
    assert await members.run("add_points", credit) == {"applied": True, "rows": 1}
    assert await _ledger_sum(url, ZHAO_MIN) == (20879, 21079)  # step 2 not run yet
    sync = {"mobile": ZHAO_MIN, "at": AT}
    assert await members.run("sync_points", sync) == {"applied": True, "rows": 1}
    assert await members.run("sync_points", sync) == {"applied": True, "rows": 1}  # again
    assert await _ledger_sum(url, ZHAO_MIN) == (21079, 21079)
    member = await members.run("get_member_by_mobile", {"mobile": ZHAO_MIN})
    assert member["points"] == 21079 and member["updated_at"] == "2026-11-20T20:30:00+08:00"
    (newest,) = await members.run("list_points", {"mobile": ZHAO_MIN, "limit": 1})
    assert (newest["delta"], newest["balance"]) == (200, 21079)
    assert newest["reason"] == "客服补偿：物流延误"
    assert newest["created_at"] == "2026-11-20T20:30:00+08:00"


async def test_a_debit_below_zero_or_an_unknown_mobile_writes_nothing(
    members: Instance, url: str
) -> None:
    debit = {"mobile": ZHAO_MIN, "delta": -20880, "reason": "兑换超额", "at": AT}
    raw = await members.call("add_points", debit)
    verdict = members.classify(raw)
    assert (raw.data, verdict.cls, verdict.code) == ({"rowcount": 0}, ErrorClass.fail,
                                                     "not_applied")  # fmt: skip
    unknown = {"mobile": "13800000000", "delta": 5, "reason": "补偿", "at": AT}
    assert members.classify(await members.call("add_points", unknown)).code == "not_applied"
    assert await _ledger_sum(url, ZHAO_MIN) == (20879, 20879)
    exact = {**debit, "delta": -20879, "reason": "全部兑换"}
    assert await members.run("add_points", exact) == {"applied": True, "rows": 1}
    await members.run("sync_points", {"mobile": ZHAO_MIN, "at": AT})
    assert await _ledger_sum(url, ZHAO_MIN) == (0, 0)
