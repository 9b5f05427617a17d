"""Connector calls of saga steps, through the integration pipeline, in three phases.

A job must not hold a write transaction while another system answers (SQLite has one
writer), and the call's audit and call-log rows should commit together with the step's new
state. So a call is *prepared* in the job's first transaction (instance, spec, permission,
enabled, parameters: exactly the checks of ``IntegrationService.run_action``), *executed*
with no transaction open (the same pipeline: bucket, breaker, retries of idempotent writes,
classification, mapping, masking), and *recorded* in the second transaction (the same audit
row ``connector.action_called``, call-log row and metrics).

Job handlers have no request: the process's connector registry and keyring are bound to
its :class:`Database` with :func:`bind_runtime` (the API does so on first use, a worker at
start-up); unbound, they are made from the settings.
"""

from __future__ import annotations

import time
import uuid
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from relaydesk.config import get_settings
from relaydesk.errors import Conflict, Forbidden
from relaydesk.integrations.limits import Priority
from relaydesk.integrations.models import ConnectorInstance
from relaydesk.integrations.outcome import (
    ActionOutcome,
    jsonable,
    mask_params,
)
from relaydesk.integrations.pipeline import Execution
from relaydesk.integrations.registry import RuntimeRegistry
from relaydesk.integrations.service import IntegrationService
from relaydesk.integrations.spec import (
    ActionSpec,
    ConnectorSpec,
    action_permission,
    validate_params,
)
from relaydesk.kit.crypto import Keyring
from relaydesk.kit.db import Database

__all__ = ["PreparedCall", "SagaRuntime", "StepCaller", "bind_runtime", "runtime_for"]

PRIORITY: Priority = "background"


@dataclass(frozen=True)
class SagaRuntime:
    registry: RuntimeRegistry
    keyring: Keyring


_RUNTIMES: weakref.WeakKeyDictionary[Database, SagaRuntime] = weakref.WeakKeyDictionary()


def bind_runtime(db: Database, registry: RuntimeRegistry, keyring: Keyring) -> SagaRuntime:
    """Use ``registry`` and ``keyring`` for the saga jobs run on ``db`` in this process."""
    known = _RUNTIMES.get(db)
    if known is not None and known.registry is registry and known.keyring is keyring:
        return known
    runtime = _RUNTIMES[db] = SagaRuntime(registry, keyring)
    return runtime


def runtime_for(db: Database) -> SagaRuntime:
    known = _RUNTIMES.get(db)
    if known is None:
        known = _RUNTIMES[db] = SagaRuntime(
            RuntimeRegistry(), Keyring.from_settings(get_settings())
        )
    return known


@dataclass
class PreparedCall:
    instance: ConnectorInstance
    spec: ConnectorSpec
    action_name: str
    params: dict[str, Any]

    @property
    def action(self) -> ActionSpec:
        return self.spec.action(self.action_name)

    @property
    def safe_to_repeat(self) -> bool:
        """A read, or a write its spec declares idempotent: sending it twice does no harm."""
        return self.action.effect == "read" or self.action.idempotent

    def shown_params(self) -> dict[str, Any]:
        """The parameters as the call log keeps them (personal data masked)."""
        return mask_params(jsonable(self.params), self.action.params)


class StepCaller(IntegrationService):
    """``IntegrationService`` split into prepare / execute / record (see the module doc)."""

    async def prepare(
        self, instance_name: str, action_name: str, raw_params: Mapping[str, Any]
    ) -> PreparedCall:
        """The checks of ``run_action``: NotFound, Forbidden, Conflict, ValidationFailed."""
        instance = await self.instances.find(instance_name)
        spec = self.instances.spec_of(instance)
        spec.action(action_name)
        permission = action_permission(spec, action_name)
        if not self.principal.has(permission):
            raise Forbidden(f"Missing permission: {permission}", details={"missing": [permission]})
        if not instance.enabled:
            raise Conflict(f"connector instance {instance.name!r} is disabled",
                           code="connector_disabled")  # fmt: skip
        params = validate_params(spec, action_name, raw_params)
        return PreparedCall(instance, spec, action_name, params)

    def config_of(self, call: PreparedCall) -> dict[str, Any]:
        return self.instances.config_of(call.instance)

    async def execute(self, call: PreparedCall) -> tuple[Execution, ActionOutcome]:
        """Call the system (no database use): the pipeline, then masking by role."""
        started = time.perf_counter()
        execution = await self.call(
            call.instance, call.spec, call.action_name, call.params, priority=PRIORITY
        )
        return execution, self.outcome(
            call.instance, call.spec, call.action_name, execution, started=started
        )

    async def record(
        self, call: PreparedCall, execution: Execution, outcome: ActionOutcome
    ) -> uuid.UUID:
        """The audit row, call-log row and metrics of the call, in this caller's session."""
        await self.record_call(
            call.instance, call.spec, call.action_name, call.params, execution, outcome,
            priority=PRIORITY,
        )  # fmt: skip
        return outcome.call_id
