"""A short-lived in-process cache of resolved principals, keyed by a digest of the credential.

Resolving a credential costs two queries (session + user + tenant, then roles); a hit costs a
dictionary lookup. Entries live ``ttl`` seconds at most and never past the access token's
expiry. Any committed change to users, roles, role assignments, API keys, sessions or
tenants clears the cache of this process at once (the session events below: a logout, a
revoked key, a deactivated user or a changed role applies to the very next request); other
processes see such a change within ``ttl`` seconds. Bookkeeping writes (a session's last
seen time and refresh-token rotation, an API key's last use, a user's sign-in counters) and
new sign-ins change nobody's rights and leave the cache alone: otherwise, with many users,
every sign-in and every minute's last-seen update of anyone would empty everyone's cache.
"""

from __future__ import annotations

import hashlib
import time
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import ORMExecuteState, Session

from relaydesk.auth.principal import Principal

_DIRTY = "relaydesk_authz_dirty"


@dataclass(frozen=True)
class CachedAuth:
    principal: Principal
    ip_allowlist: tuple[str, ...]
    expires: float  # monotonic


class PrincipalCache:
    def __init__(self, ttl: float = 5.0, max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: OrderedDict[str, CachedAuth] = OrderedDict()

    @staticmethod
    def key(credential: str) -> str:
        return hashlib.sha256(credential.encode()).hexdigest()

    def get(self, key: str) -> CachedAuth | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires <= time.monotonic():
            self._entries.pop(key, None)
            return None
        return entry

    def put(
        self, key: str, principal: Principal, ip_allowlist: list[str] | tuple[str, ...],
        valid_for: float | None = None,
    ) -> None:
        if self.ttl <= 0:
            return
        life = self.ttl if valid_for is None else max(0.0, min(self.ttl, valid_for))
        self._entries[key] = CachedAuth(principal, tuple(ip_allowlist), time.monotonic() + life)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()


# every cache of this process, cleared together when access rights may have changed
_caches: weakref.WeakSet[PrincipalCache] = weakref.WeakSet()


def register(cache: PrincipalCache) -> PrincipalCache:
    _caches.add(cache)
    return cache


def _authz_models() -> tuple[type[Any], ...]:
    from relaydesk.auth.models import ApiKey, AuthSession, Role, User, UserRole
    from relaydesk.tenancy.models import Tenant

    return (ApiKey, AuthSession, Role, User, UserRole, Tenant)


#: columns whose change cannot alter a cached principal: bookkeeping (last seen, last used,
#: sign-in counters: a lock-out stops sign-ins, not tokens already issued) and the refresh
#: token's rotation (a principal comes from an access token)
_BOOKKEEPING: dict[str, frozenset[str]] = {
    "users": frozenset({"last_login_at", "failed_logins", "locked_until"}),
    "auth_sessions": frozenset({"last_seen_at", "refresh_hash"}),
    "api_keys": frozenset({"last_used_at", "last_used_ip"}),
}


def _changes_rights(obj: Any, is_new: bool) -> bool:
    """Could this new or changed object alter a cached principal? A new session cannot (no
    token of it was cached); bookkeeping columns cannot; anything else may."""
    table = getattr(obj, "__tablename__", "")
    if table == "auth_sessions" and is_new:
        return False
    harmless = _BOOKKEEPING.get(table)
    if harmless is None or is_new:
        return True
    state = sa_inspect(obj)
    changed = {attr.key for attr in state.attrs if attr.history.has_changes()}
    return not changed <= harmless


@event.listens_for(Session, "before_flush")
def _flush_marks(session: Session, _ctx: Any, _instances: Any) -> None:
    models = _authz_models()
    for objects, is_new in ((session.new, True), (session.dirty, False),
                            (session.deleted, False)):  # fmt: skip
        for obj in objects:
            if isinstance(obj, models) and (obj in session.deleted or _changes_rights(obj, is_new)):
                session.info[_DIRTY] = True
                return


def _bulk_values(state: ORMExecuteState) -> set[str] | None:
    """The columns a bulk UPDATE sets (None when they cannot be told)."""
    values = getattr(state.statement, "_values", None)
    if not values:
        return None
    return {getattr(column, "key", str(column)) for column in values}


@event.listens_for(Session, "do_orm_execute")
def _bulk_marks(state: ORMExecuteState) -> None:
    if state.is_update or state.is_delete:
        models = _authz_models()
        for mapper in state.all_mappers:
            if not issubclass(mapper.class_, models):
                continue
            harmless = _BOOKKEEPING.get(mapper.local_table.name)  # type: ignore[attr-defined]
            columns = _bulk_values(state) if state.is_update else None
            if harmless is None or columns is None or not columns <= harmless:
                state.session.info[_DIRTY] = True
                return


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.info.pop(_DIRTY, False):
        for cache in list(_caches):
            cache.clear()


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_DIRTY, None)
