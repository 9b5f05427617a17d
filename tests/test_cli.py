"""The ``relaydesk`` command, as an operator uses it on the embedded default (SQLite).

Successful commands run through Typer's CliRunner; failures run through
:func:`relaydesk.cli.main`, the console-script entry point, because that is what turns an
error into one readable line and an exit code.
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

import relaydesk.cli as cli
from relaydesk.cli import serve as serve_cmd
from relaydesk.config import Settings, get_settings
from relaydesk.demo_systems.runner import free_base_port

cli._register()
runner = CliRunner()


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """RELAYDESK_DATA_DIR points at a temporary directory; commands run from another one."""
    data = tmp_path / "data"
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.setenv("RELAYDESK_DATA_DIR", str(data))
    monkeypatch.chdir(cwd)
    return data


@pytest.fixture
def main(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Any:
    """Run ``relaydesk ARGS...`` through the entry point: (exit code, stdout, stderr)."""
    monkeypatch.setattr(cli, "_register", lambda: None)  # registered once, above

    def call(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        get_settings.cache_clear()
        monkeypatch.setattr(sys, "argv", ["relaydesk", *args])
        with pytest.raises(SystemExit) as exc:
            cli.main()
        out, err = capsys.readouterr()
        code = exc.value.code
        return (code if isinstance(code, int) else (0 if code is None else 1)), out, err

    return call


def invoke(*args: str) -> Result:
    get_settings.cache_clear()
    result = runner.invoke(cli.app, list(args))
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith("error: ")
    return lines[0]


def rows(data: Path, sql: str, *params: object) -> list[tuple[Any, ...]]:
    with sqlite3.connect(data / "relaydesk.db") as conn:
        return conn.execute(sql, params).fetchall()


@pytest.fixture
def acme(data_dir: Path) -> Path:
    invoke("db", "upgrade")
    invoke("tenants", "create", "acme", "--name", "Acme 有限公司")
    return data_dir


# ---- db upgrade -----------------------------------------------------------------------------


def test_db_upgrade_creates_the_sqlite_file_under_the_data_dir(data_dir: Path) -> None:
    assert not data_dir.exists()
    result = invoke("db", "upgrade")
    assert "database at head" in result.output
    assert (data_dir / "relaydesk.db").is_file()
    assert not (Path.cwd() / "var").exists()  # nothing under the working directory
    assert len(rows(data_dir, "SELECT version_num FROM alembic_version")) == 1
    # running it again is a no-op
    invoke("db", "upgrade")


# ---- tenants --------------------------------------------------------------------------------


def test_tenants_create_makes_the_organisation_with_built_in_roles(acme: Path) -> None:
    assert rows(acme, "SELECT slug, name FROM tenants") == [("acme", "Acme 有限公司")]
    roles = {r[0] for r in rows(acme, "SELECT name FROM roles")}
    assert roles == {"owner", "admin", "supervisor", "agent", "read-only"}


def test_creating_the_same_tenant_again_is_a_one_line_error(acme: Path, main: Any) -> None:
    code, _, err = main("tenants", "create", "acme")
    assert code == 1
    assert one_error_line(err) == "error: an organisation with slug 'acme' already exists"
    assert len(rows(acme, "SELECT id FROM tenants")) == 1


def test_invalid_slug_is_refused(acme: Path, main: Any) -> None:
    code, _, err = main("tenants", "create", "Not A Slug")
    assert code == 1
    assert "slug must be" in one_error_line(err)


# ---- users ----------------------------------------------------------------------------------


def test_users_create_adds_a_user_with_the_role(acme: Path) -> None:
    result = invoke(
        "users", "create", "--tenant", "acme", "--email", "a@b.cn",
        "--password", "long enough password", "--role", "agent",
    )
    assert "created user a@b.cn" in result.output
    found = rows(
        acme,
        "SELECT u.email, r.name, u.password_hash FROM users u "
        "JOIN user_roles ur ON ur.user_id = u.id JOIN roles r ON r.id = ur.role_id",
    )
    assert [(email, role) for email, role, _ in found] == [("a@b.cn", "agent")]
    assert found[0][2].startswith("$argon2")  # never the clear password


def test_unknown_role_is_a_one_line_error_and_creates_nothing(acme: Path, main: Any) -> None:
    code, _, err = main(
        "users", "create", "--tenant", "acme", "--email", "a@b.cn",
        "--password", "long enough password", "--role", "wizard",
    )
    assert code == 1
    assert one_error_line(err) == "error: role 'wizard' does not exist"
    assert rows(acme, "SELECT id FROM users") == []


def test_short_password_and_unknown_tenant_are_refused(acme: Path, main: Any) -> None:
    code, _, err = main(
        "users", "create", "--tenant", "acme", "--email", "a@b.cn", "--password", "short",
    )
    assert code == 1
    assert "password must be at least 10 characters" in one_error_line(err)
    code, _, err = main(
        "users", "create", "--tenant", "nope", "--email", "a@b.cn",
        "--password", "long enough password",
    )
    assert code == 1
    assert one_error_line(err) == "error: no organisation with slug 'nope'"


# ---- API keys -------------------------------------------------------------------------------


def test_apikeys_create_prints_the_key_once_and_stores_its_hash(acme: Path) -> None:
    result = invoke("apikeys", "create", "--tenant", "acme", "--name", "ci", "-p", "customers.read")
    key = next(line for line in result.output.splitlines() if line.startswith("rdk_"))
    stored = rows(acme, "SELECT name, prefix, key_hash, permissions FROM api_keys")
    assert len(stored) == 1
    name, prefix, key_hash, permissions = stored[0]
    assert name == "ci"
    assert key.startswith(f"rdk_{prefix}_")
    assert key_hash == hashlib.sha256(key.encode()).hexdigest()
    for stored_file in acme.glob("relaydesk.db*"):  # the database and its WAL
        assert key.encode() not in stored_file.read_bytes()
    assert "customers.read" in permissions


def test_unknown_permission_is_an_error_and_creates_no_key(acme: Path, main: Any) -> None:
    code, out, err = main(
        "apikeys", "create", "--tenant", "acme", "--name", "ci", "-p", "customers.fly",
    )
    assert code == 1
    assert one_error_line(err) == "error: unknown permission(s): customers.fly"
    assert "rdk_" not in out
    assert rows(acme, "SELECT id FROM api_keys") == []


# ---- errors that must stay one line ----


def test_error_messages_are_printed_verbatim(acme: Path, main: Any) -> None:
    code, _, err = main(
        "users", "create", "--tenant", "[/x]", "--email", "a@b.cn",
        "--password", "long enough password",
    )
    assert code == 1
    assert one_error_line(err) == "error: no organisation with slug '[/x]'"


def test_a_command_on_an_unmigrated_database_says_to_run_db_upgrade(
    data_dir: Path, main: Any
) -> None:
    code, _, err = main("tenants", "create", "acme")
    assert code == 1
    assert "relaydesk db upgrade" in one_error_line(err)


# ---- audit verify ---------------------------------------------------------------------------


def test_audit_verify_passes_then_detects_a_modified_row(acme: Path, main: Any) -> None:
    invoke(
        "users", "create", "--tenant", "acme", "--email", "a@b.cn",
        "--password", "long enough password",
    )
    code, out, _ = main("audit", "verify")
    assert code == 0
    assert "acme" in out and "intact" in out

    # someone with database access drops the append-only trigger and edits history
    with sqlite3.connect(acme / "relaydesk.db") as conn:
        conn.execute("DROP TRIGGER audit_log_no_update")
        conn.execute("UPDATE audit_log SET actor_label = 'nobody' WHERE seq = 2")

    code, out, _ = main("audit", "verify", "--tenant", "acme")
    assert code == 1
    assert "row 2: row content was modified" in out


# ---- settings -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [("db", "upgrade"), ("tenants", "create", "x"), ("serve",), ("audit", "verify")],
)
def test_an_invalid_setting_stops_any_command_with_one_line_naming_it(
    data_dir: Path, main: Any, monkeypatch: pytest.MonkeyPatch, command: tuple[str, ...]
) -> None:
    monkeypatch.setenv("RELAYDESK_DATABASE__URL", "mysql://x")
    code, _, err = main(*command)
    assert code == 2
    assert "RELAYDESK_DATABASE__URL" in one_error_line(err)
    assert not data_dir.exists()


# ---- serve and demo from any working directory ----------------------------------------------


def test_prepare_database_keeps_the_embedded_data_under_var_of_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    asyncio.run(serve_cmd.prepare_database(Settings()))
    assert (tmp_path / "var" / "relaydesk.db").is_file()
    assert rows(tmp_path / "var", "SELECT version_num FROM alembic_version")


@pytest.fixture
def no_server(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Replace uvicorn.run: record what would have been served."""
    calls: list[dict[str, Any]] = []

    def fake_run(app: Any, **kwargs: Any) -> None:
        calls.append({"app": app, **kwargs})

    real_serve = serve_cmd.uvicorn.Server.serve

    async def fake_serve(server: Any, sockets: Any = None) -> None:
        if server.config.port not in (8123, 8124):  # the demo systems really run
            await real_serve(server, sockets)
            return
        calls.append({"app": server.config.app, "host": server.config.host,
                      "port": server.config.port})

    monkeypatch.setattr(serve_cmd.uvicorn, "run", fake_run)
    monkeypatch.setattr(serve_cmd.uvicorn.Server, "serve", fake_serve)
    # create_app() points the root log handler at sys.stderr, which capsys closes afterwards
    monkeypatch.setattr("relaydesk.app.configure_logging", lambda *a, **k: None)
    return calls


