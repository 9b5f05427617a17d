"""``Idempotency-Key`` on POST: the first response for (credential, key) is stored and
replayed for retries. The middleware that uses this table is below the model."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from relaydesk.kit.db import Base, utcnow


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_keys"

    #: SHA-256 of the credential (Authorization / X-API-Key) the request came with
    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(500))
    request_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), default="in_progress")
    response_status: Mapped[int | None] = mapped_column(nullable=True)
    response_headers: Mapped[list[str]] = mapped_column(default=list)
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)
