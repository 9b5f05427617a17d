"""The membership/points database on SQLite, MariaDB and PostgreSQL.

A server that is not installed on this machine is skipped (with the reason); one that is
installed but not answering fails the test (``make services`` starts it). The tests use their
own database, ``relaydesk_demo_members_test``, so a running demo keeps its data.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from relaydesk.demo_systems.dataset import people
from relaydesk.demo_systems.membership import (
    create_membership_db,
    default_membership_url,
    members,
    points_ledger,
)

TEST_DB = "relaydesk_demo_members_test"
MARIADB_URL = os.environ.get(
    "RDTEST_MARIADB_URL", f"mysql+aiomysql://root@127.0.0.1:3306/{TEST_DB}"
)
PG_URL = os.environ.get(
    "RDTEST_PG_MEMBERS_URL", f"postgresql+asyncpg://postgres@127.0.0.1:5432/{TEST_DB}"
)


def _mariadb_installed() -> bool:
    found = any(shutil.which(b) for b in ("mariadbd", "mysqld"))
    return found or Path("/usr/sbin/mariadbd").exists() or Path("/usr/sbin/mysqld").exists()


def _postgres_installed() -> bool:
    return bool(shutil.which("pg_ctlcluster") or shutil.which("postgres") or shutil.which("psql"))


@pytest.fixture(params=["sqlite", "mariadb", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "mariadb":
        if not _mariadb_installed():
            pytest.skip("MariaDB is not installed on this machine")
        return MARIADB_URL
    if request.param == "postgres":
        if not _postgres_installed():
            pytest.skip("PostgreSQL is not installed on this machine")
        return PG_URL
    return default_membership_url(tmp_path)


@pytest.fixture
async def engine(url: str) -> AsyncIterator[AsyncEngine]:
    result = await create_membership_db(url, reset=True)
    assert (result.members, result.seeded) == (40, True)
    eng = create_async_engine(url)
    yield eng
    await eng.dispose()


async def test_every_person_is_a_member_with_the_same_mobile(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        rows = (await conn.execute(select(members).order_by(members.c.member_id))).mappings().all()
    by_mobile = {r["mobile"]: r for r in rows}
    assert len(rows) == 40
    for person in people():
        row = by_mobile[person.mobile]
        assert (row["member_id"], row["name"], row["tier"]) == (
            person.member_id, person.name, person.tier)  # Chinese names survive (utf8mb4)
        assert row["points"] >= 0


async def test_points_equal_the_sum_of_the_ledger(engine: AsyncEngine) -> None:
    totals = (
        select(points_ledger.c.member_id, func.sum(points_ledger.c.delta).label("total"))
        .group_by(points_ledger.c.member_id).subquery()
    )
    stmt = select(members.c.member_id, members.c.points, totals.c.total).join(
        totals, totals.c.member_id == members.c.member_id)
    async with engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
    assert len(rows) == 40
    assert all(points == total for _, points, total in rows)


async def test_a_points_adjustment_is_one_transaction(engine: AsyncEngine) -> None:
    person = people()[4]
    async with engine.begin() as conn:  # what the sql connector's write action does
        await conn.execute(insert(points_ledger).values(
            member_id=person.member_id, delta=500, reason="客服补偿：物流延误",
            created_at=text("CURRENT_TIMESTAMP")))
        await conn.execute(update(members).where(members.c.mobile == person.mobile)
                           .values(points=members.c.points + 500))
    async with engine.connect() as conn:
        latest = (await conn.execute(
            select(points_ledger.c.delta, points_ledger.c.reason)
            .where(points_ledger.c.member_id == person.member_id)
            .order_by(points_ledger.c.id.desc()).limit(1))).one()
    assert tuple(latest) == (500, "客服补偿：物流延误")


async def test_points_can_not_go_negative_and_mobiles_are_unique(engine: AsyncEngine) -> None:
    person = people()[0]
    # MariaDB reports a CHECK violation as an OperationalError (4025), the others as
    # IntegrityError: the constraint's name is what they have in common
    with pytest.raises(DBAPIError, match="ck_members_points_not_negative"):
        async with engine.begin() as conn:
            await conn.execute(update(members).where(members.c.mobile == person.mobile)
                               .values(points=-1))
    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await conn.execute(insert(members).values(
                member_id="M99999999", mobile=person.mobile, name="冒名", tier="normal",
                points=0, updated_at=text("CURRENT_TIMESTAMP")))


async def test_without_reset_existing_rows_are_kept(url: str, engine: AsyncEngine) -> None:
    person = people()[1]
    async with engine.begin() as conn:
        await conn.execute(update(members).where(members.c.mobile == person.mobile)
                           .values(points=members.c.points + 1))
        before = (await conn.execute(select(members.c.points)
                                     .where(members.c.mobile == person.mobile))).scalar_one()
    again = await create_membership_db(url)
    assert (again.members, again.seeded) == (40, False)
    async with engine.connect() as conn:
        after = (await conn.execute(select(members.c.points)
                                    .where(members.c.mobile == person.mobile))).scalar_one()
    assert after == before


async def test_the_database_is_created_when_missing(url: str, tmp_path: Path) -> None:
    if url.startswith("sqlite"):
        target = tmp_path / "nested" / "dir" / "members.db"
        created = await create_membership_db(f"sqlite+aiosqlite:///{target}")
        assert target.exists() and created.members == 40
        return
    base, _, _ = url.rpartition("/")
    fresh = f"{base}/{TEST_DB}_fresh"
    admin_db = "postgres" if url.startswith("postgresql") else ""
    admin = create_async_engine(f"{base}/{admin_db}", isolation_level="AUTOCOMMIT")
    drop = f'DROP DATABASE IF EXISTS "{TEST_DB}_fresh"' if admin_db else \
        f"DROP DATABASE IF EXISTS `{TEST_DB}_fresh`"
    try:
        async with admin.connect() as conn:
            await conn.execute(text(drop))
        created = await create_membership_db(fresh)
        assert (created.members, created.seeded) == (40, True)
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(drop))
        await admin.dispose()


async def test_refuses_a_database_name_it_cannot_quote() -> None:
    with pytest.raises(ValueError, match="database name"):
        await create_membership_db("postgresql+asyncpg://postgres@127.0.0.1:5432/bad-name;drop")
