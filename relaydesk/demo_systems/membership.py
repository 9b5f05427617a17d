"""会员积分库 — the membership/points database (SQL, no HTTP API: Relaydesk's ``sql`` kind
reads and writes it directly).

Two tables, as a legacy loyalty system would have them::

    members(member_id PK, mobile UNIQUE, name, tier, points >= 0, updated_at)
    points_ledger(id PK auto, member_id -> members, delta, reason, created_at)

``tier`` is one of normal/silver/gold/diamond; times are naive Asia/Shanghai wall-clock
times. For every member, ``points`` equals the sum of their ledger ``delta`` (a write must
insert a ledger row and update ``points`` in one transaction to keep it so).

:func:`create_membership_db` works on SQLite (``sqlite+aiosqlite:///path``), MariaDB/MySQL
(``mysql+aiomysql://root@127.0.0.1:3306/relaydesk_demo_members``) and PostgreSQL
(``postgresql+asyncpg://postgres@127.0.0.1:5432/relaydesk_demo_members``), creating the
database itself when the server does not have it yet.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import (
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from relaydesk.demo_systems.seed_service import seed_members

__all__ = [
    "MembershipDb",
    "create_membership_db",
    "default_membership_url",
    "members",
    "metadata",
    "points_ledger",
]

metadata = MetaData()

members = Table(
    "members",
    metadata,
    Column("member_id", String(16), primary_key=True),
    Column("mobile", String(11), nullable=False, unique=True),
    Column("name", String(32), nullable=False),
    Column("tier", String(16), nullable=False),
    Column("points", Integer, nullable=False, server_default="0"),
    Column("updated_at", DateTime, nullable=False),
    CheckConstraint("points >= 0", name="ck_members_points_not_negative"),
    CheckConstraint("tier IN ('normal', 'silver', 'gold', 'diamond')", name="ck_members_tier"),
    mysql_engine="InnoDB",
    mysql_charset="utf8mb4",
)

points_ledger = Table(
    "points_ledger",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("member_id", String(16), ForeignKey("members.member_id"), nullable=False, index=True),
    Column("delta", Integer, nullable=False),
    Column("reason", String(200), nullable=False),
    Column("created_at", DateTime, nullable=False),
    mysql_engine="InnoDB",
    mysql_charset="utf8mb4",
)

_DB_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


@dataclass(frozen=True)
class MembershipDb:
    url: str
    members: int
    ledger_rows: int
    seeded: bool  # False when existing rows were kept (reset=False and already seeded)


def default_membership_url(data_dir: Path) -> str:
    """Where ``make demo`` keeps the membership database: a SQLite file in the data dir."""
    return f"sqlite+aiosqlite:///{(data_dir / 'demo-systems' / 'members.db').resolve()}"


def _database_name(url: URL) -> str:
    name = url.database or ""
    if not _DB_NAME.match(name):
        raise ValueError(f"database name {name!r} must match {_DB_NAME.pattern}")
    return name


async def _ensure_database(url: URL) -> None:
    backend = url.get_backend_name()
    if backend == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        return
    name = _database_name(url)
    if backend == "mysql":
        admin = create_async_engine(url.set(database=""))
        statement = (
            f"CREATE DATABASE IF NOT EXISTS `{name}` "
            "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
        )
        try:
            async with admin.begin() as conn:
                await conn.execute(text(statement))
        finally:
            await admin.dispose()
        return
    if backend == "postgresql":
        admin = create_async_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        try:
            async with admin.connect() as conn:
                exists = (
                    select(text("1"))
                    .select_from(text("pg_database"))
                    .where(text("datname = :name"))
                )
                if (await conn.execute(exists, {"name": name})).first() is None:
                    try:
                        await conn.execute(text(f'CREATE DATABASE "{name}"'))
                    except DBAPIError:  # created meanwhile by someone else
                        if (await conn.execute(exists, {"name": name})).first() is None:
                            raise
        finally:
            await admin.dispose()
        return
    raise ValueError(f"unsupported database {backend!r}: use sqlite, mysql/mariadb or postgresql")


async def _seed(conn: AsyncConnection) -> tuple[int, int]:
    rows, ledger = seed_members()
    await conn.execute(
        insert(members),
        [
            {
                "member_id": m.member_id,
                "mobile": m.mobile,
                "name": m.name,
                "tier": m.tier,
                "points": m.points,
                "updated_at": m.updated_at,
            }
            for m in rows
        ],
    )
    await conn.execute(
        insert(points_ledger),
        [
            {
                "member_id": r.member_id,
                "delta": r.delta,
                "reason": r.reason,
                "created_at": r.created_at,
            }
            for r in ledger
        ],
    )
    return len(rows), len(ledger)


async def create_membership_db(url: str, *, reset: bool = False) -> MembershipDb:
    """Create (if needed) and seed the membership database at ``url``.

    ``reset=True`` drops both tables first, so the data is exactly the seed (tests); without
    it, existing tables and rows are kept and the seed is only written into empty tables.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "mysql" and "charset" not in parsed.query:
        parsed = parsed.update_query_dict({"charset": "utf8mb4"})
    await _ensure_database(parsed)
    engine = create_async_engine(parsed)
    try:
        async with engine.begin() as conn:
            if reset:
                await conn.run_sync(metadata.drop_all)
            await conn.run_sync(metadata.create_all)
            count = (await conn.execute(select(func.count()).select_from(members))).scalar_one()
            if count == 0:
                seeded_members, seeded_rows = await _seed(conn)
                return MembershipDb(url, seeded_members, seeded_rows, seeded=True)
            ledger_count = (
                await conn.execute(select(func.count()).select_from(points_ledger))
            ).scalar_one()
            return MembershipDb(url, count, ledger_count, seeded=False)
    finally:
        await engine.dispose()
