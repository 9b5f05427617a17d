"""The web chat channel: the embeddable widget's endpoints, the visitors' WebSocket, delivery.

Importing this package registers the ``web_chat`` inbox settings model and the delivery
adapter. :func:`mount` adds the public widget routes (``/widget/...``), the admin routes
(``/api/v1/channels/web-chat/{id}/...``), CORS for the widget's API and binds the runtime.
See docs/channels.md ("Web chat").
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from relaydesk.channels import register_settings_model
from relaydesk.channels.webchat.adapter import WebChatAdapter
from relaydesk.channels.webchat.runtime import (
    VisitorPresence,
    WebChatRuntime,
    bind_webchat_runtime,
    webchat_runtime,
)
from relaydesk.channels.webchat.settings import WebChatSettings
from relaydesk.channels.webchat.tokens import Signer, user_hash
from relaydesk.conversations.delivery import register_adapter

register_settings_model("web_chat", WebChatSettings)
ADAPTER = register_adapter(WebChatAdapter())

__all__ = [
    "ADAPTER",
    "WebChatRuntime",
    "WebChatSettings",
    "bind_webchat_runtime",
    "is_mounted",
    "mount",
    "user_hash",
    "webchat_runtime",
]


def is_mounted(app: FastAPI) -> bool:
    return bool(getattr(app.state, "webchat_mounted", False))


def mount(app: FastAPI, api_prefix: str = "/api/v1") -> None:
    """Add the web chat's routes and CORS to ``app`` (before it starts; idempotent)."""
    if is_mounted(app):
        return
    from relaydesk.channels.email.storage import storage_from_settings
    from relaydesk.channels.webchat.admin_api import router as admin_router
    from relaydesk.channels.webchat.public_api import WidgetCors
    from relaydesk.channels.webchat.public_api import router as public_router
    from relaydesk.channels.webchat.socket import router as socket_router

    state = app.state

    def redis() -> Any:
        return getattr(state, "redis", None)

    bind_webchat_runtime(
        state.db,
        WebChatRuntime(
            signer=Signer(state.secret),
            keyring=state.keyring,
            storage=storage_from_settings(state.settings),  # local disk, or S3 when configured
            presence=VisitorPresence(redis),
            rate_limiter=state.rate_limiter,
        ),
    )
    app.include_router(public_router)
    app.include_router(socket_router)
    app.include_router(admin_router, prefix=api_prefix)
    app.add_middleware(WidgetCors)
    state.webchat_mounted = True
