"""``relaydesk apps keys``: list, rotate (published first, signs later), retire, reencrypt."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from relaydesk.apps.cli import app as apps_cli
from relaydesk.cli import _register
from relaydesk.cli import app as main_cli
from relaydesk.config import get_settings

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("RELAYDESK_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    _register()
    assert runner.invoke(main_cli, ["db", "upgrade"]).exit_code == 0
    yield tmp_path / "data"
    get_settings.cache_clear()


def _kids(output: str) -> list[str]:
    return [line.split()[0] for line in output.splitlines() if "signs from" in line]


def test_rotate_list_retire_reencrypt(data_dir: Path) -> None:
    out = runner.invoke(apps_cli, ["keys", "list"])
    assert out.exit_code == 0 and _kids(out.output) == []
    first = runner.invoke(apps_cli, ["keys", "rotate", "--activate-in", "0"])
    assert first.exit_code == 0, first.output
    second = runner.invoke(apps_cli, ["keys", "rotate"])
    assert "is published now and signs from" in second.output
    listed = _kids(runner.invoke(apps_cli, ["keys", "list"]).output)
    assert len(listed) == 2
    # the second key signs only in 10 minutes: nothing can be retired yet
    out = runner.invoke(apps_cli, ["keys", "retire"])
    assert out.exit_code == 0 and "retired 0 key(s)" in out.output
    out = runner.invoke(apps_cli, ["keys", "reencrypt"])
    assert out.exit_code == 0 and "re-encrypted 0 signing key(s)" in out.output
