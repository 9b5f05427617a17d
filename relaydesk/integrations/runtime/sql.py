"""The ``sql`` kind: parameterised statements on an existing database, values always bound.

Supported drivers (async SQLAlchemy): ``sqlite+aiosqlite``, ``postgresql+asyncpg``,
``mysql+aiomysql`` and ``mariadb+aiomysql``. Each executor owns one engine (a small pool),
created on first use from the rendered ``sql.url``.

* Statements run ONLY as ``sqlalchemy.text(statement)`` with the validated parameters as
  bound values (array parameters expand for ``IN :ids``, object parameters bind as JSON text);
  nothing is ever interpolated into the SQL.
* ``effect: write`` actions run in a transaction committed at the end (rolled back on any
  error); reads run in one that is rolled back.
* ``result: rows`` gives a list of dicts, ``one`` the first row or null, ``rowcount``
  ``{"rowcount": n}``. Values are JSON-safe: decimals become exact strings, dates and times
  ISO 8601, binary base64. A naive datetime from the database is taken to be in the action's
  ``mapping.timezone`` when it has a mapping, else UTC, and is written with its offset.
* Errors become :class:`ExecutorError`: connection problems, timeouts, deadlocks and lock
  waits are ``transient`` (retried); SQL errors and constraint violations are ``config``
  failures whose messages carry no SQL text with values (quoted words that are not part of the
  statement, such as values echoed by the driver, are replaced by ``…``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpcore
from sqlalchemy import bindparam, exc, text
from sqlalchemy.engine import URL, CursorResult, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from relaydesk.integrations.resilience import ErrorKind
from relaydesk.integrations.runtime.base import (
    CallContext,
    ExecutorError,
    RawResult,
    json_safe,
    outbound_policy,
    render_config_template,
    result_zone,
)
from relaydesk.integrations.spec import ActionSpec, ConnectorSpec
from relaydesk.kit.safehttp import BlockedDestination, resolve_checked

__all__ = ["MAX_ROWS", "SUPPORTED_DRIVERS", "SqlExecutor"]

SUPPORTED_DRIVERS = frozenset(
    {"sqlite+aiosqlite", "postgresql+asyncpg", "mysql+aiomysql", "mariadb+aiomysql"}
)
#: a ``rows`` result larger than this is refused (add a LIMIT to the statement)
MAX_ROWS = 5000
_DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306, "mariadb": 3306}
_MYSQL_TRANSIENT = frozenset({1040, 1053, 1205, 1213, 2002, 2003, 2006, 2013, 2055})
_MYSQL_CONSTRAINTS = {1062: "unique", 1451: "foreign_key", 1452: "foreign_key",
                      1048: "not_null", 3819: "check", 4025: "check"}  # fmt: skip
_PG_CONSTRAINTS = {"23505": "unique", "23503": "foreign_key", "23502": "not_null",
                   "23514": "check"}  # fmt: skip
_QUOTED = re.compile(r"(?<!\w)(?:'[^']*'|\"[^\"]*\"|`[^`]*`)")


# --------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------


def _bind_value(value: Any) -> Any:
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return value


# --------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------


def _sanitise(message: str, statement: str) -> str:
    """The driver's message, with quoted words not found in the statement replaced by …"""
    lowered = statement.lower()

    def keep(match: re.Match[str]) -> str:
        token = match.group(0)
        inner = token[1:-1]
        last = inner.rsplit(".", 1)[-1].lower()
        return token if inner and last and last in lowered else token[0] + "…" + token[-1]

    first = message.strip().splitlines()[0] if message.strip() else ""
    return _QUOTED.sub(keep, first)[:300]


def _constraint(orig: Any, errno: int | None, sqlstate: str | None) -> tuple[str, str | None]:
    """(constraint kind, its name or columns when the driver says) of an integrity error."""
    cause = getattr(orig, "__cause__", None)
    message = str(orig.args[-1] if getattr(orig, "args", None) else orig)
    kind = _PG_CONSTRAINTS.get(sqlstate or "") or _MYSQL_CONSTRAINTS.get(errno or 0)
    if kind is None:
        for word, label in (("UNIQUE", "unique"), ("FOREIGN KEY", "foreign_key"),
                            ("NOT NULL", "not_null"), ("CHECK", "check")):  # fmt: skip
            if word in message.upper():
                kind = label
                break
    name: str | None = getattr(cause, "constraint_name", None) or getattr(
        cause, "column_name", None
    )
    if name is None and errno == 1062:
        found = re.search(r"for key '([^']+)'", message)
        name = found.group(1) if found else None
    elif name is None and errno == 1048:
        found = re.search(r"Column '([^']+)'", message)
        name = found.group(1) if found else None
    elif name is None and "constraint failed: " in message:
        name = message.split("constraint failed: ", 1)[1].strip() or None
    return kind or "integrity", name


