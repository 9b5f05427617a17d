"""Request and response bodies of the users, roles and permissions API."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Sequence
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from relaydesk.auth.models import Role, User
from relaydesk.kit.masking import PiiKind, mask
from relaydesk.kit.schemas import RequestModel, ResponseModel

_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+$")


def _email(value: str) -> str:
    if not _EMAIL_RE.match(value):
        raise ValueError("not a valid e-mail address")
    return value.lower()


Email = Annotated[str, Field(min_length=3, max_length=320), AfterValidator(_email)]
DisplayName = Annotated[str, Field(min_length=1, max_length=200)]
Phone = Annotated[str, Field(max_length=40, pattern=r"^\+?[0-9][0-9 ()\-]{2,39}$")]
Password = Annotated[str, Field(min_length=1, max_length=256)]
RoleName = Annotated[str, Field(min_length=1, max_length=100)]
Scope = Literal["tenant", "department"]


class UserOut(ResponseModel):
    id: uuid.UUID
    email: str
    display_name: str
    phone: str | None = Field(description="Masked unless you hold customers.pii.view")
    department_id: uuid.UUID | None
    roles: list[str]
    is_active: bool
    locked_until: dt.datetime | None = Field(
        description="Set while sign-in is locked after repeated failures"
    )
    last_login_at: dt.datetime | None
    created_at: dt.datetime

    @classmethod
    def of(cls, user: User, roles: Sequence[Role], *, clear_pii: bool) -> UserOut:
        return cls(
            id=user.id, email=user.email, display_name=user.display_name,
            phone=user.phone if clear_pii else mask(user.phone, PiiKind.PHONE),
            department_id=user.department_id, roles=[r.name for r in roles],
            is_active=user.is_active, locked_until=user.locked_until,
            last_login_at=user.last_login_at, created_at=user.created_at,
        )


class UserCreate(RequestModel):
    email: Email
    display_name: DisplayName
    password: Password
    roles: list[RoleName] = Field(
        default_factory=list, max_length=20,
        description="Role names; assigning roles needs roles.manage",
    )
    department_id: uuid.UUID | None = None
    phone: Phone | None = None


class UserPatch(RequestModel):
    display_name: DisplayName | None = None
    department_id: uuid.UUID | None = Field(
        default=None, description="null takes the user out of any department"
    )
    roles: list[RoleName] | None = Field(
        default=None, max_length=20, description="The complete new set of role names"
    )
    is_active: bool | None = None
    phone: Phone | None = None


class PasswordSet(RequestModel):
    password: Password


class RoleOut(ResponseModel):
    id: uuid.UUID
    name: str
    description: str
    builtin: bool
    permissions: list[str]
    scope: str = Field(description="tenant: all data; department: the holder's department only")
    created_at: dt.datetime


class RoleIn(RequestModel):
    name: RoleName
    description: str = Field(default="", max_length=500)
    permissions: list[str] = Field(max_length=500)
    scope: Scope = "tenant"


class RolePatch(RequestModel):
    name: RoleName | None = None
    description: str | None = Field(default=None, max_length=500)
    permissions: list[str] | None = Field(default=None, max_length=500)
    scope: Scope | None = None


class PermissionOut(ResponseModel):
    name: str
    description: str
