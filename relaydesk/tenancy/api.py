"""The organisation admin API: the tenant's settings, departments and teams.

Handlers only parse, call :class:`~relaydesk.tenancy.service.OrganisationService` (where the
rules live) and serialize.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, status

from relaydesk.auth.deps import Require
from relaydesk.auth.principal import Principal
from relaydesk.kit.context import client_ip_var
from relaydesk.kit.db import DbSession
from relaydesk.kit.pagination import Page, PageParams, page_params
from relaydesk.kit.schemas import COMMON_ERRORS, error_responses
from relaydesk.tenancy.schemas import (
    DepartmentIn,
    DepartmentOut,
    DepartmentPatch,
    TeamIn,
    TeamMemberOut,
    TeamMembersIn,
    TeamMembersOut,
    TeamOut,
    TeamPatch,
    TenantOut,
    TenantPatch,
)
from relaydesk.tenancy.service import OrganisationService

router = APIRouter(tags=["organisation"])

TenantRead = Annotated[Principal, Depends(Require("tenant.read"))]
TenantManage = Annotated[Principal, Depends(Require("tenant.manage"))]
TeamsRead = Annotated[Principal, Depends(Require("teams.read"))]
TeamsManage = Annotated[Principal, Depends(Require("teams.manage"))]
Paging = Annotated[PageParams, Depends(page_params)]
WRITE_ERRORS = {**COMMON_ERRORS, **error_responses(409)}


# --- the tenant ----------------------------------------------------------------------------


@router.get("/tenant", response_model=TenantOut, responses=COMMON_ERRORS)
async def get_tenant(principal: TenantRead, session: DbSession) -> TenantOut:
    """The caller's organisation."""
    return TenantOut.model_validate(await OrganisationService(session, principal).tenant())


@router.patch("/tenant", response_model=TenantOut, responses=COMMON_ERRORS)
async def update_tenant(
    body: TenantPatch, principal: TenantManage, session: DbSession
) -> TenantOut:
    """Rename the organisation or replace its IP allow-list.

    An allow-list that does not contain the caller's current address is refused, so an
    administrator cannot lock themselves out by mistake.
    """
    service = OrganisationService(session, principal)
    return TenantOut.model_validate(await service.update_tenant(body, client_ip_var.get()))


# --- departments ---------------------------------------------------------------------------


@router.get("/departments", response_model=Page[DepartmentOut], responses=COMMON_ERRORS)
async def list_departments(
    principal: TeamsRead, session: DbSession, paging: Paging, parent_id: uuid.UUID | None = None
) -> Page[DepartmentOut]:
    rows, cursor = await OrganisationService(session, principal).list_departments(
        paging, parent_id
    )
    return Page(items=[DepartmentOut.model_validate(r) for r in rows], next_cursor=cursor)


@router.post(
    "/departments", response_model=DepartmentOut, status_code=status.HTTP_201_CREATED,
    responses=WRITE_ERRORS,
)
async def create_department(
    body: DepartmentIn, principal: TeamsManage, session: DbSession
) -> DepartmentOut:
    dept = await OrganisationService(session, principal).create_department(body)
    return DepartmentOut.model_validate(dept)


@router.get("/departments/{department_id}", response_model=DepartmentOut, responses=COMMON_ERRORS)
async def get_department(
    department_id: uuid.UUID, principal: TeamsRead, session: DbSession
) -> DepartmentOut:
    dept = await OrganisationService(session, principal).get_department(department_id)
    return DepartmentOut.model_validate(dept)


@router.patch(
    "/departments/{department_id}", response_model=DepartmentOut, responses=WRITE_ERRORS
)
async def update_department(
    department_id: uuid.UUID, body: DepartmentPatch, principal: TeamsManage, session: DbSession
) -> DepartmentOut:
    dept = await OrganisationService(session, principal).update_department(department_id, body)
    return DepartmentOut.model_validate(dept)


@router.delete(
    "/departments/{department_id}", status_code=status.HTTP_204_NO_CONTENT,
    responses=WRITE_ERRORS,
)
async def delete_department(
    department_id: uuid.UUID, principal: TeamsManage, session: DbSession
) -> None:
    """Delete an empty department (no users, no sub-departments); its teams are detached."""
    await OrganisationService(session, principal).delete_department(department_id)


# --- teams ---------------------------------------------------------------------------------


@router.get("/teams", response_model=Page[TeamOut], responses=COMMON_ERRORS)
async def list_teams(
    principal: TeamsRead, session: DbSession, paging: Paging,
    department_id: uuid.UUID | None = None,
) -> Page[TeamOut]:
    rows, cursor = await OrganisationService(session, principal).list_teams(paging, department_id)
    return Page(items=[TeamOut.model_validate(r) for r in rows], next_cursor=cursor)


@router.post(
    "/teams", response_model=TeamOut, status_code=status.HTTP_201_CREATED, responses=WRITE_ERRORS
)
async def create_team(body: TeamIn, principal: TeamsManage, session: DbSession) -> TeamOut:
    return TeamOut.model_validate(await OrganisationService(session, principal).create_team(body))


@router.get("/teams/{team_id}", response_model=TeamOut, responses=COMMON_ERRORS)
async def get_team(team_id: uuid.UUID, principal: TeamsRead, session: DbSession) -> TeamOut:
    return TeamOut.model_validate(await OrganisationService(session, principal).get_team(team_id))


@router.patch("/teams/{team_id}", response_model=TeamOut, responses=WRITE_ERRORS)
async def update_team(
    team_id: uuid.UUID, body: TeamPatch, principal: TeamsManage, session: DbSession
) -> TeamOut:
    team = await OrganisationService(session, principal).update_team(team_id, body)
    return TeamOut.model_validate(team)


@router.delete(
    "/teams/{team_id}", status_code=status.HTTP_204_NO_CONTENT, responses=COMMON_ERRORS
)
async def delete_team(team_id: uuid.UUID, principal: TeamsManage, session: DbSession) -> None:
    await OrganisationService(session, principal).delete_team(team_id)


@router.get("/teams/{team_id}/members", response_model=Page[TeamMemberOut], responses=COMMON_ERRORS)
async def list_team_members(
    team_id: uuid.UUID, principal: TeamsRead, session: DbSession, paging: Paging
) -> Page[TeamMemberOut]:
    rows, cursor = await OrganisationService(session, principal).list_members(team_id, paging)
    return Page(items=[TeamMemberOut.model_validate(u) for u in rows], next_cursor=cursor)


@router.put("/teams/{team_id}/members", response_model=TeamMembersOut, responses=COMMON_ERRORS)
async def set_team_members(
    team_id: uuid.UUID, body: TeamMembersIn, principal: TeamsManage, session: DbSession
) -> TeamMembersOut:
    """Replace the team's membership; every id must be a user of this organisation."""
    members = await OrganisationService(session, principal).set_members(team_id, body)
    return TeamMembersOut(team_id=team_id, user_ids=members)