def _dbapi_error(error: exc.DBAPIError, statement: str) -> ExecutorError:
    orig = error.orig
    args: tuple[Any, ...] = tuple(getattr(orig, "args", ()) or ())
    errno = args[0] if args and isinstance(args[0], int) else None
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    sqlstate = str(sqlstate) if sqlstate else None
    message = str(args[1] if errno is not None and len(args) > 1 else (args[0] if args else ""))
    reason = _sanitise(message, statement)
    connection_lost = error.connection_invalidated or isinstance(
        getattr(orig, "__cause__", None), OSError | TimeoutError
    )
    if (
        connection_lost
        or errno in _MYSQL_TRANSIENT
        or (sqlstate or "")[:2] in ("08", "40", "53", "57", "58")
        or "database is locked" in message
        or "database is busy" in message
    ):
        return ExecutorError(
            ErrorKind.transient, f"database unavailable or busy: {reason}", "database_unavailable"
        )
    if isinstance(error, exc.IntegrityError):
        kind, name = _constraint(orig, errno, sqlstate)
        label = kind.replace("_", " ")
        detail = f" ({_sanitise(name, statement + ' ' + name)})" if name else ""
        return ExecutorError(
            ErrorKind.config,
            f"the database refused the change: {label} constraint violated{detail}",
            f"{kind}_violation",
        )
    if (sqlstate or "").startswith("28") or errno in (1044, 1045, 1049):
        return ExecutorError(
            ErrorKind.config, f"the database refused the connection: {reason}", "access_denied"
        )
    code = f"sql_error_{sqlstate}" if sqlstate else "sql_error"
    return ExecutorError(ErrorKind.config, f"SQL error: {reason}", code.lower())


# --------------------------------------------------------------------------------------
# The executor
# --------------------------------------------------------------------------------------


