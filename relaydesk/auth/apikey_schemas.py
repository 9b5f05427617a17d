"""Request and response bodies of the API-key API. The secret leaves the server once."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import AwareDatetime, Field

from relaydesk.auth.models import ApiKey
from relaydesk.auth.security import API_KEY_PREFIX
from relaydesk.kit.schemas import RequestModel, ResponseModel


class ApiKeyIn(RequestModel):
    name: str = Field(min_length=1, max_length=200)
    permissions: list[str] = Field(
        min_length=1, max_length=500, description="Only permissions you hold yourself"
    )
    expires_at: AwareDatetime | None = Field(default=None, description="With a time zone")


class ApiKeyOut(ResponseModel):
    id: uuid.UUID
    name: str
    prefix: str = Field(description="The key's public start, e.g. rdk_1a2b3c4d")
    permissions: list[str]
    created_by: uuid.UUID | None
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None
    last_used_ip: str | None

    @classmethod
    def of(cls, key: ApiKey) -> ApiKeyOut:
        return cls(
            id=key.id, name=key.name, prefix=API_KEY_PREFIX + key.prefix,
            permissions=list(key.permissions), created_by=key.created_by,
            created_at=key.created_at, expires_at=key.expires_at, revoked_at=key.revoked_at,
            last_used_at=key.last_used_at, last_used_ip=key.last_used_ip,
        )


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The secret: shown this once, store it now")
