"""The accounts admin API: users, roles and the permission registry."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status

from relaydesk.auth.deps import Require
from relaydesk.auth.permissions import PERMISSIONS, TENANT_SOURCES
from relaydesk.auth.principal import Principal
from relaydesk.auth.repository import RoleRepository
from relaydesk.auth.user_schemas import (
    PasswordSet,
    PermissionOut,
    RoleIn,
    RoleOut,
    RolePatch,
    UserCreate,
    UserOut,
    UserPatch,
)
from relaydesk.auth.users_service import RoleAdmin, UserAdmin
from relaydesk.kit.db import DbSession
from relaydesk.kit.pagination import Page, PageParams, page_params
from relaydesk.kit.schemas import COMMON_ERRORS, error_responses

router = APIRouter()

UsersRead = Annotated[Principal, Depends(Require("users.read"))]
UsersManage = Annotated[Principal, Depends(Require("users.manage"))]
RolesRead = Annotated[Principal, Depends(Require("roles.read"))]
RolesManage = Annotated[Principal, Depends(Require("roles.manage"))]
Paging = Annotated[PageParams, Depends(page_params)]
WRITE_ERRORS = {**COMMON_ERRORS, **error_responses(409)}


def _users(request: Request, session: DbSession, principal: Principal) -> UserAdmin:
    min_length: int = request.app.state.settings.security.password_min_length
    return UserAdmin(session, principal, min_length)


# --- users ---------------------------------------------------------------------------------


@router.get("/users", response_model=Page[UserOut], responses=COMMON_ERRORS, tags=["users"])
async def list_users(
    request: Request,
    principal: UsersRead,
    session: DbSession,
    paging: Paging,
    q: Annotated[str | None, Query(max_length=200, description="E-mail or name contains")] = None,
    role: Annotated[str | None, Query(max_length=100, description="Holds this role")] = None,
    department_id: uuid.UUID | None = None,
    is_active: bool | None = None,
) -> Page[UserOut]:
    """Users, newest first; department-scoped callers see their department's users only."""
    items, cursor = await _users(request, session, principal).search(
        paging, q=q, role=role, department_id=department_id, is_active=is_active
    )
    return Page(items=items, next_cursor=cursor)


@router.post(
    "/users", response_model=UserOut, status_code=status.HTTP_201_CREATED,
    responses=WRITE_ERRORS, tags=["users"],
)
async def create_user(
    body: UserCreate, request: Request, principal: UsersManage, session: DbSession
) -> UserOut:
    """Create a user; assigning roles needs roles.manage and only roles within your own."""
    return await _users(request, session, principal).create(body)


@router.get("/users/{user_id}", response_model=UserOut, responses=COMMON_ERRORS, tags=["users"])
async def get_user(
    user_id: uuid.UUID, request: Request, principal: UsersRead, session: DbSession
) -> UserOut:
    return await _users(request, session, principal).get(user_id)


@router.patch(
    "/users/{user_id}", response_model=UserOut, responses=WRITE_ERRORS, tags=["users"]
)
async def update_user(
    user_id: uuid.UUID, body: UserPatch, request: Request, principal: UsersManage,
    session: DbSession,
) -> UserOut:
    """Change a user; deactivating signs them out everywhere."""
    return await _users(request, session, principal).update(user_id, body)


@router.post(
    "/users/{user_id}/unlock", response_model=UserOut, responses=COMMON_ERRORS, tags=["users"]
)
async def unlock_user(
    user_id: uuid.UUID, request: Request, principal: UsersManage, session: DbSession
) -> UserOut:
    """Lift a sign-in lockout caused by repeated failures."""
    return await _users(request, session, principal).unlock(user_id)


@router.post(
    "/users/{user_id}/password", status_code=status.HTTP_204_NO_CONTENT,
    responses=COMMON_ERRORS, tags=["users"],
)
async def set_user_password(
    user_id: uuid.UUID, body: PasswordSet, request: Request, principal: UsersManage,
    session: DbSession,
) -> None:
    """Set a new password; every session of the user is signed out."""
    await _users(request, session, principal).set_password(user_id, body.password)


# --- roles and permissions -----------------------------------------------------------------


@router.get("/roles", response_model=Page[RoleOut], responses=COMMON_ERRORS, tags=["roles"])
async def list_roles(principal: RolesRead, session: DbSession, paging: Paging) -> Page[RoleOut]:
    repo = RoleRepository(session)
    rows, cursor = await repo.page(repo.select(), paging)
    return Page(items=[RoleOut.model_validate(r) for r in rows], next_cursor=cursor)


@router.post(
    "/roles", response_model=RoleOut, status_code=status.HTTP_201_CREATED,
    responses=WRITE_ERRORS, tags=["roles"],
)
async def create_role(body: RoleIn, principal: RolesManage, session: DbSession) -> RoleOut:
    """Create a custom role; it may only carry permissions you hold yourself."""
    return RoleOut.model_validate(await RoleAdmin(session, principal).create(body))


@router.get("/roles/{role_id}", response_model=RoleOut, responses=COMMON_ERRORS, tags=["roles"])
async def get_role(role_id: uuid.UUID, principal: RolesRead, session: DbSession) -> RoleOut:
    return RoleOut.model_validate(await RoleRepository(session).get_or_404(role_id))


@router.patch("/roles/{role_id}", response_model=RoleOut, responses=WRITE_ERRORS, tags=["roles"])
async def update_role(
    role_id: uuid.UUID, body: RolePatch, principal: RolesManage, session: DbSession
) -> RoleOut:
    """Change a custom role; built-in roles are read-only."""
    return RoleOut.model_validate(await RoleAdmin(session, principal).update(role_id, body))


@router.delete(
    "/roles/{role_id}", status_code=status.HTTP_204_NO_CONTENT, responses=WRITE_ERRORS,
    tags=["roles"],
)
async def delete_role(role_id: uuid.UUID, principal: RolesManage, session: DbSession) -> None:
    """Delete a custom role that nobody holds any more."""
    await RoleAdmin(session, principal).delete(role_id)


@router.get(
    "/permissions", response_model=Page[PermissionOut], responses=COMMON_ERRORS, tags=["roles"]
)
async def list_permissions(principal: RolesRead, session: DbSession) -> Page[PermissionOut]:
    """Every permission of this organisation (the built-in ones and those of its connector
    actions), for the permission matrix (one page, sorted by name)."""
    known = dict(PERMISSIONS)
    for source in TENANT_SOURCES:
        for name, description in (await source(session, principal)).items():
            known.setdefault(name, description)
    return Page(items=[PermissionOut(name=n, description=d) for n, d in sorted(known.items())])
