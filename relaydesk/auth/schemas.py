from __future__ import annotations

import datetime as dt
import uuid

from pydantic import Field

from relaydesk.kit.schemas import RequestModel, ResponseModel


class LoginIn(RequestModel):
    tenant: str = Field(min_length=1, max_length=63, description="Organisation slug")
    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=256)


class RefreshIn(RequestModel):
    refresh_token: str = Field(min_length=10, max_length=200)


class TokenOut(ResponseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_in: int = Field(description="Seconds until the access token expires")
    refresh_token: str
    session_expires_at: dt.datetime = Field(description="Absolute end of this sign-in")


class MeOut(ResponseModel):
    kind: str
    id: uuid.UUID
    tenant_id: uuid.UUID
    tenant: str
    label: str
    permissions: list[str]
    department_scoped: bool
