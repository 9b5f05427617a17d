"""What a hook URL resolves to (tenant, connector instance, spec, decrypted config and the
callbacks' verifiers), cached briefly; and the per-application hook state (see hooks_api.py,
which re-exports :class:`HookTargets`)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from relaydesk.integrations.callbacks import CallbackMisconfigured, Verifier, make_verifier
from relaydesk.integrations.inbox import InboxWriter, find_instance
from relaydesk.integrations.instance_cache import on_instance_change
from relaydesk.integrations.secrets import decrypt_config, instance_spec
from relaydesk.integrations.spec import CallbackSpec, ConnectorSpec
from relaydesk.kit.crypto import DecryptionFailed, Keyring
from relaydesk.kit.db import Database

__all__ = ["HookTarget", "HookTargets", "hook_state"]


@dataclass(slots=True)
class HookTarget:
    tenant_id: uuid.UUID
    instance_id: uuid.UUID
    active: bool  # instance enabled and tenant active
    spec: ConnectorSpec
    config: dict[str, Any]
    verifiers: dict[str, Verifier] = field(default_factory=dict)

    def verifier(self, name: str, callback: CallbackSpec) -> Verifier:
        found = self.verifiers.get(name)
        if found is None:
            found = self.verifiers[name] = make_verifier(callback.signature, self.config)
        return found


class HookTargets:
    """Resolves hook URLs to instances (spec, decrypted config, verifiers), cached for
    ``ttl`` seconds. A change to a connector instance committed in this process clears the
    cache at once; a change made by another process (or to the tenant) takes effect within
    ``ttl``. Concurrent lookups of one URL share one query; the cache holds at most ``size``
    URLs (least recent dropped)."""

    def __init__(self, db: Database, keyring: Keyring, *, ttl: float = 2.0, size: int = 1024):
        self.db, self.keyring, self.ttl, self.size = db, keyring, ttl, size
        self._cache: OrderedDict[tuple[str, str], tuple[float, HookTarget | None]] = OrderedDict()
        self._inflight: dict[tuple[str, str], asyncio.Future[HookTarget | None]] = {}
        on_instance_change(self.clear)

    def clear(self) -> None:
        self._cache.clear()

    async def get(self, tenant_slug: str, instance_name: str) -> HookTarget | None:
        key = (tenant_slug, instance_name)
        cached = self._cache.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        pending = self._inflight.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[HookTarget | None] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            target = await self._load(tenant_slug, instance_name)
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                future.cancel()
            else:
                future.set_exception(exc)
                future.exception()  # retrieved: waiters (if any) re-raise it
            raise
        finally:
            self._inflight.pop(key, None)
        future.set_result(target)
        self._cache[key] = (time.monotonic() + self.ttl, target)
        self._cache.move_to_end(key)
        while len(self._cache) > self.size:
            self._cache.popitem(last=False)
        return target

    async def _load(self, tenant_slug: str, instance_name: str) -> HookTarget | None:
        found = await find_instance(self.db, tenant_slug, instance_name)
        if found is None:
            return None
        instance, tenant_active = found
        active = instance.enabled and tenant_active
        try:
            config = decrypt_config(self.keyring, instance) if active else {}
        except DecryptionFailed as exc:
            raise CallbackMisconfigured(f"the instance config cannot be decrypted: {exc}") from None
        return HookTarget(instance.tenant_id, instance.id, active, instance_spec(instance), config)


def hook_state(app: Any) -> tuple[HookTargets, InboxWriter]:
    """The application's :class:`HookTargets` and :class:`InboxWriter`, made on first use
    (``app.state.hook_targets`` / ``app.state.inbox_writer``; tests may set their own)."""
    state = app.state
    targets: HookTargets | None = getattr(state, "hook_targets", None)
    writer: InboxWriter | None = getattr(state, "inbox_writer", None)
    if targets is None:
        keyring = Keyring.from_settings(state.settings)
        targets = state.hook_targets = HookTargets(state.db, keyring)
    if writer is None:
        writer = state.inbox_writer = InboxWriter(state.db)
    return targets, writer
