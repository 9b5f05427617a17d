"""Serving the built web UI (source in ``frontend/``, built into ``relaydesk/web/dist``)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

DIST = Path(__file__).parent / "dist"


def mount(app: FastAPI) -> bool:
    """Mount the single-page app at ``/`` if it has been built; False when it has not."""
    if not (DIST / "index.html").is_file():
        return False
    from relaydesk.web.spa import mount_spa

    mount_spa(app, DIST)
    return True
