"""``relaydesk openapi``: the OpenAPI document, without a server, a database or any settings.

The web UI's typed client is generated from a committed snapshot of this document
(``frontend/src/api/openapi.json``); its tests compare the snapshot with a fresh copy.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from pydantic import SecretStr

from relaydesk.config import DatabaseSettings, SecuritySettings, Settings


def document() -> dict[str, Any]:
    """The document ``/api/v1/openapi.json`` serves, independent of the environment.

    Settings are built without reading ``RELAYDESK_*`` (model_construct), with a throwaway
    secret and an in-memory database URL, so nothing is created on disk and nothing connects.
    """
    from relaydesk.app import create_app

    settings = Settings.model_construct(
        log_json=False,
        log_level="WARNING",
        database=DatabaseSettings(url="sqlite+aiosqlite:///:memory:"),
        security=SecuritySettings(secret_key=SecretStr("openapi-document-only")),
    )
    return create_app(settings).openapi()


def render() -> str:
    """Stable text: sorted keys would reorder paths, so keep FastAPI's order; 2-space indent."""
    return json.dumps(document(), indent=2, ensure_ascii=False) + "\n"


def register(app: typer.Typer) -> None:
    @app.command("openapi")
    def openapi(
        out: Path | None = typer.Option(
            None, "--out", "-o", help="Write to this file instead of standard output",
            dir_okay=False, writable=True,
        ),
    ) -> None:
        """Print (or write) the OpenAPI document of the REST API as JSON."""
        text = render()
        if out is None:
            typer.echo(text, nl=False)
            return
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
