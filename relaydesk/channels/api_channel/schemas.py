"""What an app posts to the API channel, what it gets back, and what its webhook receives."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, Field, field_validator, model_validator

from relaydesk.channels.sms.settings import check_http_url
from relaydesk.conversations.schemas import MAX_TEXT
from relaydesk.kit.schemas import RequestModel

__all__ = ["AppAttachment", "AppMessageIn", "AppMessageOut", "AppUser", "SigningSecretOut"]


class AppUser(RequestModel):
    """The app's user. ``id`` is required; the rest links them to a known customer."""

    id: str = Field(min_length=1, max_length=200, description="The app's own user id")
    openid: str | None = Field(None, max_length=200, description="WeChat-style per-app id")
    app_id: str | None = Field(
        None, max_length=100, description="The app the openid belongs to (default: the inbox's)"
    )
    unionid: str | None = Field(None, max_length=200, description="WeChat-style cross-app id")
    name: str | None = Field(None, max_length=200)
    phone: str | None = Field(None, max_length=32)
    email: str | None = Field(None, max_length=320)


class AppAttachment(RequestModel):
    """A file the user sent, by URL (Relaydesk stores the reference, not the file)."""

    url: str = Field(max_length=2000)
    content_type: str | None = Field(None, max_length=100, pattern=r"^[\w.+\-]+/[\w.+\-*]+$")
    name: str | None = Field(None, max_length=255)
    size: int | None = Field(None, ge=0, description="Bytes")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_http_url(value)


class AppMessageIn(RequestModel):
    """One message from the app's user. ``message_id`` de-duplicates (default: the request's
    ``webhook-id``); text, attachments or both."""

    message_id: str | None = Field(None, min_length=1, max_length=200)
    user: AppUser
    text: str = Field("", max_length=MAX_TEXT)
    attachments: list[AppAttachment] = Field(default_factory=list, max_length=20)
    sent_at: AwareDatetime | None = None

    @model_validator(mode="after")
    def _something(self) -> AppMessageIn:
        if not self.text and not self.attachments:
            raise ValueError("give text, attachments or both")
        return self


class AppMessageOut(BaseModel):
    status: Literal["created", "duplicate"]
    message_id: str = Field(description="The de-duplication id (yours, or the webhook-id)")
    conversation_id: uuid.UUID
    relaydesk_message_id: uuid.UUID
    customer_id: uuid.UUID


class SigningSecretOut(BaseModel):
    signing_secret: str = Field(description="Shown once: store it in the app now")


def outgoing_payload(**fields: Any) -> dict[str, Any]:
    """The JSON body the app's webhook receives for an agent's reply (``type``
    ``message.created``)."""
    return {"type": "message.created", **fields}
