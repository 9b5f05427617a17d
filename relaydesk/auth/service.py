"""Login, refresh, logout, and turning a credential into a :class:`Principal`."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.audit import service as audit
from relaydesk.audit.service import Actor
from relaydesk.auth import security
from relaydesk.auth.models import ApiKey, AuthSession, Role, User
from relaydesk.auth.principal import Principal
from relaydesk.auth.repository import SessionRepository, UserRepository
from relaydesk.config import Settings
from relaydesk.errors import Forbidden, LoginFailed, Unauthorized
from relaydesk.kit.db import WRITE_INTENT, Database, scope_session, unscoped, utcnow
from relaydesk.tenancy.models import Tenant

#: bookkeeping writes (last seen, last used) happen at most this often per session or key
TOUCH_INTERVAL = dt.timedelta(seconds=60)


class AccountLocked(Unauthorized):
    code = "account_locked"
    keep_changes = True


class IpNotAllowed(Forbidden):
    code = "ip_not_allowed"
    message = "Your IP address is not on this organisation's allow-list"
    keep_changes = True


class SessionExpired(Unauthorized):
    code = "session_expired"
    message = "Your session has expired; sign in again"


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    access_expires_at: dt.datetime
    refresh_token: str
    session_expires_at: dt.datetime
    user: User


def ip_allowed(allowlist: Sequence[str], ip: str | None) -> bool:
    if not allowlist:
        return True
    if ip is None:
        return False
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return any(addr in ipaddress.ip_network(cidr, strict=False) for cidr in allowlist)


def permissions_of(roles: Sequence[Role]) -> frozenset[str]:
    return frozenset(p for role in roles for p in role.permissions)


def department_scope(user: User, roles: Sequence[Role]) -> tuple[uuid.UUID, ...] | None:
    if not roles or any(role.scope == "tenant" for role in roles):
        return None
    return (user.department_id,) if user.department_id else ()


class AuthService:
    def __init__(self, session: AsyncSession, settings: Settings, secret: str) -> None:
        self.session = session
        self.settings = settings
        self.secret = secret
        self.sec = settings.security

    async def _tenant_by_slug(self, slug: str) -> Tenant | None:
        stmt = select(Tenant).where(Tenant.slug == slug.lower(), Tenant.is_active.is_(True))
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def login(
        self, *, tenant_slug: str, email: str, password: str, ip: str | None, user_agent: str | None
    ) -> TokenPair:
        tenant = await self._tenant_by_slug(tenant_slug)
        if tenant is None:
            await asyncio.to_thread(security.verify_password, None, password)  # same cost
            raise LoginFailed()
        scope_session(self.session, tenant.id)
        users = UserRepository(self.session)
        user = await users.by_email(email)
        label = email.lower()
        now = utcnow()
        if not ip_allowed(tenant.ip_allowlist, ip):
            await audit.record(
                self.session,
                tenant_id=tenant.id,
                action="auth.login",
                outcome="denied",
                actor=Actor("user", str(user.id) if user else None, label),
                details={"reason": "ip_not_allowed"},
            )
            raise IpNotAllowed()
        if user is not None and user.locked_until is not None and user.locked_until > now:
            seconds = int((user.locked_until - now).total_seconds()) + 1
            await audit.record(
                self.session,
                tenant_id=tenant.id,
                action="auth.login",
                outcome="denied",
                actor=Actor("user", str(user.id), label),
                details={"reason": "locked"},
            )
            raise AccountLocked(
                f"Account locked after repeated failures; try again in {seconds} s",
                headers={"Retry-After": str(seconds)},
            )
        ok = await asyncio.to_thread(
            security.verify_password, user.password_hash if user else None, password
        )
        if user is None or not ok or not user.is_active:
            details: dict[str, object] = {"reason": "bad_credentials"}
            if user is not None:
                user.failed_logins += 1
                if user.failed_logins >= self.sec.lockout_threshold:
                    user.locked_until = now + dt.timedelta(seconds=self.sec.lockout_seconds)
                    user.failed_logins = 0
                    details["locked"] = True
            await audit.record(
                self.session,
                tenant_id=tenant.id,
                action="auth.login",
                outcome="failure",
                actor=Actor("user", str(user.id) if user else None, label),
                details=details,
            )
            raise LoginFailed()
        user.failed_logins = 0
        user.locked_until = None
        user.last_login_at = now
        if security.needs_rehash(user.password_hash):
            user.password_hash = security.hash_password(password)
        refresh = security.new_refresh_token()
        auth_session = AuthSession(
            tenant_id=tenant.id,
            user_id=user.id,
            refresh_hash=security.sha256_hex(refresh),
            last_seen_at=now,
            expires_at=now + dt.timedelta(seconds=self.sec.absolute_timeout_seconds),
            ip=ip,
            user_agent=(user_agent or "")[:300] or None,
        )
        await SessionRepository(self.session).create(auth_session)
        await audit.record(
            self.session,
            tenant_id=tenant.id,
            action="auth.login",
            actor=Actor("user", str(user.id), label),
            target_type="session",
            target_id=auth_session.id,
        )
        return self._pair(user, auth_session, refresh)

    def _pair(self, user: User, auth_session: AuthSession, refresh: str) -> TokenPair:
        ttl = min(
            self.sec.access_token_ttl_seconds,
            max(1, int((auth_session.expires_at - utcnow()).total_seconds())),
        )
        token, expires = security.issue_access_token(
            self.secret,
            user_id=user.id,
            tenant_id=user.tenant_id,
            session_id=auth_session.id,
            ttl=ttl,
        )
        return TokenPair(token, expires, refresh, auth_session.expires_at, user)

    def _check_alive(self, auth_session: AuthSession, now: dt.datetime) -> None:
        if auth_session.revoked_at is not None:
            raise Unauthorized("This session was signed out", code="session_revoked")
        if auth_session.expires_at <= now:
            raise SessionExpired()
        if now - auth_session.last_seen_at > dt.timedelta(seconds=self.sec.idle_timeout_seconds):
            raise SessionExpired("Signed out after inactivity; sign in again")

    async def refresh(self, refresh_token: str, ip: str | None = None) -> TokenPair:
        """Rotate the refresh token: each one works once."""
        digest = security.sha256_hex(refresh_token)
        with unscoped(self.session):
            stmt = select(AuthSession).where(AuthSession.refresh_hash == digest)
            auth_session = (await self.session.execute(stmt)).scalar_one_or_none()
        if auth_session is None:
            raise Unauthorized("Refresh token is not valid", code="invalid_refresh_token")
        scope_session(self.session, auth_session.tenant_id)
        now = utcnow()
        self._check_alive(auth_session, now)
        tenant = await self.session.get(Tenant, auth_session.tenant_id)
        if tenant is None or not tenant.is_active:
            raise SessionExpired("This organisation is no longer active")
        if not ip_allowed(tenant.ip_allowlist, ip):
            raise IpNotAllowed()
        user = await UserRepository(self.session).get(auth_session.user_id)
        if user is None or not user.is_active:
            raise SessionExpired("This account is no longer active")
        refresh = security.new_refresh_token()
        auth_session.refresh_hash = security.sha256_hex(refresh)
        auth_session.last_seen_at = now
        await self.session.flush()
        return self._pair(user, auth_session, refresh)

    async def logout(self, principal: Principal) -> None:
        if principal.session_id is None:
            return
        await self.session.execute(
            update(AuthSession)
            .where(AuthSession.id == principal.session_id)
            .values(revoked_at=utcnow())
        )
        await audit.record(
            self.session,
            tenant_id=principal.tenant_id,
            action="auth.logout",
            actor=principal.actor,
            target_type="session",
            target_id=principal.session_id,
        )


class Authenticator:
    """Resolves a bearer credential into a Principal, on the request's session."""

    def __init__(self, session: AsyncSession, db: Database, settings: Settings, secret: str):
        self.session = session
        self.db = db
        self.settings = settings
        self.secret = secret

    async def from_access_token(
        self, token: str, ip: str | None
    ) -> tuple[Principal, list[str], float]:
        """The principal, the tenant's allow-list, and for how long this may be cached."""
        claims = security.decode_access_token(self.secret, token)
        if claims is None:
            raise Unauthorized("Access token is invalid or expired", code="invalid_token")
        scope_session(self.session, claims.tenant_id)
        stmt = (
            select(AuthSession, User, Tenant)
            .join(User, User.id == AuthSession.user_id)
            .join(Tenant, Tenant.id == AuthSession.tenant_id)
            .where(AuthSession.id == claims.session_id, User.id == claims.user_id)
        )
        row = (await self.session.execute(stmt)).one_or_none()
        if row is None:
            raise Unauthorized("Access token is invalid or expired", code="invalid_token")
        auth_session, user, tenant = row
        now = utcnow()
        AuthService(self.session, self.settings, self.secret)._check_alive(auth_session, now)
        if not user.is_active or not tenant.is_active:
            raise Unauthorized("This account is no longer active", code="account_inactive")
        if not ip_allowed(tenant.ip_allowlist, ip):
            raise IpNotAllowed()
        roles = await UserRepository(self.session).roles_of(user.id)
        if now - auth_session.last_seen_at > TOUCH_INTERVAL:
            await self._touch(AuthSession, auth_session.id, tenant.id, last_seen_at=now)
        principal = Principal(
            kind="user",
            id=user.id,
            tenant_id=tenant.id,
            tenant_slug=tenant.slug,
            label=user.email,
            permissions=permissions_of(roles),
            department_ids=department_scope(user, roles),
            user_id=user.id,
            session_id=auth_session.id,
        )
        valid_for = min(claims.expires_at, auth_session.expires_at) - now
        return principal, list(tenant.ip_allowlist), valid_for.total_seconds()

    async def from_api_key(self, key: str, ip: str | None) -> tuple[Principal, list[str], float]:
        """The key's principal, the tenant's allow-list, and for how long it may be cached."""
        prefix = security.split_api_key(key)
        invalid = Unauthorized("API key is invalid, expired or revoked", code="invalid_api_key")
        if prefix is None:
            raise invalid
        with unscoped(self.session):
            stmt = (
                select(ApiKey, Tenant)
                .join(Tenant, Tenant.id == ApiKey.tenant_id)
                .where(ApiKey.prefix == prefix)
            )
            row = (await self.session.execute(stmt)).one_or_none()
        if row is None or not security.api_key_matches(key, row[0].key_hash):
            raise invalid
        api_key, tenant = row
        now = utcnow()
        expired = api_key.expires_at is not None and api_key.expires_at <= now
        if api_key.revoked_at is not None or expired or not tenant.is_active:
            raise invalid
        scope_session(self.session, tenant.id)
        principal = Principal(
            kind="api_key",
            id=api_key.id,
            tenant_id=tenant.id,
            tenant_slug=tenant.slug,
            label=f"{api_key.name} ({security.API_KEY_PREFIX}{api_key.prefix})",
            permissions=frozenset(api_key.permissions),
        )
        if not ip_allowed(tenant.ip_allowlist, ip):
            async with self._side_tx(tenant.id) as job:
                await audit.record(
                    job,
                    tenant_id=tenant.id,
                    action="apikey.used",
                    outcome="denied",
                    actor=principal.actor,
                    details={"reason": "ip_not_allowed"},
                )
            raise IpNotAllowed()
        if api_key.last_used_at is None or now - api_key.last_used_at > TOUCH_INTERVAL:
            async with self._side_tx(tenant.id) as job:
                await job.execute(
                    update(ApiKey)
                    .where(ApiKey.id == api_key.id)
                    .values(last_used_at=now, last_used_ip=ip)
                )
                await audit.record(
                    job,
                    tenant_id=tenant.id,
                    action="apikey.used",
                    actor=principal.actor,
                    target_type="api_key",
                    target_id=api_key.id,
                )
        valid_for = (api_key.expires_at - now).total_seconds() if api_key.expires_at else 3600.0
        return principal, list(tenant.ip_allowlist), valid_for

    @asynccontextmanager
    async def _side_tx(self, tenant_id: uuid.UUID) -> AsyncIterator[AsyncSession]:
        """Bookkeeping in its own short transaction; on SQLite a writing request already
        holds the only write lock, so the request's unit of work carries it there."""
        if self.db.dialect == "sqlite" and self.session.in_transaction():
            conn = (await self.session.connection()).sync_connection
            if conn is not None and conn.get_execution_options().get(WRITE_INTENT, False):
                yield self.session
                return
        async with self.db.job(tenant_id) as job:
            yield job

    async def _touch(
        self, model: type[AuthSession], id_: uuid.UUID, tenant_id: uuid.UUID, **values: object
    ) -> None:
        """Bookkeeping in its own short transaction, so reads never turn into writes."""
        async with self._side_tx(tenant_id) as job:
            await job.execute(update(model).where(model.id == id_).values(**values))
