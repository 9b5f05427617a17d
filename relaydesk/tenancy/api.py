"""The organisation admin API: the tenant's settings, departments and teams.

The rules here are few and local (name uniqueness, parent checks, the allow-list lock-out
guard); each lives in a small helper next to the handlers that use it.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, status

from relaydesk.audit import service as audit
from relaydesk.auth.deps import Require
from relaydesk.auth.principal import Principal
from relaydesk.auth.service import ip_allowed
from relaydesk.errors import Conflict, ValidationFailed
from relaydesk.kit.context import client_ip_var
from relaydesk.kit.db import DbSession
from relaydesk.kit.pagination import Page, PageParams, page_params
from relaydesk.kit.schemas import COMMON_ERRORS, error_responses
from relaydesk.tenancy.models import Department, Team
from relaydesk.tenancy.repository import (
    MAX_DEPTH,
    DepartmentRepository,
    TeamRepository,
    TenantRepository,
)
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

router = APIRouter(tags=["organisation"])

TenantRead = Annotated[Principal, Depends(Require("tenant.read"))]
TenantManage = Annotated[Principal, Depends(Require("tenant.manage"))]
TeamsRead = Annotated[Principal, Depends(Require("teams.read"))]
TeamsManage = Annotated[Principal, Depends(Require("teams.manage"))]
Paging = Annotated[PageParams, Depends(page_params)]
WRITE_ERRORS = {**COMMON_ERRORS, **error_responses(409)}


def _invalid(field: str, message: str, kind: str = "value_error") -> ValidationFailed:
    return ValidationFailed(
        f"{field}: {message}", details=[{"loc": ["body", field], "msg": message, "type": kind}]
    )


# --- the tenant ----------------------------------------------------------------------------


@router.get("/tenant", response_model=TenantOut, responses=COMMON_ERRORS)
async def get_tenant(principal: TenantRead, session: DbSession) -> TenantOut:
    """The caller's organisation."""
    return TenantOut.model_validate(await TenantRepository(session).current())


@router.patch("/tenant", response_model=TenantOut, responses=COMMON_ERRORS)
async def update_tenant(
    body: TenantPatch, principal: TenantManage, session: DbSession
) -> TenantOut:
    """Rename the organisation or replace its IP allow-list.

    An allow-list that does not contain the caller's current address is refused, so an
    administrator cannot lock themselves out by mistake.
    """
    tenant = await TenantRepository(session).current()
    changes: dict[str, Any] = {}
    if body.name is not None and body.name != tenant.name:
        changes["name"] = {"before": tenant.name, "after": body.name}
        tenant.name = body.name
    if body.ip_allowlist is not None:
        new = list(dict.fromkeys(body.ip_allowlist))
        ip = client_ip_var.get()
        if not ip_allowed(new, ip):
            raise _invalid(
                "ip_allowlist",
                f"this allow-list would lock you out: your current address {ip or '(unknown)'} "
                "is not in it; add it (or a network containing it) first",
                "locks_out_caller",
            )
        if new != tenant.ip_allowlist:
            changes["ip_allowlist"] = {"before": list(tenant.ip_allowlist), "after": new}
            tenant.ip_allowlist = new
    if changes:
        await session.flush()
        await audit.record(
            session, tenant_id=tenant.id, action="tenant.updated", actor=principal.actor,
            target_type="tenant", target_id=tenant.id, details=changes,
        )
    return TenantOut.model_validate(tenant)


# --- departments ---------------------------------------------------------------------------


async def _check_department_name(
    repo: DepartmentRepository, name: str, self_id: uuid.UUID | None = None
) -> None:
    other = await repo.by_name(name)
    if other is not None and other.id != self_id:
        raise Conflict(f"a department named {name!r} already exists")


async def _check_parent(
    repo: DepartmentRepository, parent_id: uuid.UUID | None, self_id: uuid.UUID | None = None
) -> None:
    if parent_id is None:
        return
    if await repo.get(parent_id) is None:
        raise _invalid("parent_id", f"no department {parent_id} in this organisation")
    chain = await repo.ancestor_ids(parent_id)
    if self_id is not None and self_id in chain:
        raise _invalid("parent_id", "a department cannot be placed under itself or a descendant")
    if len(chain) >= MAX_DEPTH:
        raise _invalid("parent_id", f"departments nest at most {MAX_DEPTH} levels deep")


@router.get("/departments", response_model=Page[DepartmentOut], responses=COMMON_ERRORS)
async def list_departments(
    principal: TeamsRead, session: DbSession, paging: Paging, parent_id: uuid.UUID | None = None
) -> Page[DepartmentOut]:
    repo = DepartmentRepository(session)
    stmt = repo.select()
    if parent_id is not None:
        stmt = stmt.where(Department.parent_id == parent_id)
    rows, cursor = await repo.page(stmt, paging)
    return Page(items=[DepartmentOut.model_validate(r) for r in rows], next_cursor=cursor)


