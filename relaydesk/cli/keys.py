"""``relaydesk keys rotate``: re-encrypt every connector config with the newest key."""

from __future__ import annotations

import typer
from rich.console import Console
from sqlalchemy import select

from relaydesk.audit import service as audit
from relaydesk.audit.service import SYSTEM
from relaydesk.cli.common import run
from relaydesk.config import Settings
from relaydesk.integrations.models import ConnectorInstance
from relaydesk.integrations.secrets import rotate_config
from relaydesk.kit.crypto import Keyring
from relaydesk.kit.db import Database

app = typer.Typer(help="Encryption keys for secrets at rest.", no_args_is_help=True)
console = Console()


@app.command("rotate")
def rotate() -> None:
    """After adding a new first key to RELAYDESK_SECURITY__ENCRYPTION_KEYS, re-encrypt every
    connector instance's config with it (older keys can then be removed)."""

    async def _go(settings: Settings, db: Database) -> tuple[int, int]:
        keyring = Keyring.from_settings(settings)
        changed = total = 0
        async with db.job(system=True) as session:
            for instance in (await session.execute(select(ConnectorInstance))).scalars():
                total += 1
                if rotate_config(keyring, instance):
                    changed += 1
                    await audit.record(
                        session, tenant_id=instance.tenant_id, action="connector.key_rotated",
                        actor=SYSTEM, target_type="connector_instance", target_id=instance.id,
                    )
        return changed, total

    changed, total = run(_go)
    console.print(f"re-encrypted {changed} of {total} connector configs with the newest key")
