"""Static files for the single-page app; unknown non-API paths fall back to index.html.

The fallback is done in the 404 handler rather than by a catch-all route, so every route
(including ones added after start-up) keeps precedence over the app shell.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles

RESERVED = ("/api/", "/hooks/", "/widget/", "/healthz", "/readyz", "/metrics", "/assets/")


def mount_spa(app: FastAPI, dist: Path) -> None:
    assets = dist / "assets"
    if assets.is_dir():
        app.mount("/assets", StaticFiles(directory=assets), name="web-assets")
    app.state.spa_dist = dist.resolve()


def spa_fallback(request: Request) -> Response | None:
    """index.html (or a top-level file of the build) for a GET the API does not know."""
    dist: Path | None = getattr(request.app.state, "spa_dist", None)
    path = request.url.path
    if dist is None or request.method not in ("GET", "HEAD") or path.startswith(RESERVED):
        return None
    candidate = (dist / path.lstrip("/")).resolve()
    if path != "/" and candidate.is_file() and dist in candidate.parents:
        return FileResponse(candidate)
    return FileResponse(dist / "index.html", headers={"Cache-Control": "no-cache"})
