"""Running connector actions: the pipeline around :func:`relaydesk.integrations.pipeline.execute`.

``IntegrationService.run_action``: find the instance (404, also for other tenants' ids) →
the action (404) → its permission (403) → enabled (409) → params (422 naming each one) →
runtime (per instance and version, from the registry) → execute (cache, bucket, breaker,
retries, classification, mapping, shape) → mask the output by role (``action.pii`` fields;
for the API also free text in the rest; clear only with ``customers.pii.view``) → audit row
``connector.action_called`` (masked params, status, latency; never secrets) → Prometheus
metrics → ConnectorCall row, and a ``connector.action_failed`` event when the call ended in
error.

A caller whose session has not begun a transaction hands those rows to the
:class:`~relaydesk.audit.writer.AuditWriter` (committed, batched, **before** the answer
leaves; the instance comes from :mod:`relaydesk.integrations.instance_cache`); any other
caller gets them in its own unit of work (docs/decisions/0006-durable-audit-group-commit.md).
Whatever the system does, the answer is an :class:`ActionOutcome`: never a 500.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Mapping
from typing import Any

import structlog
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.audit import service as audit
from relaydesk.audit.writer import AuditWriter, writer_for
from relaydesk.auth.permissions import WILDCARD
from relaydesk.auth.principal import Principal
from relaydesk.errors import Conflict, Forbidden, ValidationFailed
from relaydesk.events.outbox import emit
from relaydesk.integrations import metrics
from relaydesk.integrations.calllog import HEALTH_WINDOW, action_health
from relaydesk.integrations.instance_cache import INSTANCES
from relaydesk.integrations.instances import InstanceService
from relaydesk.integrations.limits import Priority
from relaydesk.integrations.models import ConnectorCall, ConnectorInstance
from relaydesk.integrations.outcome import (
    PII_VIEW,
    ActionOutcome,
    OutcomeError,
    jsonable,
    mask_output,
    mask_params,
    redact_secrets,
)
from relaydesk.integrations.pipeline import Execution, execute
from relaydesk.integrations.registry import RuntimeRegistry
from relaydesk.integrations.repository import ConnectorCallRepository
from relaydesk.integrations.resilience import ErrorKind
from relaydesk.integrations.runtime.base import ExecutorError
from relaydesk.integrations.schemas import InstanceHealthOut
from relaydesk.integrations.secrets import instance_spec
from relaydesk.integrations.spec import ConnectorSpec, action_permission, validate_params
from relaydesk.kit.crypto import Keyring
from relaydesk.kit.db import database_of
from relaydesk.kit.ids import uuid7
from relaydesk.kit.masking import detect_and_mask_text
from relaydesk.kit.pagination import PageParams

__all__ = ["IntegrationService", "system_principal"]

log = structlog.get_logger("relaydesk.integrations")

SYSTEM_ID = uuid.UUID(int=0)
_CALLS: Table = ConnectorCall.__table__  # type: ignore[assignment]


def system_principal(tenant_id: uuid.UUID, tenant_slug: str, label: str = "system") -> Principal:
    """A principal for the CLI and background work (rules): every permission, clear data."""
    return Principal(
        kind="system", id=SYSTEM_ID, tenant_id=tenant_id, tenant_slug=tenant_slug, label=label,
        permissions=frozenset({WILDCARD}),
    )  # fmt: skip


def _located(exc: ValidationFailed, prefix: tuple[str, ...]) -> ValidationFailed:
    details = exc.details if isinstance(exc.details, list) else []
    moved = [{**d, "loc": [*prefix, *d.get("loc", [])]} for d in details]
    return ValidationFailed(exc.message, details=moved)


class IntegrationService:
    def __init__(
        self,
        session: AsyncSession,
        principal: Principal,
        registry: RuntimeRegistry,
        keyring: Keyring,
    ) -> None:
        self.session = session
        self.principal = principal
        self.registry = registry
        self.keyring = keyring
        self.instances = InstanceService(session, principal, keyring)
        self.calls = ConnectorCallRepository(session)

    async def run_action(
        self,
        instance_ref: uuid.UUID | str,
        action_name: str,
        raw_params: Mapping[str, Any],
        *,
        priority: Priority = "interactive",
        params_loc: tuple[str, ...] = (),
        free_text: bool = False,
    ) -> ActionOutcome:
        """Run one action (see the module docstring). ``params_loc`` prefixes the location
        of parameter errors (the API passes ``("body",)``); ``free_text`` also masks personal
        data inside the output's other strings (for outputs shown to people: the API)."""
        started = time.perf_counter()
        writer = writer_for(self.session)
        instance, spec = await self._instance(instance_ref, outside=writer is not None)
        spec.action(action_name)  # 404 for an action the connector does not have
        permission = action_permission(spec, action_name)
        if not self.principal.has(permission):
            raise Forbidden(f"Missing permission: {permission}", details={"missing": [permission]})
        if not instance.enabled:
            raise Conflict(
                f"connector instance {instance.name!r} is disabled", code="connector_disabled"
            )
        try:
            params = validate_params(spec, action_name, raw_params)
        except ValidationFailed as exc:
            raise _located(exc, params_loc) from None

        execution = await self.call(instance, spec, action_name, params, priority=priority)
        outcome = self.outcome(instance, spec, action_name, execution, started=started,
                               free_text=free_text)  # fmt: skip
        if writer is not None and writer_for(self.session) is writer:
            await self._record_durably(
                writer, instance, spec, action_name, params, execution, outcome, priority
            )
        else:
            await self.record_call(
                instance, spec, action_name, params, execution, outcome, priority=priority
            )
        return outcome

    async def _instance(
        self, ref: uuid.UUID | str, *, outside: bool
    ) -> tuple[ConnectorInstance, ConnectorSpec]:
        """The instance and its spec: from the request's session, or (``outside``) from the
        short-lived cache, else a read of its own that leaves the request's session unused."""
        if not outside:
            instance = await self.instances.find(ref)
            return instance, self.instances.spec_of(instance)
        tenant_id = self.principal.tenant_id
        hit = INSTANCES.get(tenant_id, ref)
        if hit is not None:
            return hit.instance, hit.spec
        db = database_of(self.session)
        assert db is not None
        async with db.reader(tenant_id) as reader:
            instance = await InstanceService(reader, self.principal, self.keyring).find(ref)
        spec = instance_spec(instance)
        INSTANCES.put(tenant_id, ref, instance, spec)
        return instance, spec

    # --- the parts of run_action, for callers that split it --------------------------------
    #
    # A caller that must not hold its unit of work open across the external call (a rule in
    # the background, a saga step, a Customer 360 panel) checks the call itself (the
    # instance, ``action_permission``, ``enabled``, ``validate_params``), then uses these
    # three: ``call`` (no database use), ``outcome`` (masking by role) and ``record_call``
    # (the rows, in the session this service was made with, e.g. a short write afterwards).

    async def call(
        self,
        instance: ConnectorInstance,
        spec: ConnectorSpec,
        action_name: str,
        params: Mapping[str, Any],
        *,
        priority: Priority = "interactive",
    ) -> Execution:
        """Send an already checked call through the pipeline (runtime from the registry,
        cache, bucket, breaker, retries, mapping). Uses no database session. Never raises
        for what the system or the instance's configuration does: that comes back as a
        failed :class:`Execution` with the classified error."""
        try:
            runtime = await self.registry.get(
                instance, spec, lambda: self.instances.config_of(instance)
            )
        except Exception as exc:  # the instance cannot be run as configured
            code = exc.code if isinstance(exc, ExecutorError) and exc.code else None
            message = exc.message if isinstance(exc, ExecutorError) else str(exc)
            error = OutcomeError(
                cls="fail", kind=ErrorKind.config.value, code=code or "instance_misconfigured",
                message=redact_secrets(message or type(exc).__name__, ()),
            )  # fmt: skip
            return Execution(False, dt.datetime.now(dt.UTC), error=error)
        try:
            return await execute(runtime, action_name, params, priority=priority)
        except Exception:  # a bug here must still not turn into a 500 for the caller
            log.exception("connector.pipeline_failed", connector=spec.name, action=action_name)
            error = OutcomeError(
                cls="fail", kind=ErrorKind.system.value, code="internal_error",
                message="the call failed inside Relaydesk; see the server log",
            )  # fmt: skip
            return Execution(False, dt.datetime.now(dt.UTC), error=error)

    def outcome(
        self,
        instance: ConnectorInstance,
        spec: ConnectorSpec,
        action_name: str,
        execution: Execution,
        *,
        started: float,
        free_text: bool | None = None,
    ) -> ActionOutcome:
        """The caller's answer for ``execution``: the output masked for this principal
        (clear only with ``customers.pii.view``), ``latency_ms`` since ``started``
        (``time.perf_counter()``) and a new ``call_id``. Masked: the action's ``pii``
        fields and, with ``free_text``, personal data inside every other string (True: what
        people are shown, the API; None: only for actions that declare personal fields)."""
        latency_ms = round((time.perf_counter() - started) * 1000, 3)
        data = execution.value
        pii = spec.action(action_name).pii
        text = bool(pii) if free_text is None else free_text
        if execution.ok and (pii or text) and not self.principal.has(PII_VIEW):
            data = mask_output(data, pii, free_text=text)
        return ActionOutcome(
            ok=execution.ok, data=data, error=execution.error, fetched_at=execution.fetched_at,
            cached=execution.cached, stale=execution.stale, sandbox=instance.sandbox,
            call_id=uuid7(), latency_ms=latency_ms, attempts=execution.attempts,
        )  # fmt: skip

    def _records(
        self,
        instance: ConnectorInstance,
        spec: ConnectorSpec,
        action_name: str,
        params: Mapping[str, Any],
        execution: Execution,
        outcome: ActionOutcome,
        priority: Priority,
    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None]:
        """(call-log row's columns, audit row's arguments, ``connector.action_failed``
        payload or None)."""
        action = spec.actions[action_name]
        shown_params = mask_params(jsonable(params), action.params)
        error = execution.error
        # a system's error text may quote what it was asked ("no customer 13800138000"):
        # stored and published masked, like the parameters
        message = detect_and_mask_text(error.message) if error and error.message else None
        succeeded = execution.ok and not execution.stale
        actor = self.principal.actor
        call = {
            "id": outcome.call_id, "tenant_id": instance.tenant_id, "instance_id": instance.id,
            "action": action_name, "actor_type": actor.type, "actor_id": actor.id,
            "priority": priority, "outcome": "success" if succeeded else "error",
            "error_class": error.cls if error else None,
            "error_code": error.code if error else None,
            "error_message": message,
            "http_status": execution.status, "attempts": execution.attempts,
            "cached": execution.cached, "stale": execution.stale,
            "latency_ms": outcome.latency_ms, "params": shown_params,
        }  # fmt: skip
        details: dict[str, Any] = {
            "instance": instance.name, "connector": spec.name, "action": action_name,
            "call_id": str(outcome.call_id), "params": shown_params, "ok": execution.ok,
            "http_status": execution.status, "attempts": execution.attempts,
            "latency_ms": outcome.latency_ms, "cached": execution.cached,
            "stale": execution.stale, "sandbox": instance.sandbox, "priority": priority,
        }  # fmt: skip
        if error is not None:
            details["error"] = {"class": error.cls, "kind": error.kind, "code": error.code}
        row = {
            "tenant_id": instance.tenant_id, "action": "connector.action_called",
            "actor": actor, "outcome": "success" if succeeded else "failure",
            "target_type": "connector_instance", "target_id": instance.id, "details": details,
        }  # fmt: skip
        failed = None
        if not succeeded and error is not None:
            failed = {
                "instance": instance.name, "connector": spec.name, "action": action_name,
                "effect": action.effect, "error_class": error.cls, "error_code": error.code,
                "message": message, "http_status": execution.status,
                "actor_type": actor.type, "actor_id": actor.id,
            }  # fmt: skip
        return call, row, failed

    async def record_call(
        self,
        instance: ConnectorInstance,
        spec: ConnectorSpec,
        action_name: str,
        params: Mapping[str, Any],
        execution: Execution,
        outcome: ActionOutcome,
        *,
        priority: Priority = "interactive",
    ) -> None:
        """Record a call in this service's session (the caller commits): the call-log row,
        the ``connector.action_called`` audit row (parameters masked, never secrets), a
        ``connector.action_failed`` event when it ended in error, and the metrics."""
        call, row, failed = self._records(
            instance, spec, action_name, params, execution, outcome, priority
        )
        self.calls.add_call(ConnectorCall(**call))
        await audit.record(self.session, **row)
        if failed is not None:
            await emit(self.session, "connector.action_failed", failed,
                       tenant_id=instance.tenant_id)  # fmt: skip
        self._observe(instance, spec, action_name, execution, outcome)

    async def _record_durably(
        self,
        writer: AuditWriter,
        instance: ConnectorInstance,
        spec: ConnectorSpec,
        action_name: str,
        params: Mapping[str, Any],
        execution: Execution,
        outcome: ActionOutcome,
        priority: Priority,
    ) -> None:
        """The call's rows committed by the audit writer; returns once they are."""
        call, row, failed = self._records(
            instance, spec, action_name, params, execution, outcome, priority
        )

        async def event(session: AsyncSession) -> None:
            if failed is not None:
                await emit(session, "connector.action_failed", failed,
                           tenant_id=instance.tenant_id)  # fmt: skip

        await writer.append(
            **row, rows=[(_CALLS, call)], also=event if failed is not None else None
        )
        self._observe(instance, spec, action_name, execution, outcome)

    @staticmethod
    def _observe(
        instance: ConnectorInstance,
        spec: ConnectorSpec,
        action_name: str,
        execution: Execution,
        outcome: ActionOutcome,
    ) -> None:
        action = spec.actions[action_name]
        error = execution.error
        succeeded = execution.ok and not execution.stale
        cache: str | None = None
        if action.cache and action.effect == "read":
            cache = "stale" if execution.stale else ("hit" if execution.cached else "miss")
        metrics.observe(
            spec.name, action_name,
            outcome="stale" if execution.stale else ("success" if succeeded else "error"),
            seconds=outcome.latency_ms / 1000, cache=cache,
            error_class=error.cls if error else None,
            error_kind=error.kind if error else None,
        )  # fmt: skip
        if error is not None:
            log.warning(
                "connector.call_failed", connector=spec.name, instance=instance.name,
                action=action_name, error_class=error.cls, error_code=error.code,
                http_status=execution.status, attempts=execution.attempts,
                stale=execution.stale, latency_ms=outcome.latency_ms,
            )  # fmt: skip

    # --- call log and health ------------------------------------------------------------

    async def calls_page(
        self,
        instance_id: uuid.UUID,
        params: PageParams,
        *,
        action: str | None = None,
        outcome: str | None = None,
    ) -> tuple[list[ConnectorCall], str | None]:
        instance = await self.instances.get(instance_id)
        rows, cursor = await self.calls.list_page(
            instance.id, params, action=action, outcome=outcome
        )
        return list(rows), cursor

    async def health(
        self, instance_id: uuid.UUID, window: int = HEALTH_WINDOW
    ) -> InstanceHealthOut:
        instance = await self.instances.get(instance_id)
        spec = self.instances.spec_of(instance)
        runtime = self.registry.peek(instance)
        breaker = runtime.breaker_state.value if runtime is not None else "closed"
        actions = [
            action_health(name, await self.calls.recent(instance.id, name, window), breaker)
            for name in spec.actions
        ]
        return InstanceHealthOut(
            instance_id=instance.id, name=instance.name, enabled=instance.enabled,
            sandbox=instance.sandbox, breaker=breaker, window=window, actions=actions,
        )  # fmt: skip
