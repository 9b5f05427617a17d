"""A short-lived in-process cache of resolved principals, keyed by a digest of the credential.

Resolving a credential costs two queries (session + user + tenant, then roles); a hit costs a
dictionary lookup. Entries live ``ttl`` seconds at most and never past the access token's
expiry. Any committed change to users, roles, role assignments, API keys, sessions or
tenants clears the cache of this process at once (see ``watch_authz_changes``); other
processes see such a change within ``ttl`` seconds.
"""

from __future__ import annotations

import hashlib
import time
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
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


@event.listens_for(Session, "before_flush")
def _flush_marks(session: Session, _ctx: Any, _instances: Any) -> None:
    models = _authz_models()
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, models):
            session.info[_DIRTY] = True
            return


@event.listens_for(Session, "do_orm_execute")
def _bulk_marks(state: ORMExecuteState) -> None:
    if state.is_update or state.is_delete:
        models = _authz_models()
        if any(issubclass(m.class_, models) for m in state.all_mappers):
            state.session.info[_DIRTY] = True


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.info.pop(_DIRTY, False):
        for cache in list(_caches):
            cache.clear()


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_DIRTY, None)
