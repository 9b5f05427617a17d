"""Appending to and verifying the hash chain.

Each tenant has its own chain. Row ``n`` stores ``hash = sha256(canonical(row n) + hash(n-1))``
and the chain head stores the last ``(seq, hash)``; appending locks the head row, so
concurrent writers serialise per tenant. Verification recomputes every hash in order and
compares the last one with the head: a modified row breaks its own hash, a deleted row breaks
the sequence and the next row's link, a deleted tail disagrees with the head.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.audit.models import AuditChainHead, AuditEntry
from relaydesk.kit.context import client_ip_var, request_id_var
from relaydesk.kit.db import utcnow
from relaydesk.kit.masking import detect_and_mask_text

GENESIS = "0" * 64


@dataclass(frozen=True)
class Actor:
    type: str  # user | api_key | system | anonymous
    id: str | None = None
    label: str | None = None


SYSTEM = Actor("system", None, "system")


def _scrub(value: Any) -> Any:
    """Defence in depth: details never carry clear personal data."""
    if isinstance(value, str):
        return detect_and_mask_text(value)
    if isinstance(value, Mapping):
        return {str(k): _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


#: the columns a row's hash covers (besides its own hash)
HASHED = (
    "tenant_id", "seq", "occurred_at", "actor_type", "actor_id", "actor_label", "action",
    "outcome", "target_type", "target_id", "ip", "request_id", "details", "prev_hash",
)  # fmt: skip


def _canonical(row: Mapping[str, Any]) -> bytes:
    body = {name: row[name] for name in HASHED}
    body["tenant_id"] = str(row["tenant_id"])
    body["occurred_at"] = row["occurred_at"].astimezone(dt.UTC).isoformat(timespec="microseconds")
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def compute_hash(entry: AuditEntry | Mapping[str, Any]) -> str:
    row = entry if isinstance(entry, Mapping) else {n: getattr(entry, n) for n in HASHED}
    return hashlib.sha256(_canonical(row)).hexdigest()


def entry_fields(
    *,
    tenant_id: uuid.UUID,
    action: str,
    actor: Actor | None = None,
    outcome: str = "success",
    target_type: str | None = None,
    target_id: str | uuid.UUID | None = None,
    details: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The columns of a new row, but its place in the chain (``seq``, ``prev_hash``, ``hash``):
    taken now, so that time, client IP and request id are those of the audited request."""
    actor = actor or Actor("anonymous")
    return {
        "tenant_id": tenant_id,
        "occurred_at": utcnow(),
        "actor_type": actor.type,
        "actor_id": actor.id,
        "actor_label": detect_and_mask_text(actor.label) if actor.label else None,
        "action": action,
        "outcome": outcome,
        "target_type": target_type,
        "target_id": str(target_id) if target_id is not None else None,
        "ip": client_ip_var.get(),
        "request_id": request_id_var.get(),
        "details": _scrub(dict(details or {})),
    }


def chained(fields: Mapping[str, Any], seq: int, prev_hash: str) -> dict[str, Any]:
    """``fields`` placed after (``seq - 1``, ``prev_hash``) in the chain, with its hash."""
    row = {**fields, "seq": seq, "prev_hash": prev_hash}
    row["hash"] = compute_hash(row)
    return row


async def start_chain(session: AsyncSession, tenant_id: uuid.UUID) -> None:
    session.add(AuditChainHead(tenant_id=tenant_id, seq=0, hash=GENESIS))
    await session.flush()


async def record(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    action: str,
    actor: Actor | None = None,
    outcome: str = "success",
    target_type: str | None = None,
    target_id: str | uuid.UUID | None = None,
    details: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Append one row to the tenant's chain in the caller's unit of work."""
    fields = entry_fields(
        tenant_id=tenant_id, action=action, actor=actor, outcome=outcome,
        target_type=target_type, target_id=target_id, details=details,
    )  # fmt: skip
    head = (
        await session.execute(
            select(AuditChainHead).where(AuditChainHead.tenant_id == tenant_id).with_for_update()
        )
    ).scalar_one_or_none()
    if head is None:
        head = AuditChainHead(tenant_id=tenant_id, seq=0, hash=GENESIS)
        session.add(head)
    entry = AuditEntry(**chained(fields, head.seq + 1, head.hash))
    head.seq, head.hash = entry.seq, entry.hash
    session.add(entry)
    await session.flush()
    return entry


@dataclass
class VerifyResult:
    tenant_id: uuid.UUID
    checked: int = 0
    problems: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


async def verify(session: AsyncSession, tenant_id: uuid.UUID, batch: int = 1000) -> VerifyResult:
    result = VerifyResult(tenant_id)
    prev_hash, expected_seq, last_seq = GENESIS, 1, 0
    while True:
        rows = (
            (
                await session.execute(
                    select(AuditEntry)
                    .where(AuditEntry.tenant_id == tenant_id, AuditEntry.seq > last_seq)
                    .order_by(AuditEntry.seq)
                    .limit(batch)
                )
            )
            .scalars()
            .all()
        )
        if not rows:
            break
        for row in rows:
            result.checked += 1
            if row.seq != expected_seq:
                result.problems.append(
                    {"seq": expected_seq, "problem": f"rows {expected_seq}..{row.seq - 1} missing"}
                )
            if row.prev_hash != prev_hash:
                result.problems.append(
                    {"seq": row.seq, "problem": "link to the previous row is broken"}
                )
            if compute_hash(row) != row.hash:
                result.problems.append({"seq": row.seq, "problem": "row content was modified"})
            prev_hash, expected_seq, last_seq = row.hash, row.seq + 1, row.seq
    head = await session.get(AuditChainHead, tenant_id)
    if head is not None and (head.seq != last_seq or head.hash != prev_hash):
        result.problems.append(
            {
                "seq": head.seq,
                "problem": f"chain head is at {head.seq} but the log ends at {last_seq}",
            }
        )
    return result
