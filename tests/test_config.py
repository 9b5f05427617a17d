from __future__ import annotations

import stat
from pathlib import Path

import pytest

from relaydesk.config import load_settings
from relaydesk.errors import ConfigError


def test_embedded_default_needs_no_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    s = load_settings()
    assert s.is_embedded
    assert s.database_url == f"sqlite+aiosqlite:///{tmp_path / 'var' / 'relaydesk.db'}"
    assert s.redis.url is None
    key = s.secret_key()
    assert len(key) >= 48
    assert load_settings().secret_key() == key, "the generated key must be kept"
    mode = stat.S_IMODE((tmp_path / "var" / "secret.key").stat().st_mode)
    assert mode == 0o600


def test_environment_switches_to_scaled_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELAYDESK_DATABASE__URL", "postgresql+asyncpg://u@db:5432/relaydesk")
    monkeypatch.setenv("RELAYDESK_REDIS__URL", "redis://cache:6379/0")
    s = load_settings()
    assert not s.is_embedded
    assert s.database_url.startswith("postgresql+asyncpg://")
    assert s.redis.url == "redis://cache:6379/0"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("RELAYDESK_DATABASE__URL", "mysql://root@localhost/x"),
        ("RELAYDESK_REDIS__URL", "http://cache"),
        ("RELAYDESK_SECURITY__LOCKOUT_THRESHOLD", "many"),
        ("RELAYDESK_HTTP__MAX_BODY_BYTES", "12"),
        ("RELAYDESK_LOG_LEVEL", "LOUD"),
        ("RELAYDESK_DATABSE__URL", "sqlite+aiosqlite:///x.db"),
    ],
)
def test_bad_setting_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert name in message
    assert "\n" not in message


def test_configured_secret_wins_and_is_not_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RELAYDESK_SECURITY__SECRET_KEY", "s" * 50)
    assert load_settings().secret_key() == "s" * 50
    assert not (tmp_path / "var" / "secret.key").exists()