@router.post(
    "/departments", response_model=DepartmentOut, status_code=status.HTTP_201_CREATED,
    responses=WRITE_ERRORS,
)
async def create_department(
    body: DepartmentIn, principal: TeamsManage, session: DbSession
) -> DepartmentOut:
    repo = DepartmentRepository(session)
    await _check_department_name(repo, body.name)
    await _check_parent(repo, body.parent_id)
    dept = await repo.create(Department(name=body.name, parent_id=body.parent_id))
    await audit.record(
        session, tenant_id=principal.tenant_id, action="department.created",
        actor=principal.actor, target_type="department", target_id=dept.id,
        details={"name": dept.name, "parent_id": str(dept.parent_id) if dept.parent_id else None},
    )
    return DepartmentOut.model_validate(dept)


@router.get("/departments/{department_id}", response_model=DepartmentOut, responses=COMMON_ERRORS)
async def get_department(
    department_id: uuid.UUID, principal: TeamsRead, session: DbSession
) -> DepartmentOut:
    return DepartmentOut.model_validate(
        await DepartmentRepository(session).get_or_404(department_id)
    )


@router.patch(
    "/departments/{department_id}", response_model=DepartmentOut, responses=WRITE_ERRORS
)
async def update_department(
    department_id: uuid.UUID, body: DepartmentPatch, principal: TeamsManage, session: DbSession
) -> DepartmentOut:
    repo = DepartmentRepository(session)
    dept = await repo.get_or_404(department_id)
    changes: dict[str, Any] = {}
    if body.name is not None and body.name != dept.name:
        await _check_department_name(repo, body.name, dept.id)
        changes["name"] = {"before": dept.name, "after": body.name}
        dept.name = body.name
    if "parent_id" in body.model_fields_set and body.parent_id != dept.parent_id:
        await _check_parent(repo, body.parent_id, dept.id)
        changes["parent_id"] = {
            "before": str(dept.parent_id) if dept.parent_id else None,
            "after": str(body.parent_id) if body.parent_id else None,
        }
        dept.parent_id = body.parent_id
    if changes:
        await session.flush()
        await audit.record(
            session, tenant_id=principal.tenant_id, action="department.updated",
            actor=principal.actor, target_type="department", target_id=dept.id, details=changes,
        )
    return DepartmentOut.model_validate(dept)


@router.delete(
    "/departments/{department_id}", status_code=status.HTTP_204_NO_CONTENT,
    responses=WRITE_ERRORS,
)
async def delete_department(
    department_id: uuid.UUID, principal: TeamsManage, session: DbSession
) -> None:
    """Delete an empty department (no users, no sub-departments); its teams are detached."""
    repo = DepartmentRepository(session)
    dept = await repo.get_or_404(department_id)
    users, children = await repo.user_count(dept.id), await repo.child_count(dept.id)
    if users or children:
        raise Conflict(
            f"department {dept.name!r} still has {users} user(s) and {children} "
            "sub-department(s); move them elsewhere first"
        )
    await repo.delete(dept)
    await audit.record(
        session, tenant_id=principal.tenant_id, action="department.deleted",
        actor=principal.actor, target_type="department", target_id=department_id,
        details={"name": dept.name},
    )


# --- teams ---------------------------------------------------------------------------------


async def _check_team_name(
    repo: TeamRepository, name: str, self_id: uuid.UUID | None = None
) -> None:
    other = await repo.by_name(name)
    if other is not None and other.id != self_id:
        raise Conflict(f"a team named {name!r} already exists")


async def _check_department(session: DbSession, department_id: uuid.UUID | None) -> None:
    if department_id is not None and await DepartmentRepository(session).get(department_id) is None:
        raise _invalid("department_id", f"no department {department_id} in this organisation")


@router.get("/teams", response_model=Page[TeamOut], responses=COMMON_ERRORS)
async def list_teams(
    principal: TeamsRead, session: DbSession, paging: Paging,
    department_id: uuid.UUID | None = None,
) -> Page[TeamOut]:
    repo = TeamRepository(session)
    stmt = repo.select()
    if department_id is not None:
        stmt = stmt.where(Team.department_id == department_id)
    rows, cursor = await repo.page(stmt, paging)
    return Page(items=[TeamOut.model_validate(r) for r in rows], next_cursor=cursor)