class SqlExecutor:
    """Executor of ``kind: sql`` connectors: one async engine per executor (instance)."""

    def __init__(
        self,
        spec: ConnectorSpec,
        config: Mapping[str, Any],
        *,
        allow_network: Sequence[str] | None = None,
        max_rows: int = MAX_ROWS,
    ) -> None:
        if spec.sql is None:
            raise ExecutorError(ErrorKind.config, "the spec has no sql section", "invalid_spec")
        self.spec = spec
        self.url = self._url(render_config_template(spec.sql.url, config, "sql.url"))
        self.allow_network = None if allow_network is None else list(allow_network)
        self.max_rows = max_rows
        self._engine: AsyncEngine | None = None
        self._lock = asyncio.Lock()

    @staticmethod
    def _url(rendered: Any) -> URL:
        try:
            url = make_url(str(rendered or ""))
        except exc.ArgumentError:
            raise ExecutorError(
                ErrorKind.config, "sql.url is not a SQLAlchemy URL", "invalid_url"
            ) from None
        if url.drivername not in SUPPORTED_DRIVERS:
            supported = ", ".join(sorted(SUPPORTED_DRIVERS))
            raise ExecutorError(
                ErrorKind.config,
                f"database driver {url.drivername!r} is not supported (use one of {supported})",
                "unsupported_driver",
            )
        if url.get_backend_name() in ("mysql", "mariadb") and "charset" not in url.query:
            url = url.update_query_dict({"charset": "utf8mb4"})
        return url

    @property
    def backend(self) -> str:
        return self.url.get_backend_name()

    async def _check_destination(self) -> None:
        """Apply the instance's allow-list: a networked database is checked like an HTTP
        destination; a SQLite file or a local socket counts as loopback."""
        if self.allow_network is None:
            return
        policy = outbound_policy(self.allow_network)
        local = (
            self.backend == "sqlite"
            or not self.url.host
            or any(key in self.url.query for key in ("host", "unix_socket"))
        )
        if local:
            if not (
                policy.address_allowed(ipaddress.ip_address("127.0.0.1"))
                or policy.host_allowed("localhost")
            ):
                raise BlockedDestination(
                    "a local database (SQLite file or socket) is reachable only when the "
                    "instance's allow-list opens the loopback (127.0.0.1/32 or localhost)",
                    host="localhost",
                )
            return
        port = self.url.port or _DEFAULT_PORTS.get(self.backend, 0)
        await resolve_checked(str(self.url.host), port, policy)

    def _check_sqlite_file(self) -> None:
        database = self.url.database or ""
        if database in ("", ":memory:") or database.startswith("file:"):
            return
        if not Path(database).is_file():
            raise ExecutorError(
                ErrorKind.config,
                f"SQLite database file {database!r} does not exist",
                "database_not_found",
            )

    async def engine(self) -> AsyncEngine:
        if self._engine is not None:
            return self._engine
        async with self._lock:
            if self._engine is None:
                await self._check_destination()
                if self.backend == "sqlite":
                    self._check_sqlite_file()
                    self._engine = create_async_engine(self.url)
                else:
                    self._engine = create_async_engine(
                        self.url, pool_size=5, max_overflow=5, pool_pre_ping=True,
                        pool_recycle=1800,
                    )  # fmt: skip
        return self._engine

    async def execute(self, action: str, params: Mapping[str, Any], ctx: CallContext) -> RawResult:
        act = ctx.spec.action(action)
        if act.sql is None:
            raise ExecutorError(ErrorKind.config, "the action has no sql section", "invalid_spec")
        statement = act.sql.statement
        verb = (statement.split(None, 1) or ["SQL"])[0].upper()
        try:
            async with asyncio.timeout(ctx.timeout):
                data = await self._run(await self.engine(), act, params)
        except TimeoutError:
            raise ExecutorError(
                ErrorKind.transient, f"the database did not answer within {ctx.timeout:g}s",
                "timeout",
            ) from None  # fmt: skip
        except exc.DBAPIError as error:
            raise _dbapi_error(error, statement) from None
        except exc.StatementError as error:  # e.g. a bind the driver cannot take
            reason = _sanitise(str(error.orig or ""), statement) if error.orig else "invalid bind"
            raise ExecutorError(ErrorKind.config, f"SQL error: {reason}", "sql_error") from None
        except (OSError, httpcore.ConnectError, httpcore.ConnectTimeout) as error:
            raise ExecutorError(
                ErrorKind.transient,
                f"cannot connect to the database: {type(error).__name__}",
                "database_unavailable",
            ) from None
        return RawResult(
            status=None, headers={}, data=data, body_json=data,
            request_line=f"SQL {verb} ({action})",
        )  # fmt: skip

    async def _run(self, engine: AsyncEngine, act: ActionSpec, params: Mapping[str, Any]) -> Any:
        assert act.sql is not None
        clause = text(act.sql.statement)
        arrays = [name for name, p in act.params.items() if p.type == "array"]
        present = set(clause._bindparams)  # the names of the :binds
        expanding: list[Any] = [
            bindparam(name, expanding=True) for name in arrays if name in present
        ]
        if expanding:
            clause = clause.bindparams(*expanding)
        values = {name: _bind_value(params.get(name)) for name in present}
        zone = result_zone(act)
        if act.effect == "write":
            async with engine.begin() as conn:
                return await self._result(conn, clause, values, act, zone)
        async with engine.connect() as conn:
            return await self._result(conn, clause, values, act, zone)

    async def _result(
        self,
        conn: AsyncConnection,
        clause: Any,
        values: dict[str, Any],
        act: ActionSpec,
        zone: dt.tzinfo,
    ) -> Any:
        assert act.sql is not None
        result: CursorResult[Any] = await conn.execute(clause, values)
        mode = act.sql.result
        if mode == "rowcount":
            return {"rowcount": result.rowcount}
        if not result.returns_rows:
            raise ExecutorError(
                ErrorKind.config,
                f"the statement returns no rows; declare result: rowcount (not {mode})",
                "no_rows_returned",
            )
        if mode == "one":
            row = result.first()
            return None if row is None else json_safe(dict(row._mapping), zone)
        rows = result.fetchmany(self.max_rows + 1)
        result.close()
        if len(rows) > self.max_rows:
            raise ExecutorError(
                ErrorKind.config,
                f"the statement returned more than {self.max_rows} rows; add a LIMIT",
                "too_many_rows",
            )
        return [json_safe(dict(row._mapping), zone) for row in rows]

    async def aclose(self) -> None:
        if self._engine is not None:
            engine, self._engine = self._engine, None
            await engine.dispose()
