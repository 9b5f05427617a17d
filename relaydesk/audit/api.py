"""The audit log API: read the organisation's log and verify its hash chain."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from relaydesk.audit import service as audit
from relaydesk.audit.repository import AuditFilter, AuditRepository
from relaydesk.audit.schemas import AuditEntryOut, VerifyOut
from relaydesk.auth.deps import Require
from relaydesk.auth.principal import Principal
from relaydesk.errors import ValidationFailed
from relaydesk.kit.db import DbSession
from relaydesk.kit.pagination import Page, PageParams, page_params
from relaydesk.kit.schemas import COMMON_ERRORS

router = APIRouter(prefix="/audit", tags=["audit"])

AuditReader = Annotated[Principal, Depends(Require("audit.read"))]

_DT_HELP = "ISO 8601 date-time, inclusive; without an offset it is taken as UTC"


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def audit_filter(
    action: Annotated[
        str | None,
        Query(
            max_length=101, pattern=r"^[A-Za-z0-9._:\-]*\*?$",
            description="Exact action, or a prefix ending in `*` (e.g. `auth.*`)",
        ),
    ] = None,
    actor_id: Annotated[str | None, Query(max_length=64)] = None,
    actor_type: Annotated[Literal["user", "api_key", "system", "anonymous"] | None, Query()] = None,
    target_type: Annotated[str | None, Query(max_length=50)] = None,
    target_id: Annotated[str | None, Query(max_length=64)] = None,
    outcome: Annotated[
        str | None, Query(max_length=20, pattern=r"^[a-z_]+$", description="e.g. success")
    ] = None,
    since: Annotated[dt.datetime | None, Query(description=_DT_HELP)] = None,
    until: Annotated[dt.datetime | None, Query(description=_DT_HELP)] = None,
) -> AuditFilter:
    since, until = _utc(since), _utc(until)
    if since is not None and until is not None and since > until:
        raise ValidationFailed(
            "since must not be later than until",
            details=[{"loc": ["query", "since"], "msg": "later than until"}],
        )
    return AuditFilter(
        action=action, actor_id=actor_id, actor_type=actor_type, target_type=target_type,
        target_id=target_id, outcome=outcome, since=since, until=until,
    )


@router.get("", response_model=Page[AuditEntryOut], responses=COMMON_ERRORS)
async def list_audit(
    principal: AuditReader,
    session: DbSession,
    filters: Annotated[AuditFilter, Depends(audit_filter)],
    params: Annotated[PageParams, Depends(page_params)],
) -> Page[AuditEntryOut]:
    """The organisation's audit log, newest first."""
    rows, cursor = await AuditRepository(session).search(filters, params)
    return Page(items=[AuditEntryOut.of(row) for row in rows], next_cursor=cursor)


@router.get("/verify", response_model=VerifyOut, responses=COMMON_ERRORS)
async def verify_chain(principal: AuditReader, session: DbSession) -> VerifyOut:
    """Recompute the organisation's hash chain: any changed or removed row is reported."""
    return VerifyOut.of(await audit.verify(session, principal.tenant_id))