@router.post(
    "/teams", response_model=TeamOut, status_code=status.HTTP_201_CREATED, responses=WRITE_ERRORS
)
async def create_team(body: TeamIn, principal: TeamsManage, session: DbSession) -> TeamOut:
    repo = TeamRepository(session)
    await _check_team_name(repo, body.name)
    await _check_department(session, body.department_id)
    team = await repo.create(
        Team(name=body.name, description=body.description, department_id=body.department_id)
    )
    await audit.record(
        session, tenant_id=principal.tenant_id, action="team.created", actor=principal.actor,
        target_type="team", target_id=team.id, details={"name": team.name},
    )
    return TeamOut.model_validate(team)


@router.get("/teams/{team_id}", response_model=TeamOut, responses=COMMON_ERRORS)
async def get_team(team_id: uuid.UUID, principal: TeamsRead, session: DbSession) -> TeamOut:
    return TeamOut.model_validate(await TeamRepository(session).get_or_404(team_id))


@router.patch("/teams/{team_id}", response_model=TeamOut, responses=WRITE_ERRORS)
async def update_team(
    team_id: uuid.UUID, body: TeamPatch, principal: TeamsManage, session: DbSession
) -> TeamOut:
    repo = TeamRepository(session)
    team = await repo.get_or_404(team_id)
    changes: dict[str, Any] = {}
    if body.name is not None and body.name != team.name:
        await _check_team_name(repo, body.name, team.id)
        changes["name"] = {"before": team.name, "after": body.name}
        team.name = body.name
    if body.description is not None and body.description != team.description:
        changes["description"] = "changed"
        team.description = body.description
    if "department_id" in body.model_fields_set and body.department_id != team.department_id:
        await _check_department(session, body.department_id)
        changes["department_id"] = {
            "before": str(team.department_id) if team.department_id else None,
            "after": str(body.department_id) if body.department_id else None,
        }
        team.department_id = body.department_id
    if changes:
        await session.flush()
        await audit.record(
            session, tenant_id=principal.tenant_id, action="team.updated",
            actor=principal.actor, target_type="team", target_id=team.id, details=changes,
        )
    return TeamOut.model_validate(team)


@router.delete(
    "/teams/{team_id}", status_code=status.HTTP_204_NO_CONTENT, responses=COMMON_ERRORS
)
async def delete_team(team_id: uuid.UUID, principal: TeamsManage, session: DbSession) -> None:
    repo = TeamRepository(session)
    team = await repo.get_or_404(team_id)
    await repo.delete(team)
    await audit.record(
        session, tenant_id=principal.tenant_id, action="team.deleted", actor=principal.actor,
        target_type="team", target_id=team_id, details={"name": team.name},
    )


@router.get("/teams/{team_id}/members", response_model=Page[TeamMemberOut], responses=COMMON_ERRORS)
async def list_team_members(
    team_id: uuid.UUID, principal: TeamsRead, session: DbSession, paging: Paging
) -> Page[TeamMemberOut]:
    repo = TeamRepository(session)
    await repo.get_or_404(team_id)
    rows, cursor = await repo.members_page(team_id, paging)
    return Page(items=[TeamMemberOut.model_validate(u) for u in rows], next_cursor=cursor)


@router.put("/teams/{team_id}/members", response_model=TeamMembersOut, responses=COMMON_ERRORS)
async def set_team_members(
    team_id: uuid.UUID, body: TeamMembersIn, principal: TeamsManage, session: DbSession
) -> TeamMembersOut:
    """Replace the team's membership; every id must be a user of this organisation."""
    repo = TeamRepository(session)
    team = await repo.get_or_404(team_id)
    wanted = list(dict.fromkeys(body.user_ids))
    known = await repo.existing_user_ids(wanted)
    unknown = [(i, uid) for i, uid in enumerate(body.user_ids) if uid not in known]
    if unknown:
        raise ValidationFailed(
            "user_ids: unknown user(s): " + ", ".join(str(uid) for _, uid in unknown),
            details=[
                {"loc": ["body", "user_ids", i], "msg": f"no user {uid} in this organisation",
                 "type": "unknown_user"}
                for i, uid in unknown
            ],
        )
    before = set(await repo.member_ids(team.id))
    # members a department-scoped caller cannot see stay in the team untouched
    hidden = before - await repo.existing_user_ids(list(before))
    await repo.set_members(team, [*wanted, *sorted(hidden - set(wanted))])
    before -= hidden
    added, removed = set(wanted) - before, before - set(wanted)
    if added or removed:
        await audit.record(
            session, tenant_id=principal.tenant_id, action="team.members_changed",
            actor=principal.actor, target_type="team", target_id=team.id,
            details={"added": sorted(map(str, added)), "removed": sorted(map(str, removed))},
        )
    return TeamMembersOut(team_id=team.id, user_ids=wanted)
