"""The organisation: creating tenants and their first accounts (CLI, demo seed, tests, admin
API), and administering an existing one (its settings, departments and teams).

The rules of the organisation admin API, in one place:

* an IP allow-list that does not contain the caller's current address is refused, so an
  administrator cannot lock themselves out by mistake;
* department and team names are unique within the organisation;
* a department's parent is a department of the same organisation, never the department
  itself or one of its descendants, and departments nest at most ``MAX_DEPTH`` levels deep;
* only an empty department (no users, no sub-departments) is deleted;
* team members are users of the organisation; members a department-scoped caller cannot see
  stay in the team untouched;
* every change writes an audit row.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.audit import service as audit
from relaydesk.audit.service import SYSTEM, Actor
from relaydesk.auth import security
from relaydesk.auth.models import Role, User
from relaydesk.auth.permissions import builtin_roles
from relaydesk.auth.principal import Principal
from relaydesk.auth.repository import RoleRepository, UserRepository
from relaydesk.auth.service import ip_allowed
from relaydesk.errors import Conflict, ValidationFailed
from relaydesk.kit.db import scope_session
from relaydesk.kit.pagination import PageParams
from relaydesk.tenancy.models import Department, Team, Tenant
from relaydesk.tenancy.repository import (
    MAX_DEPTH,
    DepartmentRepository,
    TeamRepository,
    TenantRepository,
)
from relaydesk.tenancy.schemas import (
    DepartmentIn,
    DepartmentPatch,
    TeamIn,
    TeamMembersIn,
    TeamPatch,
    TenantPatch,
)

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def _invalid(field: str, message: str, kind: str = "value_error") -> ValidationFailed:
    """A 422 located at a request body field, worded like the API's own validation errors."""
    return ValidationFailed(
        f"{field}: {message}", details=[{"loc": ["body", field], "msg": message, "type": kind}]
    )


def _opt_str(value: uuid.UUID | None) -> str | None:
    return str(value) if value else None


# --- creating organisations and accounts ---------------------------------------------------


def check_slug(slug: str) -> str:
    slug = slug.strip().lower()
    if not SLUG_RE.match(slug):
        raise ValidationFailed(
            "slug must be 1-63 lowercase letters, digits or dashes, "
            "not starting or ending with a dash",
            details=[{"loc": ["body", "slug"], "msg": "invalid slug", "type": "value_error"}],
        )
    return slug


def check_password(password: str, min_length: int) -> None:
    if len(password) < min_length:
        raise ValidationFailed(
            f"password must be at least {min_length} characters",
            details=[{"loc": ["body", "password"], "msg": f"shorter than {min_length}",
                      "type": "password_too_short"}],
        )


async def create_tenant(
    session: AsyncSession, *, slug: str, name: str, actor: Actor = SYSTEM
) -> Tenant:
    """A new organisation with its built-in roles and an empty audit chain."""
    slug = check_slug(slug)
    exists = await session.execute(select(Tenant.id).where(Tenant.slug == slug))
    if exists.first() is not None:
        raise Conflict(f"an organisation with slug {slug!r} already exists")
    tenant = Tenant(slug=slug, name=name.strip() or slug)
    session.add(tenant)
    await session.flush()
    scope_session(session, tenant.id)
    await audit.start_chain(session, tenant.id)
    roles = RoleRepository(session)
    for role_name, (description, permissions) in builtin_roles().items():
        await roles.create(
            Role(name=role_name, description=description, builtin=True, permissions=permissions)
        )
    await audit.record(
        session,
        tenant_id=tenant.id,
        action="tenant.created",
        actor=actor,
        target_type="tenant",
        target_id=tenant.id,
        details={"slug": slug},
    )
    return tenant


async def create_user(
    session: AsyncSession,
    *,
    email: str,
    display_name: str,
    password: str,
    role_names: Sequence[str] = ("agent",),
    department_id: uuid.UUID | None = None,
    phone: str | None = None,
    min_password_length: int = 10,
    actor: Actor = SYSTEM,
) -> User:
    """A user in the session's tenant, with roles given by name."""
    users = UserRepository(session)
    email = email.strip().lower()
    if "@" not in email or email.startswith("@") or email.endswith("@"):
        raise ValidationFailed(
            "email is not a valid address",
            details=[{"loc": ["body", "email"], "msg": "invalid e-mail", "type": "value_error"}],
        )
    check_password(password, min_password_length)
    if await users.by_email(email) is not None:
        raise Conflict(f"a user with e-mail {email} already exists")
    role_repo = RoleRepository(session)
    roles = []
    for i, name in enumerate(role_names):
        role = await role_repo.by_name(name)
        if role is None:
            raise ValidationFailed(
                f"role {name!r} does not exist",
                details=[{"loc": ["body", "roles", i], "msg": f"no role named {name!r}",
                          "type": "unknown_role"}],
            )
        roles.append(role)
    user = await users.create(
        User(
            email=email,
            display_name=display_name.strip() or email,
            phone=phone,
            password_hash=security.hash_password(password),
            department_id=department_id,
        )
    )
    await users.set_roles(user, roles)
    await audit.record(
        session,
        tenant_id=user.tenant_id,
        action="user.created",
        actor=actor,
        target_type="user",
        target_id=user.id,
        details={"roles": list(role_names)},
    )
    return user


