"""Who is calling: a user (via a session's access token) or an API key."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from relaydesk.audit.service import Actor
from relaydesk.auth.permissions import grants


@dataclass(frozen=True)
class Principal:
    kind: str  # "user" | "api_key"
    id: uuid.UUID
    tenant_id: uuid.UUID
    tenant_slug: str
    label: str
    permissions: frozenset[str]
    #: None: all of the tenant's data; else only these departments' rows
    department_ids: tuple[uuid.UUID, ...] | None = None
    user_id: uuid.UUID | None = None
    session_id: uuid.UUID | None = None

    def has(self, permission: str) -> bool:
        return grants(self.permissions, permission)

    @property
    def actor(self) -> Actor:
        return Actor(self.kind, str(self.id), self.label)
