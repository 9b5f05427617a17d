"""`relaydesk keys rotate`: after a new key is configured, every connector config is
re-encrypted with it and still decrypts to the same values."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from relaydesk import cli
from relaydesk.cli.serve import prepare_database
from relaydesk.config import get_settings, load_settings
from relaydesk.demo.seed import seed_demo
from relaydesk.integrations.models import ConnectorInstance
from relaydesk.integrations.secrets import decrypt_config
from relaydesk.kit.crypto import Keyring, generate_key
from relaydesk.kit.db import Database


async def _configs(url: str, keyring: Keyring) -> dict[str, tuple[bytes, dict[str, object]]]:
    db = Database.from_url(url)
    try:
        async with db.job(system=True) as session:
            rows = (await session.execute(select(ConnectorInstance))).scalars().all()
            return {r.name: (r.config_encrypted, decrypt_config(keyring, r)) for r in rows}
    finally:
        await db.dispose()


def test_rotate_reencrypts_every_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RELAYDESK_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    settings = load_settings()
    asyncio.run(prepare_database(settings))
    asyncio.run(seed_demo(settings, systems_base_port=28101))
    before = asyncio.run(_configs(settings.database_url, Keyring.from_settings(settings)))
    assert len(before) == 7

    monkeypatch.setenv("RELAYDESK_SECURITY__ENCRYPTION_KEYS", json.dumps([generate_key()]))
    get_settings.cache_clear()
    rotated = load_settings()
    keyring = Keyring.from_settings(rotated)
    cli._register()
    runner = CliRunner()
    first = runner.invoke(cli.app, ["keys", "rotate"])
    assert first.exit_code == 0, first.output
    assert "re-encrypted 7 of 7" in first.output
    again = runner.invoke(cli.app, ["keys", "rotate"])
    assert "re-encrypted 0 of 7" in again.output

    after = asyncio.run(_configs(rotated.database_url, keyring))
    for name, (blob, config) in after.items():
        assert config == before[name][1], "values survive rotation"
        assert blob != before[name][0]
        assert not keyring.needs_rotation(blob), f"{name} still uses the old key"
    get_settings.cache_clear()
