"""Creating, listing and revoking API keys."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, status

from relaydesk.auth.apikey_schemas import ApiKeyCreated, ApiKeyIn, ApiKeyOut
from relaydesk.auth.apikeys import create_api_key, revoke_api_key
from relaydesk.auth.deps import Require
from relaydesk.auth.principal import Principal
from relaydesk.auth.repository import ApiKeyRepository
from relaydesk.auth.users_service import check_known
from relaydesk.errors import ValidationFailed
from relaydesk.kit.db import DbSession
from relaydesk.kit.pagination import Page, PageParams, page_params
from relaydesk.kit.schemas import COMMON_ERRORS

router = APIRouter(prefix="/api-keys", tags=["api-keys"])

KeysManage = Annotated[Principal, Depends(Require("apikeys.manage"))]
Paging = Annotated[PageParams, Depends(page_params)]


@router.get("", response_model=Page[ApiKeyOut], responses=COMMON_ERRORS)
async def list_api_keys(
    principal: KeysManage, session: DbSession, paging: Paging
) -> Page[ApiKeyOut]:
    """Every key of the organisation, newest first, revoked ones included; never the secret."""
    repo = ApiKeyRepository(session)
    rows, cursor = await repo.page(repo.select(), paging)
    return Page(items=[ApiKeyOut.of(k) for k in rows], next_cursor=cursor)


@router.post(
    "", response_model=ApiKeyCreated, status_code=status.HTTP_201_CREATED,
    responses=COMMON_ERRORS,
)
async def create_key(body: ApiKeyIn, principal: KeysManage, session: DbSession) -> ApiKeyCreated:
    """Create a key with some of your own permissions; the secret is in this answer only."""
    perms = check_known(body.permissions)
    if "*" in perms:
        i = body.permissions.index("*")
        raise ValidationFailed(
            "permissions: an API key cannot hold '*'; list the permissions it needs",
            details=[{"loc": ["body", "permissions", i], "msg": "'*' is not allowed for keys",
                      "type": "wildcard_not_allowed"}],
        )
    key, secret = await create_api_key(
        session, tenant_id=principal.tenant_id, name=body.name, permissions=perms,
        granted_by=principal, expires_at=body.expires_at,
    )
    return ApiKeyCreated(**ApiKeyOut.of(key).model_dump(), key=secret)


@router.delete("/{key_id}", status_code=status.HTTP_204_NO_CONTENT, responses=COMMON_ERRORS)
async def revoke_key(key_id: uuid.UUID, principal: KeysManage, session: DbSession) -> None:
    """Revoke a key: it stops working at once. Revoking twice is harmless."""
    key = await ApiKeyRepository(session).get_or_404(key_id)
    await revoke_api_key(session, key, principal)
