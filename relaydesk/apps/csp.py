"""``frame-src`` for the workbench page: the origins of the enabled embedded apps.

The workbench is one static page for every organisation, loaded before anyone signs in, so
its Content-Security-Policy cannot depend on the signed-in tenant. :class:`FrameSrcMiddleware`
(outermost ASGI middleware) adds ``frame-src 'self' <origins>`` to the CSP of HTML responses,
where the origins are those of every enabled app of the deployment, cached for a few seconds
and reloaded at once in this process when an app changes (other processes: within
``ttl`` seconds). JSON responses are not touched. Trade-off: the page's header lists the
registered origins of every organisation on this deployment (not their URLs or names).
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import structlog
from sqlalchemy import select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from relaydesk.apps.models import EmbeddedApp
from relaydesk.apps.service import CHANGED_CHANNEL
from relaydesk.kit.commit_hooks import add_listener
from relaydesk.kit.db import Database, mark_system

_log = structlog.get_logger("relaydesk.apps")

__all__ = ["FrameOrigins", "FrameSrcMiddleware", "with_frame_src"]


def with_frame_src(csp: str, origins: Iterable[str]) -> str:
    """``csp`` with its ``frame-src`` replaced by ``'self'`` and ``origins``."""
    value = " ".join(["frame-src", "'self'", *sorted(set(origins))])
    directives = [d.strip() for d in csp.split(";") if d.strip()]
    kept = [d for d in directives if d.split()[0].lower() != "frame-src"]
    return "; ".join([*kept, value])


class FrameOrigins:
    """The origins of every enabled app, cached for ``ttl`` seconds."""

    def __init__(self, db: Database, ttl: float = 15.0) -> None:
        self.db = db
        self.ttl = ttl
        self._value: tuple[str, ...] = ()
        self._loaded_at = -1e9
        add_listener(CHANGED_CHANNEL, self.invalidate)

    def invalidate(self) -> None:
        self._loaded_at = -1e9

    async def get(self) -> tuple[str, ...]:
        if time.monotonic() - self._loaded_at < self.ttl:
            return self._value
        try:
            async with self.db.sessionmaker() as session:
                mark_system(session)
                rows = await session.execute(
                    select(EmbeddedApp.origins).where(EmbeddedApp.enabled.is_(True))
                )
                found = {o for (origins,) in rows for o in (origins or [])}
        except Exception:  # the page must still load: keep the last known origins
            _log.warning("frame_origins.load_failed", exc_info=True)
            return self._value
        self._value = tuple(sorted(found))
        self._loaded_at = time.monotonic()
        return self._value


class FrameSrcMiddleware:
    """Rewrites the CSP header of HTML responses (set by RequestContextMiddleware, so add this
    one after it: the last added runs first). ``app.state.frame_origins`` is made on first use
    from ``app.state.db``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        state = scope["app"].state

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = await self._rewrite(state, message)
            await send(message)

        await self.app(scope, receive, wrapped)

    @staticmethod
    async def _rewrite(state: object, message: Message) -> Message:
        headers = list(message.get("headers", []))
        html = any(n.lower() == b"content-type" and v.startswith(b"text/html") for n, v in headers)
        if not html:
            return message
        frames: FrameOrigins | None = getattr(state, "frame_origins", None)
        if frames is None:
            frames = FrameOrigins(state.db)  # type: ignore[attr-defined]
            state.frame_origins = frames  # type: ignore[attr-defined]
        origins = await frames.get()
        out = []
        for name, value in headers:
            if name.lower() == b"content-security-policy":
                value = with_frame_src(value.decode("latin-1"), origins).encode("latin-1")
            out.append((name, value))
        return {**message, "headers": out}
