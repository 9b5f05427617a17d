"""Bodies of the widget's public endpoints and of the admin endpoints."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import Field

from relaydesk.kit.schemas import RequestModel, ResponseModel


class Profile(RequestModel):
    """What the pre-chat (or offline) form collected: unverified contact details."""

    name: str | None = Field(None, max_length=100)
    phone: str | None = Field(None, max_length=40)
    email: str | None = Field(None, max_length=320)


class SessionIn(Profile):
    #: the token the widget kept from an earlier visit (a new visitor without it)
    token: str | None = Field(None, max_length=4096)
    #: the host site's user id, and its HMAC-SHA256 signature when verification is on
    user_id: str | None = Field(None, min_length=1, max_length=200)
    user_hash: str | None = Field(None, max_length=128)


class SessionOut(ResponseModel):
    token: str
    visitor_id: str
    #: the site's user id was verified (user_hash)
    verified: bool
    #: the widget must show the pre-chat form before the first message
    prechat_required: bool
    #: an agent is online and it is within business hours
    online: bool


class WidgetConfig(ResponseModel):
    inbox_id: str
    title: dict[str, str]
    greeting: dict[str, str]
    offline_message: dict[str, str]
    color: str
    position: str
    locale: str
    prechat: dict[str, Any]
    identity_verification: bool
    allow_anonymous: bool
    max_message_chars: int
    max_attachment_bytes: int
    attachment_types: list[str]
    online: bool


class UploadOut(ResponseModel):
    upload: str
    filename: str
    content_type: str
    size: int


class IdentitySecretOut(ResponseModel):
    secret: str = Field(description="Shown once: keep it on the site's server only")
    created_at: dt.datetime


class SnippetOut(ResponseModel):
    html: str
    script_url: str
    identity_verification: bool
    secret_set: bool
