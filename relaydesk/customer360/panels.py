"""Running a customer's panels: concurrently, each within its timeout, through the hub,
cached with freshness labels, masked by role, failing soft.

1. Read (the request's session, no transaction): the customer and its identities, the
   panels, their connector instances.
2. Per panel, concurrently: the caller's permission for the action (and for its source
   panel's) → else ``forbidden``, nothing fetched; parameters rendered from the customer →
   ``not_applicable`` when it lacks what they need; the panel cache (fresh within the panel's
   TTL) → else the system, through the hub's pipeline (:mod:`relaydesk.customer360.caller`)
   within the panel's timeout; a failure falls back to the cached answer inside the stale
   window (``stale``) or reports the classified error (``unavailable``). A panel with a
   ``source_panel`` waits for that panel's data (``source`` in its templates).
3. One short write: the hub's call-log rows, audit rows and failure events of every call,
   cache hits included (who looked at which system's data is audited the same way).

Nothing a system does, and no bug in one panel, fails the response.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.auth.principal import Principal
from relaydesk.customer360.cache import PanelCache
from relaydesk.customer360.caller import PanelCall, PanelCaller
from relaydesk.customer360.context import customer_context, render_params
from relaydesk.customer360.models import CustomerPanel
from relaydesk.customer360.repository import PanelRepository
from relaydesk.customer360.schemas import PanelsView, PanelView
from relaydesk.customers.repository import CustomerRepository, IdentityRepository
from relaydesk.errors import NotFound, ValidationFailed
from relaydesk.integrations.models import ConnectorInstance
from relaydesk.integrations.outcome import PII_VIEW, ActionOutcome, OutcomeError, mask_output
from relaydesk.integrations.pipeline import Execution, cache_key
from relaydesk.integrations.registry import RuntimeRegistry
from relaydesk.integrations.resilience import ErrorKind
from relaydesk.integrations.secrets import instance_spec
from relaydesk.integrations.spec import ActionSpec, ConnectorSpec, action_permission
from relaydesk.integrations.spec import validate_params as validate
from relaydesk.kit.crypto import Keyring
from relaydesk.kit.db import Database, utcnow
from relaydesk.kit.ids import uuid7

__all__ = ["PanelRunner", "shape"]

log = structlog.get_logger("relaydesk.customer360")


def _config_error(code: str, message: str) -> OutcomeError:
    return OutcomeError(cls="fail", kind=ErrorKind.config.value, code=code, message=message)


def _pick(record: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(record, Mapping):
            return None
        record = record.get(part)
    return record


def shape(value: Any, fields: list[dict[str, Any]], max_items: int) -> Any:
    """The records shown: at most ``max_items``, with only ``fields`` (all when empty)."""

    def pick(record: Any) -> Any:
        if not fields or not isinstance(record, Mapping):
            return record
        return {f["path"]: _pick(record, f["path"]) for f in fields}

    if isinstance(value, list):
        return [pick(record) for record in value[:max_items]]
    return pick(value)


@dataclass
class _Target:
    panel: CustomerPanel
    instance: ConnectorInstance | None
    spec: ConnectorSpec | None
    #: the unmasked data, for the panels whose source this is
    done: asyncio.Future[Any] = field(default_factory=lambda: asyncio.get_running_loop()
                                      .create_future())  # fmt: skip

    @property
    def action(self) -> ActionSpec | None:
        return self.spec.actions.get(self.panel.action) if self.spec is not None else None


class PanelRunner:
    def __init__(
        self,
        session: AsyncSession,
        principal: Principal,
        registry: RuntimeRegistry,
        keyring: Keyring,
        cache: PanelCache,
        db: Database,
    ) -> None:
        self.session = session
        self.principal = principal
        self.registry = registry
        self.keyring = keyring
        self.cache = cache
        self.db = db
        self.caller = PanelCaller(session, principal, registry, keyring)
        self.calls: list[PanelCall] = []

    async def run(
        self, customer_id: uuid.UUID, *, key: str | None = None, refresh: bool = False
    ) -> PanelsView:
        """Every enabled panel (or only ``key``, bypassing its cache with ``refresh``)."""
        customer = await CustomerRepository(self.session).get_live_or_404(customer_id)
        identities = await IdentityRepository(self.session).of_customer(customer.id)
        repo = PanelRepository(self.session)
        panels = list(await repo.ordered(enabled_only=True))
        if key is not None and not any(p.key == key for p in panels):
            raise NotFound(f"panel {key!r} not found (or disabled)")
        instances = await repo.instances(p.instance_id for p in panels)
        targets = {}
        for panel in panels:
            instance = instances.get(panel.instance_id)
            spec = instance_spec(instance) if instance is not None else None
            targets[panel.key] = _Target(panel, instance, spec)
        context = customer_context(customer, identities)
        shown = [key] if key is not None else list(targets)
        wanted = set(shown)
        for name in shown:  # a panel's source runs too (not shown)
            source = targets[name].panel.source_panel
            if source is not None and source in targets:
                wanted.add(source)
        jobs = {
            name: asyncio.create_task(
                self._run_guarded(targets[name], targets, context, refresh and name == key)
            )
            for name in targets if name in wanted
        }  # fmt: skip
        views = dict(zip(jobs, await asyncio.gather(*jobs.values()), strict=True))
        if self.calls:
            await asyncio.shield(asyncio.ensure_future(self._record(list(self.calls))))
        return PanelsView(
            customer_id=customer.id, panels=[views[name] for name in shown], generated_at=utcnow()
        )

    async def _record(self, calls: list[PanelCall]) -> None:
        async with self.db.job(self.principal.tenant_id) as session:
            await PanelCaller(session, self.principal, self.registry, self.keyring).record(calls)

    async def _run_guarded(
        self,
        target: _Target,
        targets: Mapping[str, _Target],
        context: dict[str, Any],
        refresh: bool,
    ) -> PanelView:
        view = self._view(target)
        try:
            return await self._run(target, targets, context, refresh, view)
        except Exception:  # one panel's bug must not blank the others
            log.exception("customer360.panel_failed", panel=target.panel.key)
            view.state = "unavailable"
            view.error = OutcomeError(cls="fail", kind=ErrorKind.system.value,
                                      code="internal_error",
                                      message="the panel failed inside Relaydesk; see the "
                                      "server log")  # fmt: skip
            return view
        finally:
            if not target.done.done():
                target.done.set_result(None)

    def _view(self, target: _Target) -> PanelView:
        panel, action = target.panel, target.action
        fields = list(panel.fields or [])
        if not fields and action is not None and action.mapping is not None:
            fields = [{"path": name, "label_zh": None, "label_en": None}
                      for name in action.mapping.fields]  # fmt: skip
        return PanelView(
            key=panel.key, title={"zh": panel.title_zh, "en": panel.title_en},
            instance=target.instance.name if target.instance is not None else "",
            action=panel.action, state="unavailable",
            many=bool(action.many) if action is not None else False, fields=fields,
            masked=not self.principal.has(PII_VIEW),
        )  # fmt: skip

    def _missing_permissions(self, target: _Target, targets: Mapping[str, _Target]) -> list[str]:
        needed = []
        chain = [target]
        source = targets.get(target.panel.source_panel or "")
        if source is not None:
            chain.append(source)
        for item in chain:
            if item.spec is not None and item.action is not None:
                needed.append(action_permission(item.spec, item.panel.action))
        return [p for p in dict.fromkeys(needed) if not self.principal.has(p)]

    async def _run(
        self,
        target: _Target,
        targets: Mapping[str, _Target],
        context: dict[str, Any],
        refresh: bool,
        view: PanelView,
    ) -> PanelView:
        panel, instance, spec, action = target.panel, target.instance, target.spec, target.action
        if instance is None or spec is None or action is None:
            view.error = _config_error("action_not_found", f"the connector instance has no "
                                       f"action {panel.action!r} any more")  # fmt: skip
            return view
        missing = self._missing_permissions(target, targets)
        if missing:
            view.state, view.missing = "forbidden", missing
            return view
        if not instance.enabled:
            view.error = _config_error(
                "connector_disabled", f"connector instance {instance.name!r} is disabled"
            )
            return view
        values: dict[str, Any] = {"customer": context, "source": None}
        if panel.source_panel is not None:
            source = targets.get(panel.source_panel)
            # one level only (the API enforces it): a chain is never waited for
            chained = source is None or source.panel.source_panel is not None
            data = None if chained or source is None else await source.done
            if data is None:
                view.state, view.missing = "not_applicable", [f"source:{panel.source_panel}"]
                return view
            values["source"] = data
        rendered = render_params(panel.params or {}, spec, panel.action, values)
        if rendered.error is not None:
            view.error = _config_error("template_failed", rendered.error)
            return view
        if rendered.missing:
            view.state, view.missing = "not_applicable", rendered.missing
            return view
        try:
            params = validate(spec, panel.action, rendered.params)
        except ValidationFailed as exc:
            bad = [str(d["loc"][1]) for d in exc.details or [] if len(d.get("loc", [])) > 1]
            if bad and set(bad) <= rendered.templated:
                view.state, view.missing = "not_applicable", bad
            else:
                view.error = _config_error("invalid_params", exc.message)
            return view
        started = time.perf_counter()
        execution = await self._fetch(target, params, refresh)
        latency_ms = round((time.perf_counter() - started) * 1000, 3)
        self._fill(view, target, params, execution, latency_ms)
        if execution.ok:
            target.done.set_result(execution.value)
        return view

    def _cache_key(self, target: _Target, params: Mapping[str, Any]) -> str:
        panel, instance = target.panel, target.instance
        assert instance is not None
        stamp = int(panel.updated_at.timestamp() * 1e6) if panel.updated_at else 0
        return (f"{panel.tenant_id}:{panel.id}:{stamp}:{instance.version}:"
                f"{cache_key(panel.action, params)}")  # fmt: skip

    async def _fetch(self, target: _Target, params: dict[str, Any], refresh: bool) -> Execution:
        panel, instance, spec = target.panel, target.instance, target.spec
        assert instance is not None and spec is not None
        key = self._cache_key(target, params)
        hit = await self.cache.get(key)
        now = time.time()
        if hit is not None and not refresh and hit.age(now) <= panel.cache_ttl_seconds:
            return Execution(True, hit.fetched_at, hit.value, cached=True)
        execution = await self.caller.execute(
            instance, spec, panel.action, params, within=panel.timeout_seconds
        )
        keep = panel.cache_ttl_seconds + panel.stale_seconds
        if execution.ok and not execution.stale:
            if keep > 0:
                await self.cache.put(key, execution.value, execution.fetched_at, keep)
            return execution
        error = execution.error
        usable = hit is not None and hit.age(time.time()) <= keep
        if hit is not None and usable and (error is None or error.kind != ErrorKind.config.value):
            if execution.stale and execution.fetched_at >= hit.fetched_at:
                return execution  # the hub's own stale copy is the newer one
            return Execution(
                True, hit.fetched_at, hit.value, error, cached=True, stale=True,
                attempts=execution.attempts, status=execution.status,
            )  # fmt: skip
        return execution

    def _fill(
        self,
        view: PanelView,
        target: _Target,
        params: dict[str, Any],
        execution: Execution,
        latency_ms: float,
    ) -> None:
        instance, spec, action = target.instance, target.spec, target.action
        assert instance is not None and spec is not None and action is not None
        outcome = ActionOutcome(
            ok=execution.ok, data=None, error=execution.error, fetched_at=execution.fetched_at,
            cached=execution.cached, stale=execution.stale, sandbox=instance.sandbox,
            call_id=uuid7(), latency_ms=latency_ms, attempts=execution.attempts,
        )  # fmt: skip
        self.calls.append(PanelCall(instance, spec, target.panel.action, params, execution,
                                    outcome))  # fmt: skip
        view.call_id, view.fetched_at = outcome.call_id, outcome.fetched_at
        view.error = outcome.error
        view.cached, view.stale = execution.cached, execution.stale
        view.latency_ms = latency_ms
        if not execution.ok:
            view.state = "unavailable"
            return
        view.state = "stale" if execution.stale else "ok"
        value = execution.value
        if not self.principal.has(PII_VIEW):  # declared fields and free text
            value = mask_output(value, action.pii)
        view.data = shape(value, target.panel.fields or [], target.panel.max_items)
        view.empty = value is None or value == [] or value == {}
