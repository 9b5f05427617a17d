"""Creating and revoking API keys (used by the API and the CLI)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.audit import service as audit
from relaydesk.audit.service import SYSTEM
from relaydesk.auth import security
from relaydesk.auth.models import ApiKey
from relaydesk.auth.permissions import WILDCARD, is_known
from relaydesk.auth.principal import Principal
from relaydesk.auth.repository import ApiKeyRepository
from relaydesk.errors import Forbidden, ValidationFailed
from relaydesk.kit.db import utcnow


def check_grantable(permissions: Sequence[str], granted_by: Principal | None) -> list[str]:
    """Known permissions only, never ``*``, and never more than the granter holds."""
    unknown = [p for p in permissions if not is_known(p) or p == WILDCARD]
    if unknown:
        raise ValidationFailed(
            f"unknown permission(s): {', '.join(unknown)}",
            details=[{"loc": ["permissions"], "msg": f"unknown: {p}"} for p in unknown],
        )
    if granted_by is not None:
        beyond = [p for p in permissions if not granted_by.has(p)]
        if beyond:
            raise Forbidden(
                f"you cannot grant permissions you do not hold: {', '.join(beyond)}",
                details={"missing": beyond},
            )
    return sorted(set(permissions))


async def create_api_key(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    name: str,
    permissions: Sequence[str],
    granted_by: Principal | None,
    expires_at: dt.datetime | None = None,
) -> tuple[ApiKey, str]:
    """Returns the row and the clear key, which is never stored or shown again."""
    if not name.strip():
        raise ValidationFailed(
            "name must not be empty", details=[{"loc": ["name"], "msg": "empty"}]
        )
    if expires_at is not None and expires_at <= utcnow():
        raise ValidationFailed(
            "expires_at must be in the future", details=[{"loc": ["expires_at"], "msg": "past"}]
        )
    perms = check_grantable(permissions, granted_by)
    new = security.new_api_key()
    row = await ApiKeyRepository(session).create(
        ApiKey(
            tenant_id=tenant_id,
            name=name.strip(),
            prefix=new.prefix,
            key_hash=new.key_hash,
            permissions=perms,
            created_by=granted_by.user_id if granted_by else None,
            expires_at=expires_at,
        )
    )
    await audit.record(
        session,
        tenant_id=tenant_id,
        action="apikey.created",
        actor=granted_by.actor if granted_by else SYSTEM,
        target_type="api_key",
        target_id=row.id,
        details={
            "name": row.name,
            "permissions": perms,
            "prefix": security.API_KEY_PREFIX + new.prefix,
        },
    )
    return row, new.key


async def revoke_api_key(session: AsyncSession, key: ApiKey, by: Principal) -> None:
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        await session.flush()
        await audit.record(
            session,
            tenant_id=key.tenant_id,
            action="apikey.revoked",
            actor=by.actor,
            target_type="api_key",
            target_id=key.id,
        )
