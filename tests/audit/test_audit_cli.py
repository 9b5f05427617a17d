"""``relaydesk audit verify`` against a real SQLite file, as an operator would run it."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from relaydesk import cli
from relaydesk.config import get_settings

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("RELAYDESK_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    if not cli.app.registered_groups:  # _register() adds the sub-commands once
        cli._register()
    yield tmp_path
    get_settings.cache_clear()


def _run(*args: str) -> Result:
    return runner.invoke(cli.app, list(args), catch_exceptions=False)


@pytest.fixture
def database(data_dir: Path) -> Path:
    assert _run("db", "upgrade").exit_code == 0
    assert _run("tenants", "create", "acme", "--name", "Acme").exit_code == 0
    assert _run("tenants", "create", "globex").exit_code == 0
    for email in ("ann@acme.example.com", "bob@acme.example.com"):
        result = _run("users", "create", "--tenant", "acme", "--email", email,
                      "--password", "long enough password", "--role", "agent")
        assert result.exit_code == 0, result.output
    path = data_dir / "relaydesk.db"
    assert path.exists()
    return path


def _tamper(path: Path, sql: str) -> None:
    conn = sqlite3.connect(path)
    try:
        conn.execute("DROP TRIGGER audit_log_no_update")
        conn.execute("DROP TRIGGER audit_log_no_delete")
        tenant = conn.execute("SELECT id FROM tenants WHERE slug = 'acme'").fetchone()[0]
        conn.execute(sql, (tenant,))
        conn.commit()
    finally:
        conn.close()


def test_intact_log_exits_0(database: Path) -> None:
    result = _run("audit", "verify")
    assert result.exit_code == 0, result.output
    assert "acme" in result.output and "globex" in result.output
    assert "intact" in result.output
    assert "problem" not in result.output


def test_modified_row_exits_1_and_names_it(database: Path) -> None:
    _tamper(
        database,
        "UPDATE audit_log SET details = '{\"roles\": [\"owner\"]}' WHERE tenant_id = ? AND seq = 2",
    )
    result = _run("audit", "verify")
    assert result.exit_code == 1
    assert "acme: row 2: row content was modified" in result.output
    assert "globex:" not in result.output
    # one organisation at a time
    assert _run("audit", "verify", "--tenant", "globex").exit_code == 0
    assert _run("audit", "verify", "--tenant", "acme").exit_code == 1


def test_deleted_row_exits_1_and_names_it(database: Path) -> None:
    _tamper(database, "DELETE FROM audit_log WHERE tenant_id = ? AND seq = 2")
    result = _run("audit", "verify", "--tenant", "acme")
    assert result.exit_code == 1
    assert "acme: row 2: rows 2..2 missing" in result.output
    assert "acme: row 3: link to the previous row is broken" in result.output


def test_deleted_tail_exits_1(database: Path) -> None:
    _tamper(database, "DELETE FROM audit_log WHERE tenant_id = ? AND seq = 3")
    result = _run("audit", "verify")
    assert result.exit_code == 1
    assert "acme: row 3: chain head is at 3 but the log ends at 2" in result.output


def test_triggers_refuse_tampering_on_the_file(database: Path) -> None:
    conn = sqlite3.connect(database)
    try:
        for sql in ("UPDATE audit_log SET action = 'x'", "DELETE FROM audit_log"):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                conn.execute(sql)
    finally:
        conn.close()
    assert _run("audit", "verify").exit_code == 0
