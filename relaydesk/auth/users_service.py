"""Administering users and roles, with least privilege.

The rules, in one place:

* nobody grants what they do not hold: a role (assigned, created or changed) or an API key
  never carries a permission the caller lacks, and a department-scoped caller never hands
  out a tenant-wide role;
* nobody manages someone more powerful: changing, unlocking or resetting the password of a
  user who holds permissions the caller lacks is refused;
* only holders of ``roles.manage`` change anyone's roles;
* the organisation always keeps at least one active owner;
* built-in roles are read-only.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.audit import service as audit
from relaydesk.auth import security
from relaydesk.auth.models import Role, User
from relaydesk.auth.permissions import is_known
from relaydesk.auth.principal import Principal
from relaydesk.auth.repository import RoleRepository, SessionAdminRepository, UserAdminRepository
from relaydesk.auth.user_schemas import RoleIn, RolePatch, UserCreate, UserOut, UserPatch
from relaydesk.errors import Conflict, Forbidden, ValidationFailed
from relaydesk.kit.db import utcnow
from relaydesk.kit.pagination import PageParams
from relaydesk.tenancy.repository import DepartmentRepository
from relaydesk.tenancy.service import create_user

OWNER = "owner"


def invalid(loc: list[str | int], message: str, kind: str = "value_error") -> ValidationFailed:
    path = ".".join(str(p) for p in loc[1:])
    return ValidationFailed(
        f"{path}: {message}", details=[{"loc": loc, "msg": message, "type": kind}]
    )


def check_known(permissions: Sequence[str]) -> list[str]:
    """Sorted, de-duplicated permissions; 422 listing every unknown name."""
    unknown = [(i, p) for i, p in enumerate(permissions) if not is_known(p)]
    if unknown:
        raise ValidationFailed(
            "unknown permission(s): " + ", ".join(p for _, p in unknown),
            details=[
                {"loc": ["body", "permissions", i], "msg": f"unknown permission {p!r}",
                 "type": "unknown_permission"}
                for i, p in unknown
            ],
        )
    return sorted(set(permissions))


def beyond(principal: Principal, permissions: Iterable[str]) -> list[str]:
    """The permissions the principal does not hold (``*`` only by holders of ``*``)."""
    return sorted({p for p in permissions if not principal.has(p)})


def _least_privilege(principal: Principal, permissions: Iterable[str], what: str) -> None:
    missing = beyond(principal, permissions)
    if missing:
        raise Forbidden(
            f"{what}: it carries permissions you do not hold ({', '.join(missing)})",
            details={"missing": missing}, code="least_privilege",
        )


class UserAdmin:
    def __init__(
        self, session: AsyncSession, principal: Principal, password_min_length: int = 10
    ) -> None:
        self.session = session
        self.principal = principal
        self.min_password = password_min_length
        self.users = UserAdminRepository(session)
        self.roles = RoleRepository(session)

    def out(self, user: User, roles: Sequence[Role]) -> UserOut:
        return UserOut.of(user, roles, clear_pii=self.principal.has("customers.pii.view"))

    async def search(
        self, params: PageParams, *, q: str | None, role: str | None,
        department_id: uuid.UUID | None, is_active: bool | None,
    ) -> tuple[list[UserOut], str | None]:
        stmt = self.users.filtered(q=q, role=role, department_id=department_id, is_active=is_active)
        rows, cursor = await self.users.page(stmt, params)
        roles = await self.users.roles_by_user([u.id for u in rows])
        return [self.out(u, roles[u.id]) for u in rows], cursor

    async def get(self, user_id: uuid.UUID) -> UserOut:
        user = await self.users.get_or_404(user_id)
        return self.out(user, await self.users.roles_of(user.id))

    async def create(self, body: UserCreate) -> UserOut:
        self._check_password(body.password)
        await self._check_department(body.department_id)
        if await self.users.email_taken(body.email):
            raise Conflict(f"a user with e-mail {body.email} already exists")
        roles = await self._resolve_roles(body.roles)
        if roles:
            self._check_role_change(set(), roles)
        user = await create_user(
            self.session, email=body.email, display_name=body.display_name,
            password=body.password, role_names=[r.name for r in roles],
            department_id=body.department_id, phone=body.phone,
            min_password_length=self.min_password, actor=self.principal.actor,
        )
        return self.out(user, sorted(roles, key=lambda r: r.name))

    async def update(self, user_id: uuid.UUID, body: UserPatch) -> UserOut:
        user = await self.users.get_or_404(user_id)
        current = list(await self.users.roles_of(user.id))
        self._check_manageable(user, current)
        changes: dict[str, Any] = {}
        if body.display_name is not None and body.display_name != user.display_name:
            changes["display_name"] = {"before": user.display_name, "after": body.display_name}
            user.display_name = body.display_name
        if "phone" in body.model_fields_set and body.phone != user.phone:
            changes["phone"] = "changed"
            user.phone = body.phone
        if "department_id" in body.model_fields_set and body.department_id != user.department_id:
            await self._check_department(body.department_id)
            changes["department_id"] = {
                "before": str(user.department_id) if user.department_id else None,
                "after": str(body.department_id) if body.department_id else None,
            }
            user.department_id = body.department_id
        roles = current
        if body.roles is not None:
            wanted = await self._resolve_roles(body.roles)
            if {r.id for r in wanted} != {r.id for r in current}:
                self._check_role_change(set(r.id for r in current), wanted, current)
                kept = {r.id for r in wanted}
                await self._keep_an_owner(user, [r for r in current if r.id not in kept])
                await self.users.set_roles(user, wanted)
                roles = sorted(wanted, key=lambda r: r.name)
                await audit.record(
                    self.session, tenant_id=user.tenant_id, action="user.roles_changed",
                    actor=self.principal.actor, target_type="user", target_id=user.id,
                    details={"before": [r.name for r in current], "after": [r.name for r in roles]},
                )
        if body.is_active is not None and body.is_active != user.is_active:
            if not body.is_active:
                await self._keep_an_owner(user, roles)
                changes["sessions_revoked"] = await SessionAdminRepository(
                    self.session
                ).revoke_all_of(user.id, utcnow())
            changes["is_active"] = {"before": user.is_active, "after": body.is_active}
            user.is_active = body.is_active
        if changes:
            await self.session.flush()
            await audit.record(
                self.session, tenant_id=user.tenant_id, action="user.updated",
                actor=self.principal.actor, target_type="user", target_id=user.id,
                details=changes,
            )
        return self.out(user, roles)

    async def unlock(self, user_id: uuid.UUID) -> UserOut:
        user = await self.users.get_or_404(user_id)
        roles = await self.users.roles_of(user.id)
        self._check_manageable(user, roles)
        was_locked = user.locked_until
        user.locked_until = None
        user.failed_logins = 0
        await self.session.flush()
        await audit.record(
            self.session, tenant_id=user.tenant_id, action="user.unlocked",
            actor=self.principal.actor, target_type="user", target_id=user.id,
            details={"was_locked": was_locked is not None and was_locked > utcnow()},
        )
        return self.out(user, roles)

    async def set_password(self, user_id: uuid.UUID, password: str) -> None:
        user = await self.users.get_or_404(user_id)
        self._check_manageable(user, await self.users.roles_of(user.id))
        self._check_password(password)
        user.password_hash = security.hash_password(password)
        revoked = await SessionAdminRepository(self.session).revoke_all_of(user.id, utcnow())
        await self.session.flush()
        await audit.record(
            self.session, tenant_id=user.tenant_id, action="user.password_set",
            actor=self.principal.actor, target_type="user", target_id=user.id,
            details={"sessions_revoked": revoked},
        )

    # --- checks ---------------------------------------------------------------------------

    def _check_password(self, password: str) -> None:
        if len(password) < self.min_password:
            raise invalid(["body", "password"], f"must be at least {self.min_password} characters",
                          "password_too_short")

    async def _check_department(self, department_id: uuid.UUID | None) -> None:
        scope = self.principal.department_ids
        if department_id is None:
            if scope is not None:
                raise Forbidden("you may only place users in your own department")
            return
        if await DepartmentRepository(self.session).get(department_id) is None:
            raise invalid(["body", "department_id"],
                          f"no department {department_id} in this organisation")
        if scope is not None and department_id not in scope:
            raise Forbidden("you may only place users in your own department")

    async def _resolve_roles(self, names: Sequence[str]) -> list[Role]:
        found: dict[str, Role] = {}
        unknown: list[tuple[int, str]] = []
        for i, name in enumerate(names):
            role = found.get(name) or await self.roles.by_name(name)
            if role is None:
                unknown.append((i, name))
            else:
                found[name] = role
        if unknown:
            raise ValidationFailed(
                "unknown role(s): " + ", ".join(n for _, n in unknown),
                details=[{"loc": ["body", "roles", i], "msg": f"no role named {n!r}",
                          "type": "unknown_role"} for i, n in unknown],
            )
        return list(found.values())

    def _check_manageable(self, user: User, roles: Sequence[Role]) -> None:
        missing = beyond(self.principal, (p for r in roles for p in r.permissions))
        if missing:
            raise Forbidden(
                "you cannot manage a user who holds permissions you do not hold "
                f"({', '.join(missing)})", details={"missing": missing}, code="least_privilege",
            )

    def _check_role_change(
        self, before: set[uuid.UUID], wanted: Sequence[Role], current: Sequence[Role] = ()
    ) -> None:
        if not self.principal.has("roles.manage"):
            raise Forbidden(
                "Missing permission: roles.manage", details={"missing": ["roles.manage"]}
            )
        after = {r.id for r in wanted}
        touched = [r for r in wanted if r.id not in before]
        touched += [r for r in current if r.id not in after]
        for role in touched:
            what = f"you cannot grant role {role.name!r}"
            _least_privilege(self.principal, role.permissions, what)
            if self.principal.department_ids is not None and role.scope == "tenant":
                raise Forbidden(
                    f"you cannot grant the organisation-wide role {role.name!r}: "
                    "your own access is limited to your department", code="least_privilege",
                )

    async def _keep_an_owner(self, user: User, removing: Sequence[Role]) -> None:
        """Refuse to leave the organisation without an active owner."""
        owner = next((r for r in removing if r.builtin and r.name == OWNER), None)
        if owner is None or not user.is_active:
            return
        others = [uid for uid in await self.users.active_holders(owner.id) if uid != user.id]
        if not others:
            raise Conflict("this is the organisation's last active owner; make someone else "
                           "owner first", code="last_owner")


class RoleAdmin:
    def __init__(self, session: AsyncSession, principal: Principal) -> None:
        self.session = session
        self.principal = principal
        self.roles = RoleRepository(session)

    async def _check_name(self, name: str, self_id: uuid.UUID | None = None) -> None:
        other = await self.roles.by_name(name)
        if other is not None and other.id != self_id:
            raise Conflict(f"a role named {name!r} already exists")

    def _check_scope(self, scope: str) -> None:
        if self.principal.department_ids is not None and scope == "tenant":
            raise Forbidden(
                "your access is limited to your department: you may only create and change "
                "department-scoped roles", code="least_privilege",
            )

    def _editable(self, role: Role) -> None:
        if role.builtin:
            raise Conflict(
                f"{role.name!r} is a built-in role and is read-only; create a custom role "
                "with the permissions you need instead", code="builtin_role",
            )
        _least_privilege(self.principal, role.permissions, f"you cannot change role {role.name!r}")
        self._check_scope(role.scope)

    async def create(self, body: RoleIn) -> Role:
        perms = check_known(body.permissions)
        _least_privilege(self.principal, perms, "you cannot create this role")
        self._check_scope(body.scope)
        await self._check_name(body.name)
        role = await self.roles.create(
            Role(name=body.name, description=body.description, permissions=perms,
                 scope=body.scope, builtin=False)
        )
        await audit.record(
            self.session, tenant_id=role.tenant_id, action="role.created",
            actor=self.principal.actor, target_type="role", target_id=role.id,
            details={"name": role.name, "scope": role.scope, "added": perms, "removed": []},
        )
        return role

    async def update(self, role_id: uuid.UUID, body: RolePatch) -> Role:
        role = await self.roles.get_or_404(role_id)
        self._editable(role)
        changes: dict[str, Any] = {}
        if body.permissions is not None:
            perms = check_known(body.permissions)
            _least_privilege(self.principal, perms, f"you cannot change role {role.name!r}")
            added = sorted(set(perms) - set(role.permissions))
            removed = sorted(set(role.permissions) - set(perms))
            if added or removed:
                changes.update(added=added, removed=removed)
                role.permissions = perms
        if body.name is not None and body.name != role.name:
            await self._check_name(body.name, role.id)
            changes["name"] = {"before": role.name, "after": body.name}
            role.name = body.name
        if body.description is not None and body.description != role.description:
            changes["description"] = "changed"
            role.description = body.description
        if body.scope is not None and body.scope != role.scope:
            self._check_scope(body.scope)
            changes["scope"] = {"before": role.scope, "after": body.scope}
            role.scope = body.scope
        if changes:
            await self.session.flush()
            await audit.record(
                self.session, tenant_id=role.tenant_id, action="role.updated",
                actor=self.principal.actor, target_type="role", target_id=role.id,
                details=changes,
            )
        return role

    async def delete(self, role_id: uuid.UUID) -> None:
        role = await self.roles.get_or_404(role_id)
        self._editable(role)
        holders = await self.roles.member_count(role.id)
        if holders:
            raise Conflict(
                f"role {role.name!r} is still assigned to {holders} user(s); "
                "take it away from them first", code="role_in_use",
            )
        await self.roles.delete(role)
        await audit.record(
            self.session, tenant_id=role.tenant_id, action="role.deleted",
            actor=self.principal.actor, target_type="role", target_id=role_id,
            details={"name": role.name, "added": [], "removed": list(role.permissions)},
        )
