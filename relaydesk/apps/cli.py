"""``relaydesk apps keys ...``: the signing keys of embedded apps' context tokens."""

from __future__ import annotations

import datetime as dt

import typer
from rich.console import Console

from relaydesk.apps.keys import (
    DEFAULT_ACTIVATE_IN,
    published_keys,
    reencrypt_keys,
    retire_superseded,
    rotate,
)
from relaydesk.apps.service import TOKEN_LIFETIME
from relaydesk.cli.common import run
from relaydesk.config import Settings
from relaydesk.kit.crypto import Keyring
from relaydesk.kit.db import Database

app = typer.Typer(help="Embedded apps.", no_args_is_help=True)
keys_app = typer.Typer(help="Keys that sign context tokens (published as a JWKS).",
                       no_args_is_help=True)  # fmt: skip
app.add_typer(keys_app, name="keys")
console = Console(soft_wrap=True)


@keys_app.command("list")
def list_keys() -> None:
    """The published keys (newest first) and when each signs from."""

    async def _go(settings: Settings, db: Database) -> list[tuple[str, dt.datetime]]:
        async with db.job(system=True) as session:
            return [(k.kid, k.activates_at) for k in await published_keys(session)]

    for kid, activates_at in run(_go):
        console.print(f"{kid}  signs from {activates_at.isoformat(timespec='seconds')}")


@keys_app.command("rotate")
def rotate_key(
    activate_in: int = typer.Option(
        int(DEFAULT_ACTIVATE_IN.total_seconds()),
        min=0,
        help="Seconds the new key is published before it signs (let verifiers refresh)",
    ),
) -> None:
    """Add a new signing key. The previous keys stay published until `retire`."""

    async def _go(settings: Settings, db: Database) -> tuple[str, dt.datetime]:
        async with db.job(system=True) as session:
            key = await rotate(session, Keyring.from_settings(settings),
                               dt.timedelta(seconds=activate_in))  # fmt: skip
            return key.kid, key.activates_at

    kid, at = run(_go)
    console.print(f"new key {kid} is published now and signs from {at.isoformat()}")


@keys_app.command("retire")
def retire() -> None:
    """Stop publishing keys superseded for longer than a token lives (5 minutes)."""

    async def _go(settings: Settings, db: Database) -> list[str]:
        async with db.job(system=True) as session:
            return await retire_superseded(session, TOKEN_LIFETIME)

    retired = run(_go)
    console.print(f"retired {len(retired)} key(s): {', '.join(retired) or '-'}")


@keys_app.command("reencrypt")
def reencrypt() -> None:
    """Re-encrypt the private keys with the newest RELAYDESK_SECURITY__ENCRYPTION_KEYS key
    (run it with `relaydesk keys rotate`)."""

    async def _go(settings: Settings, db: Database) -> int:
        async with db.job(system=True) as session:
            return await reencrypt_keys(session, Keyring.from_settings(settings))

    console.print(f"re-encrypted {run(_go)} signing key(s) with the newest key")
