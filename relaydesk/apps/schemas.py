"""Request and response bodies of ``/api/v1/apps``."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import Field, field_validator

from relaydesk.apps.urls import normalise_origin, page_url
from relaydesk.kit.schemas import RequestModel, ResponseModel

__all__ = [
    "AppIn",
    "AppOut",
    "AppPatch",
    "ContextIn",
    "ContextOut",
    "JwksOut",
    "Placement",
]

Placement = Literal["customer_panel", "conversation_panel"]
MAX_ORIGINS = 20


def _origins(value: list[str] | None) -> list[str] | None:
    if value is None:
        return None
    return list(dict.fromkeys(normalise_origin(v) for v in value))


class AppIn(RequestModel):
    name: str = Field(min_length=1, max_length=100, description="Unique in the organisation")
    description: str | None = Field(None, max_length=500)
    url: str = Field(
        max_length=2000,
        description="The page (http or https). Relaydesk adds the context token as ?rd_token=",
    )
    origins: list[str] = Field(
        default_factory=list, max_length=MAX_ORIGINS,
        description="Further origins the frame may show and receive messages from (e.g. the "
        "system's sign-in page); the URL's own origin is always allowed",
    )  # fmt: skip
    placement: Placement = "customer_panel"
    height: int = Field(420, ge=120, le=2000, description="Frame height in pixels")
    enabled: bool = True

    @field_validator("url")
    @classmethod
    def check_url(cls, value: str) -> str:
        return page_url(value)

    @field_validator("origins")
    @classmethod
    def check_origins(cls, value: list[str]) -> list[str] | None:
        return _origins(value)


class AppPatch(RequestModel):
    """Fields sent are changed."""

    name: str | None = Field(None, min_length=1, max_length=100)
    description: str | None = Field(None, max_length=500)
    url: str | None = Field(None, max_length=2000)
    origins: list[str] | None = Field(None, max_length=MAX_ORIGINS)
    placement: Placement | None = None
    height: int | None = Field(None, ge=120, le=2000)
    enabled: bool | None = None

    @field_validator("url")
    @classmethod
    def check_url(cls, value: str | None) -> str | None:
        return None if value is None else page_url(value)

    @field_validator("origins")
    @classmethod
    def check_origins(cls, value: list[str] | None) -> list[str] | None:
        return _origins(value)


class AppOut(ResponseModel):
    id: uuid.UUID
    name: str
    description: str | None
    url: str
    origin: str = Field(description="The URL's origin: tokens are posted to it")
    origins: list[str] = Field(description="Every allowed origin, the URL's own first")
    placement: Placement
    height: int
    enabled: bool
    created_at: dt.datetime
    updated_at: dt.datetime


class ContextIn(RequestModel):
    customer_id: uuid.UUID | None = Field(None, description="The customer shown beside the app")
    conversation_id: uuid.UUID | None = Field(None, description="The open conversation, if any")


class ContextOut(ResponseModel):
    token: str = Field(description="ES256 JWT; verify it with /api/v1/apps/jwks.json")
    expires_at: dt.datetime
    expires_in: int = Field(description="Seconds")
    url: str = Field(description="The page URL with ?rd_token=<token>")
    origin: str = Field(description="Post the token only to this origin")
    claims: dict[str, Any] = Field(description="The token's claims, for display")


class JwksOut(ResponseModel):
    keys: list[dict[str, Any]]
