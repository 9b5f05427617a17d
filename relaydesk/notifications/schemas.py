from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import Field

from relaydesk.kit.schemas import ResponseModel


class NotificationOut(ResponseModel):
    id: uuid.UUID
    title: str
    body: str
    link: str | None
    source: dict[str, Any]
    created_at: dt.datetime
    read_at: dt.datetime | None


class UnreadOut(ResponseModel):
    unread: int = Field(description="Notifications not marked read yet")


class MarkedOut(ResponseModel):
    updated: int = Field(description="Notifications marked read by this call")
