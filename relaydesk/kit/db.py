"""Engine, sessions, the unit of work, and the tenant guard.

Rules (docs/architecture.md):
* one ``AsyncSession`` per request or job; only :func:`unit_of_work` (requests) or
  :func:`Database.job` (jobs) commits, services only flush;
* every ORM statement touching a :class:`TenantScoped` entity is filtered by the session's
  tenant automatically; a session without a tenant that is not marked ``system`` may not touch
  tenant-scoped entities at all, so a forgotten filter raises instead of leaking.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import JSON, DateTime, MetaData, Uuid, event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    ORMExecuteState,
    Session,
    declared_attr,
    mapped_column,
    with_loader_criteria,
)
from sqlalchemy.types import TypeDecorator

from relaydesk.errors import AppError
from relaydesk.kit.ids import uuid7

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012
        dt.datetime: UTCDateTime(),
        uuid.UUID: Uuid(),
        dict[str, Any]: JSON(),
        list[str]: JSON(),
        list[dict[str, Any]]: JSON(),
    }


class IdMixin:
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class TenantScoped:
    """Rows that belong to one tenant; filtered by the session's tenant automatically."""

    @declared_attr
    def tenant_id(cls) -> Mapped[uuid.UUID]:
        from sqlalchemy import ForeignKey

        return mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)


class DepartmentScoped:
    """Rows that belong to a department; hidden from department-scoped principals elsewhere."""

    @declared_attr
    def department_id(cls) -> Mapped[uuid.UUID | None]:
        from sqlalchemy import ForeignKey

        return mapped_column(
            ForeignKey("departments.id", ondelete="SET NULL"), index=True, nullable=True
        )


class TenantGuardError(RuntimeError):
    """A tenant-scoped entity was queried by a session that has no tenant."""


def scope_session(
    session: AsyncSession | Session,
    tenant_id: uuid.UUID | None,
    department_ids: Sequence[uuid.UUID] | None = None,
) -> None:
    """Bind a session to a tenant (and optionally to departments) for the guard."""
    info = session.info
    info["tenant_id"] = tenant_id
    info["department_ids"] = tuple(department_ids) if department_ids is not None else None


def mark_system(session: AsyncSession | Session) -> None:
    """Let a system job (migrations, seeding, CLI admin) query across tenants."""
    session.info["system"] = True


@contextmanager
def unscoped(session: AsyncSession) -> Iterator[None]:
    """Look across tenants for one narrow step (finding an API key by prefix)."""
    previous = session.info.get("system", False)
    session.info["system"] = True
    try:
        yield
    finally:
        session.info["system"] = previous


#: the guard's options per (tenant, departments): built once, reused by every statement
_GUARD_OPTIONS: dict[tuple[uuid.UUID, tuple[uuid.UUID, ...] | None], tuple[Any, ...]] = {}
_GUARD_OPTIONS_MAX = 4096


def _guard_options(
    tenant_id: uuid.UUID, departments: tuple[uuid.UUID, ...] | None
) -> tuple[Any, ...]:
    """``with_loader_criteria`` for the tenant (and departments). Building one costs more
    than the rest of the guard (a lambda element, its closure analysis), and the options are
    immutable, so they are kept per scope."""
    key = (tenant_id, departments)
    found = _GUARD_OPTIONS.get(key)
    if found is not None:
        return found
    options = [
        with_loader_criteria(
            TenantScoped,
            lambda cls: cls.tenant_id == tenant_id,
            include_aliases=True,
        )
    ]
    if departments is not None:
        options.append(
            with_loader_criteria(
                DepartmentScoped,
                lambda cls: cls.department_id.in_(departments),
                include_aliases=True,
            )
        )
    if len(_GUARD_OPTIONS) >= _GUARD_OPTIONS_MAX:
        _GUARD_OPTIONS.clear()
    found = _GUARD_OPTIONS[key] = tuple(options)
    return found


@event.listens_for(Session, "do_orm_execute")
def _tenant_guard(state: ORMExecuteState) -> None:
    if not (state.is_select or state.is_update or state.is_delete):
        return
    if state.is_column_load:
        return
    info = state.session.info
    tenant_id = info.get("tenant_id")
    if tenant_id is None:
        if info.get("system"):
            return
        for mapper in state.all_mappers:
            if issubclass(mapper.class_, TenantScoped):
                raise TenantGuardError(
                    f"{mapper.class_.__name__} queried without a tenant in scope"
                )
        return
    state.statement = state.statement.options(
        *_guard_options(tenant_id, info.get("department_ids"))
    )


#: execution option: this unit of work will write (SQLite then begins IMMEDIATE)
WRITE_INTENT = "relaydesk_write_intent"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


#: execution option: this unit of work only reads (no transaction around it)
READ_ONLY = "relaydesk_read_only"


def _read_options(engine: AsyncEngine) -> dict[str, Any]:
    if engine.dialect.name == "sqlite":
        return {READ_ONLY: True}
    if engine.dialect.name == "postgresql":
        return {"isolation_level": "AUTOCOMMIT"}
    return {}


async def declare_read_only(session: AsyncSession, dialect: str) -> None:
    """Reads without BEGIN/COMMIT: two round trips fewer per GET request."""
    if dialect == "sqlite":
        await session.connection(execution_options={READ_ONLY: True})
    elif dialect == "postgresql":
        await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


async def declare_write_intent(session: AsyncSession) -> None:
    """Call first thing in a unit of work that will write."""
    await session.connection(execution_options={WRITE_INTENT: True})


