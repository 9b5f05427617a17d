"""Cursor pagination over time-ordered ids (UUIDv7): stable under inserts, O(1) per page."""

from __future__ import annotations

import base64
import binascii
import uuid
from typing import Annotated, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, Field

from relaydesk.errors import BadRequest

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` to get the next page; null on the last page."
    )


class PageParams(BaseModel):
    cursor: uuid.UUID | None = None
    limit: int = 50


def encode_cursor(value: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(value.bytes).decode().rstrip("=")


def decode_cursor(value: str) -> uuid.UUID:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        return uuid.UUID(bytes=raw)
    except (binascii.Error, ValueError):
        raise BadRequest(
            "cursor is not valid; pass the next_cursor of a previous page",
            details=[{"loc": ["query", "cursor"], "msg": "invalid cursor"}],
        ) from None


def page_params(
    cursor: Annotated[str | None, Query(max_length=64, description="Opaque cursor")] = None,
    limit: Annotated[int, Query(ge=1, le=200, description="Page size")] = 50,
) -> PageParams:
    return PageParams(cursor=decode_cursor(cursor) if cursor else None, limit=limit)
