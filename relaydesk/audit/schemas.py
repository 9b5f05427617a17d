"""What the audit API shows: one row of the chain, and the result of verifying it."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import Field

from relaydesk.audit.models import AuditEntry
from relaydesk.audit.service import VerifyResult
from relaydesk.kit.schemas import ResponseModel


class AuditActorOut(ResponseModel):
    type: str = Field(description="user | api_key | system | anonymous")
    id: str | None = None
    label: str | None = Field(default=None, description="E-mail or key name, masked if personal")


class AuditTargetOut(ResponseModel):
    type: str
    id: str | None = None


class AuditEntryOut(ResponseModel):
    id: uuid.UUID
    seq: int = Field(description="Position in the organisation's chain, from 1")
    occurred_at: dt.datetime
    actor: AuditActorOut
    action: str = Field(description="Dotted name, e.g. auth.login")
    outcome: str = Field(description="success | failure | denied")
    target: AuditTargetOut | None = None
    ip: str | None = None
    request_id: str | None = None
    details: dict[str, Any]
    hash: str = Field(description="SHA-256 of this row's content and prev_hash")
    prev_hash: str = Field(description="hash of the previous row (64 zeros for the first)")

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditEntryOut:
        target = (
            AuditTargetOut(type=entry.target_type, id=entry.target_id)
            if entry.target_type is not None
            else None
        )
        return cls(
            id=entry.id,
            seq=entry.seq,
            occurred_at=entry.occurred_at,
            actor=AuditActorOut(
                type=entry.actor_type, id=entry.actor_id, label=entry.actor_label
            ),
            action=entry.action,
            outcome=entry.outcome,
            target=target,
            ip=entry.ip,
            request_id=entry.request_id,
            details=entry.details,
            hash=entry.hash,
            prev_hash=entry.prev_hash,
        )


class ChainProblemOut(ResponseModel):
    seq: int = Field(description="The row where the chain breaks")
    problem: str


class VerifyOut(ResponseModel):
    ok: bool = Field(description="True when every row and the chain head check out")
    checked: int = Field(description="Rows recomputed")
    problems: list[ChainProblemOut]

    @classmethod
    def of(cls, result: VerifyResult) -> VerifyOut:
        return cls(
            ok=result.ok,
            checked=result.checked,
            problems=[ChainProblemOut(seq=p["seq"], problem=p["problem"]) for p in result.problems],
        )