def test_serve_from_another_directory_uses_its_var(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_server: list[dict[str, Any]]
) -> None:
    monkeypatch.chdir(tmp_path)
    serve_cmd.serve_app("127.0.0.1", 8123)
    assert (tmp_path / "var" / "relaydesk.db").is_file()
    assert (tmp_path / "var" / "secret.key").is_file()
    assert [(c["host"], c["port"]) for c in no_server] == [("127.0.0.1", 8123)]


def test_demo_seeds_once_and_prints_the_url_and_logins(
    data_dir: Path, main: Any, no_server: list[dict[str, Any]]
) -> None:
    base = str(free_base_port())
    code, out, _ = main("demo", "--port", "8124", "--systems-base-port", base)
    assert code == 0
    assert "http://127.0.0.1:8124/" in out
    assert f"http://127.0.0.1:{base}" in out, "the demo systems are listed"
    for email in ("owner@demo.relaydesk.local", "agent@demo.relaydesk.local"):
        assert email in out
    assert "relaydesk-demo" in out
    assert len(rows(data_dir, "SELECT id FROM customers")) == 31  # 30 and one web visitor

    code, again, _ = main("demo", "--port", "8124", "--systems-base-port", base)
    assert code == 0
    assert again == out
    assert len(rows(data_dir, "SELECT id FROM tenants WHERE slug = 'demo'")) == 1
    assert len(no_server) == 2


def test_long_lived_processes_run_on_uvloop_as_serve_does() -> None:
    """``relaydesk worker`` and ``relaydesk demo`` run their loop as uvicorn runs
    ``relaydesk serve``'s: on uvloop."""
    from relaydesk.cli.common import run_process

    async def loop_module() -> str:
        return type(asyncio.get_running_loop()).__module__

    assert run_process(loop_module()).startswith("uvloop")