# --- administering an organisation ---------------------------------------------------------


class OrganisationService:
    """The caller's organisation: its settings, departments, teams and team members.

    Methods return ORM objects; they only flush (the request's unit of work commits).
    """

    def __init__(self, session: AsyncSession, principal: Principal) -> None:
        self.session = session
        self.principal = principal
        self.tenants = TenantRepository(session)
        self.departments = DepartmentRepository(session)
        self.teams = TeamRepository(session)

    async def _audit(
        self, action: str, target_type: str, target_id: uuid.UUID, details: dict[str, Any],
        tenant_id: uuid.UUID | None = None,
    ) -> None:
        await audit.record(
            self.session, tenant_id=tenant_id or self.principal.tenant_id, action=action,
            actor=self.principal.actor, target_type=target_type, target_id=target_id,
            details=details,
        )

    # --- the tenant --------------------------------------------------------------------

    async def tenant(self) -> Tenant:
        return await self.tenants.current()

    async def update_tenant(self, body: TenantPatch, client_ip: str | None) -> Tenant:
        """Rename the organisation or replace its allow-list (never one locking the caller out)."""
        tenant = await self.tenants.current()
        changes: dict[str, Any] = {}
        if body.name is not None and body.name != tenant.name:
            changes["name"] = {"before": tenant.name, "after": body.name}
            tenant.name = body.name
        if body.ip_allowlist is not None:
            new = list(dict.fromkeys(body.ip_allowlist))
            if not ip_allowed(new, client_ip):
                raise _invalid(
                    "ip_allowlist",
                    "this allow-list would lock you out: your current address "
                    f"{client_ip or '(unknown)'} is not in it; add it (or a network containing "
                    "it) first",
                    "locks_out_caller",
                )
            if new != tenant.ip_allowlist:
                changes["ip_allowlist"] = {"before": list(tenant.ip_allowlist), "after": new}
                tenant.ip_allowlist = new
        if changes:
            await self.session.flush()
            await self._audit("tenant.updated", "tenant", tenant.id, changes, tenant_id=tenant.id)
        return tenant

    # --- departments -------------------------------------------------------------------

    async def list_departments(
        self, params: PageParams, parent_id: uuid.UUID | None = None
    ) -> tuple[Sequence[Department], str | None]:
        return await self.departments.page(self.departments.filtered(parent_id), params)

    async def get_department(self, department_id: uuid.UUID) -> Department:
        return await self.departments.get_or_404(department_id)

    async def create_department(self, body: DepartmentIn) -> Department:
        await self._check_department_name(body.name)
        await self._check_parent(body.parent_id)
        dept = await self.departments.create(Department(name=body.name, parent_id=body.parent_id))
        await self._audit(
            "department.created", "department", dept.id,
            {"name": dept.name, "parent_id": _opt_str(dept.parent_id)},
        )
        return dept

    async def update_department(
        self, department_id: uuid.UUID, body: DepartmentPatch
    ) -> Department:
        dept = await self.departments.get_or_404(department_id)
        changes: dict[str, Any] = {}
        if body.name is not None and body.name != dept.name:
            await self._check_department_name(body.name, dept.id)
            changes["name"] = {"before": dept.name, "after": body.name}
            dept.name = body.name
        if "parent_id" in body.model_fields_set and body.parent_id != dept.parent_id:
            await self._check_parent(body.parent_id, dept.id)
            changes["parent_id"] = {
                "before": _opt_str(dept.parent_id), "after": _opt_str(body.parent_id)
            }
            dept.parent_id = body.parent_id
        if changes:
            await self.session.flush()
            await self._audit("department.updated", "department", dept.id, changes)
        return dept

    async def delete_department(self, department_id: uuid.UUID) -> None:
        """Delete an empty department (no users, no sub-departments); its teams are detached."""
        dept = await self.departments.get_or_404(department_id)
        users = await self.departments.user_count(dept.id)
        children = await self.departments.child_count(dept.id)
        if users or children:
            raise Conflict(
                f"department {dept.name!r} still has {users} user(s) and {children} "
                "sub-department(s); move them elsewhere first"
            )
        await self.departments.delete(dept)
        await self._audit("department.deleted", "department", department_id, {"name": dept.name})

    async def _check_department_name(self, name: str, self_id: uuid.UUID | None = None) -> None:
        other = await self.departments.by_name(name)
        if other is not None and other.id != self_id:
            raise Conflict(f"a department named {name!r} already exists")

    async def _check_parent(
        self, parent_id: uuid.UUID | None, self_id: uuid.UUID | None = None
    ) -> None:
        if parent_id is None:
            return
        if await self.departments.get(parent_id) is None:
            raise _invalid("parent_id", f"no department {parent_id} in this organisation")
        chain = await self.departments.ancestor_ids(parent_id)
        if self_id is not None and self_id in chain:
            raise _invalid(
                "parent_id", "a department cannot be placed under itself or a descendant"
            )
        if len(chain) >= MAX_DEPTH:
            raise _invalid("parent_id", f"departments nest at most {MAX_DEPTH} levels deep")

    # --- teams -------------------------------------------------------------------------

    async def list_teams(
        self, params: PageParams, department_id: uuid.UUID | None = None
    ) -> tuple[Sequence[Team], str | None]:
        return await self.teams.page(self.teams.filtered(department_id), params)

    async def get_team(self, team_id: uuid.UUID) -> Team:
        return await self.teams.get_or_404(team_id)

    async def create_team(self, body: TeamIn) -> Team:
        await self._check_team_name(body.name)
        await self._check_department(body.department_id)
        team = await self.teams.create(
            Team(name=body.name, description=body.description, department_id=body.department_id)
        )
        await self._audit("team.created", "team", team.id, {"name": team.name})
        return team

    async def update_team(self, team_id: uuid.UUID, body: TeamPatch) -> Team:
        team = await self.teams.get_or_404(team_id)
        changes: dict[str, Any] = {}
        if body.name is not None and body.name != team.name:
            await self._check_team_name(body.name, team.id)
            changes["name"] = {"before": team.name, "after": body.name}
            team.name = body.name
        if body.description is not None and body.description != team.description:
            changes["description"] = "changed"
            team.description = body.description
        if "department_id" in body.model_fields_set and body.department_id != team.department_id:
            await self._check_department(body.department_id)
            changes["department_id"] = {
                "before": _opt_str(team.department_id), "after": _opt_str(body.department_id)
            }
            team.department_id = body.department_id
        if changes:
            await self.session.flush()
            await self._audit("team.updated", "team", team.id, changes)
        return team

    async def delete_team(self, team_id: uuid.UUID) -> None:
        team = await self.teams.get_or_404(team_id)
        await self.teams.delete(team)
        await self._audit("team.deleted", "team", team_id, {"name": team.name})

    async def list_members(
        self, team_id: uuid.UUID, params: PageParams
    ) -> tuple[Sequence[User], str | None]:
        await self.teams.get_or_404(team_id)
        return await self.teams.members_page(team_id, params)

    async def set_members(self, team_id: uuid.UUID, body: TeamMembersIn) -> list[uuid.UUID]:
        """Replace the team's membership; returns the members as given, de-duplicated."""
        team = await self.teams.get_or_404(team_id)
        wanted = list(dict.fromkeys(body.user_ids))
        known = await self.teams.existing_user_ids(wanted)
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
        before = set(await self.teams.member_ids(team.id))
        # members a department-scoped caller cannot see stay in the team untouched
        hidden = before - await self.teams.existing_user_ids(list(before))
        await self.teams.set_members(team, [*wanted, *sorted(hidden - set(wanted))])
        before -= hidden
        added, removed = set(wanted) - before, before - set(wanted)
        if added or removed:
            await self._audit(
                "team.members_changed", "team", team.id,
                {"added": sorted(map(str, added)), "removed": sorted(map(str, removed))},
            )
        return wanted

    async def _check_team_name(self, name: str, self_id: uuid.UUID | None = None) -> None:
        other = await self.teams.by_name(name)
        if other is not None and other.id != self_id:
            raise Conflict(f"a team named {name!r} already exists")

    async def _check_department(self, department_id: uuid.UUID | None) -> None:
        if department_id is not None and await self.departments.get(department_id) is None:
            raise _invalid("department_id", f"no department {department_id} in this organisation")
