"""``relaydesk events docs``: regenerate (or ``--check``) docs/events.md from the catalogue.

Registered on the ``events`` command group (:func:`register`); the same as
``python -m relaydesk.events.docs`` (``make events-docs``).
"""

from __future__ import annotations

from pathlib import Path

import typer

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    @app.command("docs")
    def docs(
        check: bool = typer.Option(False, "--check", help="Exit 1 when the file is stale"),
        output: Path | None = typer.Option(None, help="Where to write (default docs/events.md)"),
    ) -> None:
        """Render the event reference (docs/events.md) from the event catalogue."""
        from relaydesk.events.docs import DOC_PATH, main

        args = ["--output", str(output or DOC_PATH)] + (["--check"] if check else [])
        code = main(args)
        if code:
            raise typer.Exit(code)
