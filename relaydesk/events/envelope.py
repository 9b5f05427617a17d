"""What a consumer receives: one committed event with its metadata."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Envelope:
    id: uuid.UUID
    tenant_id: uuid.UUID
    type: str
    version: int
    #: ordering key: events with the same key reach each consumer in emission order
    key: str
    payload: dict[str, Any]
    occurred_at: dt.datetime
    #: where it came from: {"kind": "callback"|"api"|"rule"|"domain", ...}
    source: dict[str, Any] = field(default_factory=dict)
    #: the event (or request) that caused this one; rules use it for loop protection
    causation_id: str | None = None
    correlation_id: str | None = None
    #: how many rule/automation hops led here (0 for a change made by a person or system)
    depth: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "tenant_id": str(self.tenant_id),
            "type": self.type,
            "version": self.version,
            "key": self.key,
            "payload": self.payload,
            "occurred_at": self.occurred_at.isoformat(),
            "source": self.source,
            "causation_id": self.causation_id,
            "correlation_id": self.correlation_id,
            "depth": self.depth,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Envelope:
        return cls(
            id=uuid.UUID(data["id"]),
            tenant_id=uuid.UUID(data["tenant_id"]),
            type=data["type"],
            version=int(data["version"]),
            key=data["key"],
            payload=data["payload"],
            occurred_at=dt.datetime.fromisoformat(data["occurred_at"]),
            source=data.get("source") or {},
            causation_id=data.get("causation_id"),
            correlation_id=data.get("correlation_id"),
            depth=int(data.get("depth") or 0),
        )
