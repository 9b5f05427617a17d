"""The application factory. ``create_app()`` reads nothing until it is called."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from relaydesk import __version__, health
from relaydesk.auth.cache import PrincipalCache
from relaydesk.auth.cache import register as register_cache
from relaydesk.config import Settings, get_settings
from relaydesk.integrations import hooks_api
from relaydesk.integrations.registry import RuntimeRegistry
from relaydesk.kit import errorhandlers
from relaydesk.kit.crypto import Keyring
from relaydesk.kit.db import Database
from relaydesk.kit.idempotency import IdempotencyMiddleware
from relaydesk.kit.logging import configure_logging
from relaydesk.kit.middleware import RequestContextMiddleware
from relaydesk.kit.ratelimit import make_rate_limiter
from relaydesk.kit.xml_negotiation import XmlNegotiationMiddleware
from relaydesk.wiring import bind_process, start_hub, stop_hub

API_PREFIX = "/api/v1"


def api_router() -> APIRouter:
    from relaydesk.apps.api import router as apps_router
    from relaydesk.audit.api import router as audit_router
    from relaydesk.auth.api import router as auth_router
    from relaydesk.auth.apikeys_api import router as apikeys_router
    from relaydesk.auth.users_api import router as users_router
    from relaydesk.automation.api import router as rules_router
    from relaydesk.channels.api_channel import router as api_channel_router
    from relaydesk.channels.sms import router as sms_router
    from relaydesk.channels.voice import router as voice_router
    from relaydesk.conversations.api import router as conversations_router
    from relaydesk.customer360.api import router as customer360_router
    from relaydesk.customers.api import router as customers_router
    from relaydesk.events.api import router as events_router
    from relaydesk.integrations.api import router as connectors_router
    from relaydesk.integrations.inbox_api import router as inbox_router
    from relaydesk.notifications.api import router as notifications_router
    from relaydesk.realtime.api import router as realtime_router
    from relaydesk.reports.api import router as reports_router
    from relaydesk.routing.api import router as routing_router
    from relaydesk.sagas.api import router as sagas_router
    from relaydesk.tenancy.api import router as tenancy_router
    from relaydesk.webhooks.api import router as webhooks_router

    router = APIRouter(prefix=API_PREFIX)
    for sub in (auth_router, tenancy_router, users_router, apikeys_router, audit_router,
                customers_router, connectors_router, conversations_router,
                realtime_router, routing_router, inbox_router, sagas_router, rules_router,
                notifications_router, apps_router, events_router, sms_router,
                api_channel_router, webhooks_router, voice_router, reports_router,
                customer360_router):
        router.include_router(sub)
    return router


def settle_heap() -> None:
    """After start-up: what it allocated lives as long as the process, so it leaves the
    collector's sight; full collections then no longer scan it and pause requests for
    0.1–0.3 s (docs/benchmarks.md)."""
    gc.collect()
    gc.freeze()


def create_app(settings: Settings | None = None, db: Database | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level, json=settings.log_json)
    rate_limiter = make_rate_limiter(settings.redis.url)
    owns_db = db is None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        redis = None
        if settings.redis.url:
            from redis.asyncio import Redis

            redis = Redis.from_url(settings.redis.url)
        app.state.redis = redis
        app.state.connectors.redis = redis
        bind_process(app.state.db, registry=app.state.connectors, keyring=app.state.keyring,
                     rate_limiter=rate_limiter)  # fmt: skip
        hub = app.state.hub = await start_hub(settings)
        inbox = events_runtime = None
        if owns_db:  # tests pass their own Database and drive the inbox and the bus themselves
            from relaydesk.events.runtime import EventRuntime
            from relaydesk.integrations.inbox import InboxProcessor

            inbox = app.state.inbox_processor = InboxProcessor(app.state.db)
            inbox.start()
            events_runtime = app.state.events = EventRuntime(
                app.state.db, settings, notify_only=not settings.events.run_in_api
            )
            await events_runtime.start()
            settle_heap()
        try:
            yield
        finally:
            if events_runtime is not None:
                await events_runtime.stop()  # before the database is disposed
            if inbox is not None:
                await inbox.stop()
            await stop_hub(hub)
            from relaydesk.webhooks import runtime as webhooks_runtime

            await webhooks_runtime.runtime().aclose()
            await app.state.connectors.aclose()
            if redis is not None:
                await redis.aclose()
            closer = getattr(rate_limiter, "aclose", None)
            if closer is not None:
                await closer()
            if owns_db:
                await app.state.db.dispose()

    app = FastAPI(
        title="Relaydesk API",
        version=__version__,
        summary="Omnichannel customer service that works with the systems you already run.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
        # Relaydesk has its own Prometheus metrics and structured logs; FastAPI's native
        # OpenTelemetry hooks would otherwise look for providers on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.state.settings = settings
    app.state.secret = settings.secret_key()
    app.state.db = db or Database.from_url(
        settings.database_url, echo=settings.database.echo, pool_size=settings.database.pool_size
    )
    app.state.rate_limiter = rate_limiter
    app.state.principal_cache = register_cache(
        PrincipalCache(ttl=settings.security.principal_cache_seconds)
    )
    app.state.redis = None
    app.state.keyring = Keyring.from_settings(settings)
    from relaydesk.webhooks import runtime as webhooks_runtime

    webhooks_runtime.configure(keyring=app.state.keyring, limiter=rate_limiter)
    app.state.connectors = RuntimeRegistry()
    from relaydesk.channels import load_channels
    from relaydesk.channels.email.runtime import EmailRuntime, bind_email_runtime
    from relaydesk.channels.email.storage import storage_from_settings

    load_channels()
    from relaydesk.channels.sms.runtime import bind_keyring

    bind_keyring(app.state.db, app.state.keyring)
    email = EmailRuntime(app.state.keyring, storage_from_settings(settings))
    bind_email_runtime(app.state.db, email)
    errorhandlers.install(app)
    app.include_router(health.router)
    app.include_router(api_router())
    hooks_api.mount(app)  # inbound callbacks; ahead of every other route
    from relaydesk.channels import webchat

    webchat.mount(app)  # /widget/*: the visitors' socket, widget.js, public endpoints
    _mount_docs(app)
    _mount_web(app)
    # the last added runs first: request context → idempotency → XML negotiation → routes
    app.add_middleware(XmlNegotiationMiddleware)
    app.add_middleware(IdempotencyMiddleware)
    app.add_middleware(RequestContextMiddleware, settings=settings, rate_limiter=rate_limiter)
    from relaydesk.apps.csp import FrameSrcMiddleware

    app.add_middleware(FrameSrcMiddleware)  # sets frame-src for embedded apps
    # outermost: POST /hooks/... inside its own request context, past everything above
    app.add_middleware(hooks_api.HooksBranch, settings=settings, rate_limiter=rate_limiter)
    return app


def _mount_web(app: FastAPI) -> None:
    """The built workbench when present (``make web``), else the root points at the API docs."""
    from relaydesk.web import mount

    if not mount(app):

        @app.get("/", include_in_schema=False)
        async def root() -> RedirectResponse:
            return RedirectResponse(f"{API_PREFIX}/docs")


def _mount_docs(app: FastAPI) -> None:
    """Interactive docs served from the package: works on an intranet with no CDN."""
    static = Path(fastapi_offline.__file__).parent / "static"
    app.mount(f"{API_PREFIX}/docs/static", StaticFiles(directory=static), name="docs-static")

    @app.get(f"{API_PREFIX}/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=f"{API_PREFIX}/openapi.json",
            title="Relaydesk API",
            swagger_js_url=f"{API_PREFIX}/docs/static/swagger-ui-bundle.js",
            swagger_css_url=f"{API_PREFIX}/docs/static/swagger-ui.css",
            swagger_favicon_url=f"{API_PREFIX}/docs/static/favicon.png",
        )
