from __future__ import annotations

from fastapi import APIRouter, Request, status

from relaydesk.auth.deps import CurrentPrincipal
from relaydesk.auth.schemas import LoginIn, MeOut, RefreshIn, TokenOut
from relaydesk.auth.service import AuthService, TokenPair
from relaydesk.kit.context import client_ip_var
from relaydesk.kit.db import DbSession, utcnow
from relaydesk.kit.schemas import COMMON_ERRORS, error_responses

router = APIRouter(prefix="/auth", tags=["auth"])


def _service(request: Request, session: DbSession) -> AuthService:
    state = request.app.state
    return AuthService(session, state.settings, state.secret)


def _out(pair: TokenPair) -> TokenOut:
    return TokenOut(
        access_token=pair.access_token,
        expires_in=max(1, int((pair.access_expires_at - utcnow()).total_seconds())),
        refresh_token=pair.refresh_token,
        session_expires_at=pair.session_expires_at,
    )


@router.post("/login", response_model=TokenOut, responses=error_responses(400, 401, 403, 422, 429))
async def login(body: LoginIn, request: Request, session: DbSession) -> TokenOut:
    """Sign in with e-mail and password; repeated failures lock the account for a while."""
    pair = await _service(request, session).login(
        tenant_slug=body.tenant, email=body.email, password=body.password,
        ip=client_ip_var.get(), user_agent=request.headers.get("user-agent"),
    )
    return _out(pair)


@router.post("/refresh", response_model=TokenOut, responses=error_responses(400, 401, 422, 429))
async def refresh(body: RefreshIn, request: Request, session: DbSession) -> TokenOut:
    """Exchange a refresh token (used once) for a new access and refresh token."""
    return _out(await _service(request, session).refresh(body.refresh_token, client_ip_var.get()))


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, responses=COMMON_ERRORS)
async def logout(principal: CurrentPrincipal, request: Request, session: DbSession) -> None:
    """Revoke this sign-in: its access and refresh tokens stop working at once."""
    await _service(request, session).logout(principal)


@router.get("/me", response_model=MeOut, responses=COMMON_ERRORS)
async def me(principal: CurrentPrincipal) -> MeOut:
    return MeOut(
        kind=principal.kind, id=principal.id, tenant_id=principal.tenant_id,
        tenant=principal.tenant_slug, label=principal.label,
        permissions=sorted(principal.permissions),
        department_scoped=principal.department_ids is not None,
    )
