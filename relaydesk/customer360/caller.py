"""Connector calls of the panels, through the integration hub's pipeline, in two phases.

``IntegrationService.run_action`` does everything in the caller's unit of work, one call at a
time. The panels run several calls **concurrently** and no transaction may stay open while
the systems answer (SQLite has one writer), so, like the saga steps
(:mod:`relaydesk.sagas.calls`) and the rules (:mod:`relaydesk.automation.connector_calls`),
a panel call is split:

1. *execute* (no database): the hub's own pipeline — token bucket, circuit breaker,
   retries, error classification, mapping, canonical shape — bounded by the panel's timeout;
2. *record* (one short write for every panel of a request): the hub's own call-log row,
   ``connector.action_called`` audit row, metrics and ``connector.action_failed`` event.

The permission check, masking and caching happen in :mod:`relaydesk.customer360.panels`,
with the hub's rules (``action_permission``, ``mask_output`` with ``customers.pii.view``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from relaydesk.integrations.limits import Priority
from relaydesk.integrations.models import ConnectorInstance
from relaydesk.integrations.outcome import ActionOutcome, OutcomeError
from relaydesk.integrations.pipeline import Execution, cache_key
from relaydesk.integrations.resilience import ErrorClass, ErrorKind
from relaydesk.integrations.service import IntegrationService
from relaydesk.integrations.spec import ConnectorSpec

__all__ = ["PRIORITY", "PanelCall", "PanelCaller", "timed_out"]

log = structlog.get_logger("relaydesk.customer360")

#: an agent is waiting for the panels
PRIORITY: Priority = "interactive"


@dataclass
class PanelCall:
    """One call to record: what was called, what the pipeline (or the cache) answered."""

    instance: ConnectorInstance
    spec: ConnectorSpec
    action_name: str
    params: dict[str, Any]
    execution: Execution
    outcome: ActionOutcome


def timed_out(seconds: float) -> Execution:
    """The execution of a call the panel's timeout cut short."""
    error = OutcomeError(
        cls=ErrorClass.retry.value, kind=ErrorKind.transient.value, code="timeout",
        message=f"no answer within {seconds:g} s (the panel's timeout)",
    )  # fmt: skip
    return Execution(False, dt.datetime.now(dt.UTC), error=error, attempts=1)


class PanelCaller(IntegrationService):
    """``IntegrationService`` split into execute / record (see the module docstring)."""

    async def execute(
        self,
        instance: ConnectorInstance,
        spec: ConnectorSpec,
        action_name: str,
        params: Mapping[str, Any],
        *,
        within: float,
    ) -> Execution:
        """Call the system now (the panel cache missed, or refresh), within ``within`` seconds.

        The hub's own read cache entry for these parameters is dropped first: the panel's
        cache (with the panel's TTL) decides what is fresh, so a miss there must reach the
        system. Never raises for what the system does."""
        try:
            async with asyncio.timeout(within):
                await self._drop_hub_cache(instance, spec, action_name, params)
                return await self.call(instance, spec, action_name, params, priority=PRIORITY)
        except TimeoutError:
            return timed_out(within)

    async def _drop_hub_cache(
        self,
        instance: ConnectorInstance,
        spec: ConnectorSpec,
        action_name: str,
        params: Mapping[str, Any],
    ) -> None:
        action = spec.action(action_name)
        if not (action.cache and action.effect == "read"):
            return
        try:
            runtime = await self.registry.get(
                instance, spec, lambda: self.instances.config_of(instance)
            )
            await runtime.cache.delete(cache_key(action_name, params))
        except Exception as exc:  # the call itself reports a misconfigured instance
            log.debug("customer360.hub_cache_skip", error=type(exc).__name__)

    async def record(self, calls: Sequence[PanelCall]) -> None:
        """Every call's rows in this caller's session (one transaction for the request)."""
        for call in calls:
            await self.record_call(
                call.instance, call.spec, call.action_name, call.params, call.execution,
                call.outcome, priority=PRIORITY,
            )  # fmt: skip
