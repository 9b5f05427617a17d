"""Prometheus metrics of the event bus (exported at ``/metrics`` with the rest)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from relaydesk.kit.metrics import REGISTRY

__all__ = [
    "DEAD",
    "DELIVERY_LATENCY",
    "FAILED",
    "OUTBOX_LAG",
    "PROCESSED",
    "PUBLISHED",
    "REPUBLISHED",
]

PUBLISHED = Counter(
    "relaydesk_events_published_total",
    "Outbox events published by the relay, by backend",
    ["backend"],
    registry=REGISTRY,
)
REPUBLISHED = Counter(
    "relaydesk_events_republished_total",
    "Outbox events published again after Redis lost its streams",
    registry=REGISTRY,
)
PROCESSED = Counter(
    "relaydesk_events_processed_total",
    "Events a consumer applied (its processed record committed)",
    ["consumer"],
    registry=REGISTRY,
)
FAILED = Counter(
    "relaydesk_events_failed_total",
    "Failed attempts of a consumer on an event (each is retried until dead)",
    ["consumer"],
    registry=REGISTRY,
)
DEAD = Counter(
    "relaydesk_events_dead_total",
    "Events a consumer gave up on (moved to the dead-letter store)",
    ["consumer"],
    registry=REGISTRY,
)
OUTBOX_LAG = Gauge(
    "relaydesk_events_outbox_lag_seconds",
    "Age of the oldest unpublished outbox event, seen by the relay (0 when none)",
    registry=REGISTRY,
)
DELIVERY_LATENCY = Histogram(
    "relaydesk_events_delivery_seconds",
    "From an event's commit to a consumer's processed record",
    ["consumer"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
    registry=REGISTRY,
)