def _sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "do_connect")
    def _hybrid_driver(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        # reads on the event loop's thread, lock waits on aiosqlite's (kit/db_sqlite.py)
        from relaydesk.kit import db_sqlite

        return dialect.loaded_dbapi.connect(*cargs, async_creator_fn=db_sqlite.connect, **cparams)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # let SQLAlchemy, not the driver, manage transactions (SAVEPOINT support)
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=5000")
        # commits run on the event loop's thread; checkpoints in a background thread instead
        cur.execute("PRAGMA wal_autocheckpoint=0")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # writers take the lock up front: a deferred transaction that read first and then
        # writes fails with SQLITE_BUSY_SNAPSHOT when another writer committed meanwhile
        options = conn.get_execution_options()
        if options.get(READ_ONLY, False):
            return  # reads run in autocommit: no BEGIN/COMMIT round trips
        conn.exec_driver_sql("BEGIN IMMEDIATE" if options.get(WRITE_INTENT, False) else "BEGIN")


def make_engine(url: str, *, echo: bool = False, pool_size: int = 10) -> AsyncEngine:
    kwargs: dict[str, Any] = {"echo": echo}
    if url.startswith("postgresql"):
        # no pre-ping (a round trip per checkout); recycle instead, and a dead connection
        # surfaces as an error on first use, which the pool then discards
        kwargs.update(pool_size=pool_size, max_overflow=pool_size, pool_recycle=1800)
    engine = create_async_engine(url, **kwargs)
    if url.startswith("sqlite"):
        _sqlite_pragmas(engine.sync_engine)
    return engine


#: ``session.info`` key: the :class:`Database` a request's or job's session came from
DATABASE_KEY = "relaydesk_database"


def database_of(session: AsyncSession | Session) -> Database | None:
    """The :class:`Database` that made this request or job session (None for others)."""
    db: Database | None = session.info.get(DATABASE_KEY)
    return db


class Database:
    """Owns the engine and hands out sessions; one per application or worker process."""

    def __init__(self, engine: AsyncEngine, bind: AsyncConnection | None = None) -> None:
        self.engine = engine
        #: tests bind every session to one outer transaction; then reads keep it too
        self.shares_connection = bind is not None
        self.sessionmaker = async_sessionmaker(
            bind=bind or engine,
            expire_on_commit=False,
            autoflush=True,
            join_transaction_mode="create_savepoint",
        )
        # request sessions get their mode from the engine they are bound to, so that a
        # request that never touches the database never checks out a connection
        self._write_bind = None if bind else engine.execution_options(**{WRITE_INTENT: True})
        self._read_bind = None if bind else engine.execution_options(**_read_options(engine))
        #: per-database helpers other packages attach (the audit writer), by name
        self.extensions: dict[str, Any] = {}

    def request_session(self, method: str) -> AsyncSession:
        """A session for one request: reads without a transaction for safe methods; a
        write-intent transaction (``BEGIN IMMEDIATE`` on SQLite) begun at the first statement
        for the others."""
        if self._read_bind is None or self._write_bind is None:
            return self.sessionmaker()
        bind = self._read_bind if method in SAFE_METHODS else self._write_bind
        return self.sessionmaker(bind=bind)

    @classmethod
    def from_url(cls, url: str, *, echo: bool = False, pool_size: int = 10) -> Database:
        return cls(make_engine(url, echo=echo, pool_size=pool_size))

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def job(
        self, tenant_id: uuid.UUID | None = None, *, system: bool = False
    ) -> AsyncIterator[AsyncSession]:
        """The unit of work of a background job or CLI command: commit on success."""
        async with self.sessionmaker() as session:
            scope_session(session, tenant_id)
            session.info[DATABASE_KEY] = self
            if system:
                mark_system(session)
            await declare_write_intent(session)
            try:
                yield session
            except BaseException:
                await session.rollback()
                raise
            else:
                await session.commit()

    @asynccontextmanager
    async def reader(self, tenant_id: uuid.UUID) -> AsyncIterator[AsyncSession]:
        """A tenant-scoped session that only reads: no transaction, so no write lock on
        SQLite (in tests, where every session shares one connection, the usual savepoint)."""
        async with self.request_session("GET") as session:
            scope_session(session, tenant_id)
            session.info[DATABASE_KEY] = self
            try:
                yield session
            finally:
                session.expunge_all()  # what was read stays readable (not expired)
                await session.rollback()

    async def dispose(self) -> None:
        await self.engine.dispose()


def _untouched(session: AsyncSession) -> bool:
    """Nothing to commit, roll back or release: no transaction began, nothing is pending."""
    return not (session.in_transaction() or session.new or session.dirty or session.deleted)


async def unit_of_work(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's unit of work: the only place a request commits or rolls back.

    A request that never used its session (a principal from the cache, an answer without
    the database) skips the commit and the close: each is a greenlet round trip that would
    do nothing."""
    db: Database = request.app.state.db
    session = db.request_session(request.method)
    scope_session(session, None)
    session.info[DATABASE_KEY] = db
    request.state.session = session
    try:
        if db.shares_connection and request.method not in SAFE_METHODS:
            await declare_write_intent(session)  # tests: mark the shared connection
        try:
            yield session
        except BaseException as exc:
            if isinstance(exc, AppError) and exc.keep_changes:
                await session.commit()
            elif not _untouched(session):
                await session.rollback()
            raise
        else:
            if not _untouched(session):
                await session.commit()
    finally:
        if not _untouched(session) or session.sync_session.identity_map:
            await session.close()


DbSession = Annotated[AsyncSession, Depends(unit_of_work, scope="function")]
