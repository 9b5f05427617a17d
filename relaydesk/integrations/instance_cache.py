"""A short-lived in-process cache of connector instances for action calls.

An action call looks its instance up (a query) and parses its spec before anything else; for
a read answered from the connector cache that lookup was most of the work. Entries are keyed
by (tenant, reference as given) and live ``ttl`` seconds at most. Any committed change to a
connector instance clears this process's cache (and those registered with
:func:`on_instance_change`) at once (session events, as the principal
cache does); other processes see a change (disabled, new config, new version) within ``ttl``.
The instance the cache returns is detached from any session and is only read.
"""

from __future__ import annotations

import time
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session

from relaydesk.integrations.models import ConnectorInstance
from relaydesk.integrations.spec import ConnectorSpec

__all__ = ["INSTANCES", "CachedInstance", "InstanceCache", "on_instance_change"]

_DIRTY = "relaydesk_connector_instances_dirty"


@dataclass(frozen=True, slots=True)
class CachedInstance:
    instance: ConnectorInstance
    spec: ConnectorSpec
    expires: float  # monotonic


class InstanceCache:
    def __init__(self, ttl: float = 2.0, max_entries: int = 4096) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[uuid.UUID, str], CachedInstance] = OrderedDict()

    def get(self, tenant_id: uuid.UUID, ref: uuid.UUID | str) -> CachedInstance | None:
        key = (tenant_id, str(ref))
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires <= time.monotonic() or entry.instance.tenant_id != tenant_id:
            self._entries.pop(key, None)
            return None
        return entry

    def put(
        self, tenant_id: uuid.UUID, ref: uuid.UUID | str, instance: ConnectorInstance,
        spec: ConnectorSpec,
    ) -> None:  # fmt: skip
        if self.ttl <= 0 or instance.tenant_id != tenant_id:
            return
        key = (tenant_id, str(ref))
        self._entries[key] = CachedInstance(instance, spec, time.monotonic() + self.ttl)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


#: the process's cache (action calls of every tenant; keys include the tenant)
INSTANCES = InstanceCache()

#: other caches of instance data (the hook targets), cleared with INSTANCES; held weakly
_CALLBACKS: list[weakref.WeakMethod[Callable[[], None]]] = []


def on_instance_change(clear: Callable[[], None]) -> None:
    """Call ``clear`` (a bound method, held weakly) whenever a change to a connector
    instance commits in this process."""
    _CALLBACKS[:] = [ref for ref in _CALLBACKS if ref() is not None]
    _CALLBACKS.append(weakref.WeakMethod(clear))


def _changed() -> None:
    INSTANCES.clear()
    for ref in list(_CALLBACKS):
        clear = ref()
        if clear is not None:
            clear()


@event.listens_for(Session, "before_flush")
def _flush_marks(session: Session, _ctx: Any, _instances: Any) -> None:
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, ConnectorInstance):
            session.info[_DIRTY] = True
            return


@event.listens_for(Session, "do_orm_execute")
def _bulk_marks(state: ORMExecuteState) -> None:
    if (state.is_update or state.is_delete) and any(
        issubclass(m.class_, ConnectorInstance) for m in state.all_mappers
    ):
        state.session.info[_DIRTY] = True


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.info.pop(_DIRTY, False):
        _changed()


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_DIRTY, None)
