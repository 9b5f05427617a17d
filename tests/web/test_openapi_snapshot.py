"""The web UI's typed client is generated from frontend/src/api/openapi.json: it must be current.

A change to the API that forgets the snapshot fails here, in the backend's own test run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner
from web_support import ROOT, SNAPSHOT, clean_env

FIX = "run `make api-snapshot` (or `npm run api:generate` in frontend/) and commit the result"


def _fresh_document() -> str:
    # a separate interpreter: create_app() configures logging, which must not leak into others
    out = subprocess.run(
        [sys.executable, "-c",
         "import sys; from relaydesk.cli.openapi import render; sys.stdout.write(render())"],
        cwd=ROOT, env=clean_env(), capture_output=True, text=True, check=True, timeout=120,
    )
    return out.stdout


def test_snapshot_matches_the_backend() -> None:
    fresh = _fresh_document()
    committed = SNAPSHOT.read_text(encoding="utf-8")
    assert json.loads(committed) == json.loads(fresh), f"the API changed: {FIX}"
    assert committed == fresh, f"the snapshot's formatting differs: {FIX}"


def test_cli_prints_and_writes_the_document(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import typer

    from relaydesk.cli import openapi

    app = typer.Typer()
    openapi.register(app)

    @app.command("other")
    def other() -> None:  # a second command keeps Typer in multi-command mode, as in the CLI
        """Unused."""

    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    printed = runner.invoke(app, ["openapi"])
    assert printed.exit_code == 0, printed.output
    doc = json.loads(printed.output)
    assert doc["openapi"].startswith("3.1")
    assert "/api/v1/customers/{customer_id}/reveal" in doc["paths"]
    assert "ErrorResponse" in doc["components"]["schemas"]

    target = tmp_path / "out" / "openapi.json"
    written = runner.invoke(app, ["openapi", "--out", str(target)])
    assert written.exit_code == 0, written.output
    assert json.loads(target.read_text(encoding="utf-8")) == doc
    # neither a database nor a generated secret was created in the working directory
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
