"""Prometheus metrics of connector action calls (on the process registry of kit.metrics).

Labels are the connector (spec name) and the action: bounded by the specs, never by tenant,
instance or parameters.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Histogram

from relaydesk.kit.metrics import REGISTRY

__all__ = ["CACHE", "CALLS", "ERRORS", "LATENCY", "observe"]

CALLS = Counter(
    "relaydesk_connector_calls_total",
    "Connector action calls by outcome (success, error, stale: served from a stale cache)",
    ["connector", "action", "outcome"],
    registry=REGISTRY,
)
ERRORS = Counter(
    "relaydesk_connector_errors_total",
    "Failed connector action calls by error class and kind",
    ["connector", "action", "error_class", "error_kind"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "relaydesk_connector_call_duration_seconds",
    "Connector action call latency (cache hits included)",
    ["connector", "action"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
CACHE = Counter(
    "relaydesk_connector_cache_total",
    "Read cache lookups of cacheable actions: hit, stale (served after a failure), miss",
    ["connector", "action", "result"],
    registry=REGISTRY,
)


def observe(
    connector: str,
    action: str,
    *,
    outcome: str,
    seconds: float,
    error_class: str | None = None,
    error_kind: str | None = None,
    cache: str | None = None,
) -> None:
    """Record one call."""
    key = (connector, action, outcome, cache)
    children = _CHILDREN.get(key)
    if children is None:  # labelled once per combination (their number is bounded by specs)
        children = _CHILDREN[key] = (
            CALLS.labels(connector, action, outcome), LATENCY.labels(connector, action),
            CACHE.labels(connector, action, cache) if cache is not None else None,
        )  # fmt: skip
    calls, latency, cached = children
    calls.inc()
    latency.observe(seconds)
    if cached is not None:
        cached.inc()
    if error_class is not None:
        ERRORS.labels(connector, action, error_class, error_kind or "unknown").inc()


_CHILDREN: dict[tuple[str, str, str, str | None], tuple[Any, Any, Any]] = {}
