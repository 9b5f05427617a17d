"""``/api/v1/apps``: embedded apps (``apps.manage`` to change, ``apps.read`` to see and open),
context tokens, and the public JWKS that apps verify the tokens with."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status

from relaydesk.apps.keys import SigningKeys
from relaydesk.apps.schemas import (
    AppIn,
    AppOut,
    AppPatch,
    ContextIn,
    ContextOut,
    JwksOut,
    Placement,
)
from relaydesk.apps.service import AppService, app_out
from relaydesk.auth.deps import Require
from relaydesk.auth.principal import Principal
from relaydesk.integrations.api import get_keyring
from relaydesk.kit.db import DbSession
from relaydesk.kit.pagination import Page
from relaydesk.kit.schemas import COMMON_ERRORS, error_responses

__all__ = ["get_signing_keys", "router"]

router = APIRouter(prefix="/apps", tags=["embedded apps"])

Reader = Annotated[Principal, Depends(Require("apps.read"))]
Manager = Annotated[Principal, Depends(Require("apps.manage"))]
AppId = Annotated[uuid.UUID, Path(description="The embedded app's id")]
JWKS_MAX_AGE = 300


def get_signing_keys(request: Request) -> SigningKeys:
    """``app.state.app_signing_keys`` (made on first use)."""
    state = request.app.state
    keys: SigningKeys | None = getattr(state, "app_signing_keys", None)
    if keys is None:
        keys = state.app_signing_keys = SigningKeys(get_keyring(request))
    return keys


Keys = Annotated[SigningKeys, Depends(get_signing_keys)]


@router.get("/jwks.json", response_model=JwksOut, responses=error_responses(429))
async def jwks(response: Response, session: DbSession, keys: Keys) -> JwksOut:
    """The public keys (JWK Set) that verify context tokens. Public: no credentials. Select
    the key by the token's ``kid``; fetch again when a token names an unknown ``kid``."""
    response.headers["Cache-Control"] = f"public, max-age={JWKS_MAX_AGE}"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return JwksOut(keys=await keys.jwks(session))


@router.get("", response_model=Page[AppOut], responses=COMMON_ERRORS)
async def list_apps(
    principal: Reader,
    session: DbSession,
    placement: Annotated[Placement | None, Query()] = None,
    enabled: Annotated[bool | None, Query()] = None,
) -> Page[AppOut]:
    """The organisation's apps by name (one page: an organisation has a handful)."""
    apps = await AppService(session, principal).listed(placement=placement, enabled=enabled)
    return Page[AppOut](items=[app_out(a) for a in apps], next_cursor=None)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=AppOut,
    responses={**COMMON_ERRORS, **error_responses(409)},
)
async def register_app(body: AppIn, principal: Manager, session: DbSession) -> AppOut:
    """Register an app (audited as ``app.created``)."""
    return app_out(await AppService(session, principal).create(body))


@router.get("/{app_id}", response_model=AppOut, responses=COMMON_ERRORS)
async def get_app(app_id: AppId, principal: Reader, session: DbSession) -> AppOut:
    return app_out(await AppService(session, principal).get(app_id))


@router.patch(
    "/{app_id}", response_model=AppOut, responses={**COMMON_ERRORS, **error_responses(409)}
)
async def update_app(
    app_id: AppId, body: AppPatch, principal: Manager, session: DbSession
) -> AppOut:
    """Change the fields sent (audited as ``app.updated``)."""
    return app_out(await AppService(session, principal).update(app_id, body))


@router.delete("/{app_id}", status_code=status.HTTP_204_NO_CONTENT, responses=COMMON_ERRORS)
async def delete_app(app_id: AppId, principal: Manager, session: DbSession) -> None:
    """Remove an app (audited as ``app.deleted``)."""
    await AppService(session, principal).delete(app_id)


@router.post(
    "/{app_id}/context",
    response_model=ContextOut,
    responses={**COMMON_ERRORS, **error_responses(409)},
)
async def context_token(
    app_id: AppId,
    body: ContextIn,
    request: Request,
    principal: Reader,
    session: DbSession,
    keys: Keys,
) -> ContextOut:
    """A signed context token (ES256 JWT, 5 minutes) for the app, and the page URL with it.
    Only for signed-in users; showing a customer needs ``customers.read``."""
    issuer = f"{request.url.scheme}://{request.url.netloc}"
    service = AppService(session, principal)
    return await service.context(app_id, body, issuer=issuer, keys=keys)
