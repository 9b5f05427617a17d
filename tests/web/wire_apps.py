"""Interim wiring for the web tests of routers that the shared ``relaydesk/app.py`` does not
include yet: embedded apps (router + CSP frame-src middleware) and the rules API (the rule
builder). Each part is a no-op once app.py includes it. Used by web_support.demo_server
(``import wire_apps``) and to generate the interim OpenAPI snapshot."""

from __future__ import annotations

import inspect
from typing import Any


def install() -> None:
    import relaydesk.app as app_module

    source = inspect.getsource(app_module)
    wire_apps = "relaydesk.apps" not in source
    wire_rules = "relaydesk.automation" not in source
    if not (wire_apps or wire_rules):
        return  # wired for real
    import relaydesk.apps  # registers apps.manage / apps.read before any seed
    import relaydesk.apps.models  # noqa: F401
    from relaydesk.apps.api import router as apps_router
    from relaydesk.apps.csp import FrameSrcMiddleware

    original_router = app_module.api_router
    original_create = app_module.create_app

    def api_router() -> Any:
        router = original_router()
        if wire_apps:
            router.include_router(apps_router)
        if wire_rules:
            from relaydesk.automation.api import router as rules_router

            router.include_router(rules_router)
        return router

    def create_app(*args: Any, **kwargs: Any) -> Any:
        app = original_create(*args, **kwargs)
        if wire_apps:
            app.add_middleware(FrameSrcMiddleware)
        return app

    app_module.api_router = api_router  # type: ignore[assignment]
    app_module.create_app = create_app  # type: ignore[assignment]
