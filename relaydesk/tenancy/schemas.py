"""Request and response bodies of the organisation API: tenant, departments, teams."""

from __future__ import annotations

import datetime as dt
import ipaddress
import uuid
from typing import Annotated

from pydantic import AfterValidator, Field

from relaydesk.kit.schemas import RequestModel, ResponseModel


def normalise_cidr(value: str) -> str:
    """``10.1.2.3/8`` -> ``10.0.0.0/8``; a bare address becomes a /32 (or /128) network."""
    try:
        return str(ipaddress.ip_network(value.strip(), strict=False))
    except ValueError:
        raise ValueError(
            f"{value!r} is not an IP address or CIDR network (e.g. 203.0.113.0/24)"
        ) from None


Cidr = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(normalise_cidr)]
Name = Annotated[str, Field(min_length=1, max_length=200)]


class TenantOut(ResponseModel):
    id: uuid.UUID
    slug: str
    name: str
    ip_allowlist: list[str] = Field(
        description="CIDRs allowed to use the API as this organisation; empty = anywhere"
    )
    created_at: dt.datetime


class TenantPatch(RequestModel):
    name: Name | None = None
    ip_allowlist: list[Cidr] | None = Field(
        default=None,
        max_length=200,
        description="Replaces the allow-list; [] allows every address. Your own current "
        "address must stay allowed.",
    )


class DepartmentOut(ResponseModel):
    id: uuid.UUID
    name: str
    parent_id: uuid.UUID | None
    created_at: dt.datetime


class DepartmentIn(RequestModel):
    name: Name
    parent_id: uuid.UUID | None = Field(default=None, description="A department of this tenant")


class DepartmentPatch(RequestModel):
    name: Name | None = None
    parent_id: uuid.UUID | None = Field(
        default=None, description="Move under another department; null moves it to the top"
    )


class TeamOut(ResponseModel):
    id: uuid.UUID
    name: str
    description: str
    department_id: uuid.UUID | None
    created_at: dt.datetime


class TeamIn(RequestModel):
    name: Name
    description: str = Field(default="", max_length=1000)
    department_id: uuid.UUID | None = None


class TeamPatch(RequestModel):
    name: Name | None = None
    description: str | None = Field(default=None, max_length=1000)
    department_id: uuid.UUID | None = None


class TeamMembersIn(RequestModel):
    user_ids: list[uuid.UUID] = Field(
        max_length=1000, description="The complete new membership (replaces the old one)"
    )


class TeamMembersOut(ResponseModel):
    team_id: uuid.UUID
    user_ids: list[uuid.UUID]


class TeamMemberOut(ResponseModel):
    id: uuid.UUID
    email: str
    display_name: str
    department_id: uuid.UUID | None
    is_active: bool
