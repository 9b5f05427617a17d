"""Creating organisations and their first accounts (CLI, demo seed, tests, admin API)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.audit import service as audit
from relaydesk.audit.service import SYSTEM, Actor
from relaydesk.auth import security
from relaydesk.auth.models import Role, User
from relaydesk.auth.permissions import builtin_roles
from relaydesk.auth.repository import RoleRepository, UserRepository
from relaydesk.errors import Conflict, ValidationFailed
from relaydesk.kit.db import scope_session
from relaydesk.tenancy.models import Tenant

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def check_slug(slug: str) -> str:
    slug = slug.strip().lower()
    if not SLUG_RE.match(slug):
        raise ValidationFailed(
            "slug must be 1-63 lowercase letters, digits or dashes, "
            "not starting or ending with a dash",
            details=[{"loc": ["slug"], "msg": "invalid slug"}],
        )
    return slug


def check_password(password: str, min_length: int) -> None:
    if len(password) < min_length:
        raise ValidationFailed(
            f"password must be at least {min_length} characters",
            details=[{"loc": ["password"], "msg": f"shorter than {min_length}"}],
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
            "email is not a valid address", details=[{"loc": ["email"], "msg": "invalid e-mail"}]
        )
    check_password(password, min_password_length)
    if await users.by_email(email) is not None:
        raise Conflict(f"a user with e-mail {email} already exists")
    role_repo = RoleRepository(session)
    roles = []
    for name in role_names:
        role = await role_repo.by_name(name)
        if role is None:
            raise ValidationFailed(
                f"role {name!r} does not exist", details=[{"loc": ["roles"], "msg": name}]
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
