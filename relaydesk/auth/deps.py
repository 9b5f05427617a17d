"""FastAPI dependencies: who is calling, and may they do this.

Use the annotated forms in route signatures, Polar-style::

    async def list_users(principal: Annotated[Principal, Depends(Require("users.read"))]): ...
"""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from relaydesk.auth.cache import PrincipalCache
from relaydesk.auth.principal import Principal
from relaydesk.auth.security import API_KEY_PREFIX
from relaydesk.auth.service import Authenticator, IpNotAllowed, ip_allowed
from relaydesk.errors import Forbidden, TooManyRequests, Unauthorized
from relaydesk.kit.context import client_ip_var
from relaydesk.kit.db import DbSession, scope_session
from relaydesk.kit.middleware import guarded_hit

_bearer = HTTPBearer(auto_error=False, description="Access token from /auth/login, or an API key")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key (rdk_...)")


async def current_principal(
    request: Request,
    session: DbSession,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None,
    api_key: Annotated[str | None, Security(_api_key)] = None,
) -> Principal:
    cached: Principal | None = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    state = request.app.state
    token = api_key or (bearer.credentials if bearer else None)
    if not token:
        raise Unauthorized()
    ip = client_ip_var.get()
    cache: PrincipalCache = state.principal_cache
    key = cache.key(token)
    hit = cache.get(key)
    if hit is not None:
        if not ip_allowed(hit.ip_allowlist, ip):
            raise IpNotAllowed()
        principal = hit.principal
    else:
        authn = Authenticator(session, state.db, state.settings, state.secret)
        if token.startswith(API_KEY_PREFIX):
            principal, allowlist, valid_for = await authn.from_api_key(token, ip)
        else:
            principal, allowlist, valid_for = await authn.from_access_token(token, ip)
        cache.put(key, principal, allowlist, valid_for)
    if principal.kind == "api_key":
        limit = state.settings.http.rate_limit_api_key_per_minute
        decision = await guarded_hit(state.rate_limiter, f"key:{principal.id}", limit)
        if not decision.allowed:
            raise TooManyRequests(decision.retry_after, "Rate limit of this API key exceeded")
    scope_session(session, principal.tenant_id, principal.department_ids)
    structlog.contextvars.bind_contextvars(
        tenant=principal.tenant_slug, principal=f"{principal.kind}:{principal.id}"
    )
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


class Require:
    """A dependency that passes only principals holding every listed permission."""

    def __init__(self, *permissions: str) -> None:
        self.permissions = permissions

    async def __call__(self, principal: CurrentPrincipal) -> Principal:
        missing = [p for p in self.permissions if not principal.has(p)]
        if missing:
            raise Forbidden(
                f"Missing permission: {', '.join(missing)}", details={"missing": missing}
            )
        return principal


def requires(*permissions: str) -> type[Principal]:
    """``Annotated[Principal, Depends(Require(...))]`` in one word."""
    return Annotated[Principal, Depends(Require(*permissions))]  # type: ignore[return-value]
