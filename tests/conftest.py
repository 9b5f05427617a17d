"""Fixtures shared by the whole suite.

Database tests run on SQLite and on PostgreSQL: the ``backend`` fixture is parametrised, and
every test that uses ``db`` (directly or through ``app``/``client``) runs once per backend.
Each test runs inside a transaction that is rolled back at the end (sessions join it through
savepoints), so tests are isolated and fast.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from relaydesk.app import create_app
from relaydesk.config import SecuritySettings, Settings
from relaydesk.kit.db import Database, make_engine, mark_system, scope_session
from relaydesk.migrations.runner import upgrade
from relaydesk.tenancy.service import create_tenant, create_user

PG_SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432"
#: Each pytest run gets databases of its own (``relaydesk_test_<pid>`` and the ``_commit``,
#: ``_proc``... ones derived from it, dropped when the run ends), so that two runs on one
#: machine never drop each other's schema. Exported so that modules reading the variable and
#: the subprocesses tests start agree. Set RDTEST_PG_URL to choose the database yourself.
RUN_DB_PREFIX = "relaydesk_test_run"
PG_URL = os.environ.setdefault("RDTEST_PG_URL", f"{PG_SERVER}/{RUN_DB_PREFIX}{os.getpid()}")
PASSWORD = "correct horse battery staple"


def postgres_installed() -> bool:
    return bool(shutil.which("pg_ctlcluster") or shutil.which("postgres") or shutil.which("psql"))


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres" and not postgres_installed():
        pytest.skip("PostgreSQL is not installed on this machine")
    return str(request.param)


async def _ensure_pg_database(url: str = PG_URL) -> None:
    base, _, name = url.rpartition("/")
    admin = make_engine(f"{base}/postgres")
    async with admin.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        found = await conn.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
        )
        if found.first() is None:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()


async def _fresh_postgres(url: str = PG_URL) -> AsyncEngine:
    await _ensure_pg_database(url)
    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    return engine


@pytest.fixture(scope="session")
async def engine(
    backend: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[AsyncEngine]:
    if backend == "postgres":
        eng = await _fresh_postgres()
    else:
        path = tmp_path_factory.mktemp("sqlite") / "relaydesk.db"
        eng = make_engine(f"sqlite+aiosqlite:///{path}")
    await upgrade(eng)
    yield eng
    await eng.dispose()


@pytest.fixture(scope="session")
async def committing_engine(
    backend: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[AsyncEngine]:
    """A second database for tests that must commit for real (the deployment's path): what
    they leave behind never shows in the rolled-back ``db`` of other tests."""
    if backend == "postgres":
        eng = await _fresh_postgres(f"{PG_URL}_commit")
    else:
        path = tmp_path_factory.mktemp("sqlite-commit") / "relaydesk.db"
        eng = make_engine(f"sqlite+aiosqlite:///{path}")
    await upgrade(eng)
    yield eng
    await eng.dispose()


@pytest.fixture
async def db(engine: AsyncEngine) -> AsyncIterator[Database]:
    """A Database whose every session joins one outer transaction, rolled back afterwards."""
    async with engine.connect() as conn:
        outer = await conn.begin()
        database = Database(engine, bind=conn)
        try:
            yield database
        finally:
            if outer.is_active:
                await outer.rollback()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        environment="test",
        data_dir=tmp_path / "var",
        security=SecuritySettings(secret_key="test-secret-" + "x" * 40),  # type: ignore[arg-type]
    )


@pytest.fixture
def app(settings: Settings, db: Database):  # type: ignore[no-untyped-def]
    application = create_app(settings, db=db)
    return application


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@dataclass
class Org:
    """A tenant made for a test, with one user per built-in role."""

    id: uuid.UUID
    slug: str
    users: dict[str, uuid.UUID] = field(default_factory=dict)

    def email(self, role: str) -> str:
        return f"{role}@{self.slug}.example.com"


async def make_org(
    db: Database,
    slug: str,
    roles: tuple[str, ...] = ("owner", "admin", "supervisor", "agent", "read-only"),
) -> Org:
    async with db.job(system=True) as session:
        tenant = await create_tenant(session, slug=slug, name=f"Org {slug}")
        org = Org(tenant.id, slug)
        scope_session(session, tenant.id)
        mark_system(session)
        for role in roles:
            user = await create_user(
                session,
                email=org.email(role),
                display_name=f"{role} of {slug}",
                password=PASSWORD,
                role_names=(role,),
                phone="13812345678",
            )
            org.users[role] = user.id
    return org


@pytest.fixture
async def org_a(db: Database) -> Org:
    return await make_org(db, "acme")


@pytest.fixture
async def org_b(db: Database) -> Org:
    return await make_org(db, "globex")


async def login(client: httpx.AsyncClient, org: Org, role: str) -> dict[str, str]:
    r = await client.post(
        "/api/v1/auth/login",
        json={"tenant": org.slug, "email": org.email(role), "password": PASSWORD},
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _no_relaydesk_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Tests never pick up a developer's RELAYDESK_* variables."""
    for name in list(os.environ):
        if name.startswith("RELAYDESK_"):
            monkeypatch.delenv(name, raising=False)
    yield


def _drop_run_databases(pids: set[int] | None) -> None:
    """Drop the databases of this run (``pids`` None: of every run whose process is gone)."""
    import asyncio

    import asyncpg

    async def drop() -> None:
        try:
            conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
        except (OSError, asyncpg.PostgresError):
            return  # no server: nothing was created
        try:
            names = await conn.fetch(
                "SELECT datname FROM pg_database WHERE datname LIKE $1", f"{RUN_DB_PREFIX}%"
            )
            for (name,) in names:
                digits = name[len(RUN_DB_PREFIX) :].split("_")[0]
                pid = int(digits) if digits.isdigit() else None
                if pid is None:
                    continue
                if pids is not None and pid not in pids:
                    continue
                if pids is None and _alive(pid):
                    continue
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(drop())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def pytest_sessionstart(session: pytest.Session) -> None:
    if os.environ["RDTEST_PG_URL"].startswith(f"{PG_SERVER}/{RUN_DB_PREFIX}"):
        _drop_run_databases(None)  # what runs that were killed left behind


def pytest_sessionfinish(session: pytest.Session) -> None:
    if f"{PG_SERVER}/{RUN_DB_PREFIX}{os.getpid()}" == PG_URL:
        _drop_run_databases({os.getpid()})


def pytest_configure(config: pytest.Config) -> None:
    from argon2 import PasswordHasher

    from relaydesk.auth import security

    security.use_password_hasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


async def settle(db: Database, rounds: int = 30, *, jobs: bool = True) -> None:
    """Run the real in-process bus (relay → every registered consumer) and the job runner
    until nothing is left to do: what the event runtime does in production, step by step.
    ``jobs=False``: the bus only (the jobs its consumers enqueue stay queued)."""
    from relaydesk.automation.consumers import register as register_rules
    from relaydesk.events.dispatch import Dispatcher
    from relaydesk.events.inprocess import InProcessBackend
    from relaydesk.events.relay import Relay
    from relaydesk.events.runtime import load_consumers
    from relaydesk.jobs import JobRunner

    load_consumers()
    register_rules()
    relay = Relay(db, InProcessBackend(Dispatcher(db, max_attempts=3, retry_base=0.0001)))
    runner = JobRunner(db)
    for _ in range(rounds):
        published = await relay.run_once()
        ran = await runner.run_once(50) if jobs else 0
        if not published and not ran:
            return
    raise AssertionError(f"the bus and jobs did not settle in {rounds} rounds")


def _sockets_closed_under_transports() -> list[str]:
    """Transports of the suite's event loop whose socket was closed behind their back.

    Such a transport keeps its file descriptor number in the loop's map; the next socket that
    gets the number fails with "File descriptor N is used by transport" — in whichever later
    test connects next. Found here, the test that did it fails instead.
    """
    import asyncio

    try:
        loop = asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        return []
    found = []
    for fd, transport in list(getattr(loop, "_transports", {}).items()):
        if transport.is_closing():
            continue
        try:
            os.fstat(fd)
        except OSError:
            found.append(f"fd {fd}: {transport!r}")
    return found


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> object:
    result = yield
    stale = _sockets_closed_under_transports()
    if stale:
        raise AssertionError(
            "this test closed a socket that an asyncio transport still owns (close the "
            f"transport, not its socket): {'; '.join(stale)}"
        )
    return result
