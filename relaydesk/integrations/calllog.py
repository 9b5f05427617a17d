"""The call log: one row per action call, and per-action health computed from the last calls.

Health figures cover the last ``window`` calls of each action (default 1,000), computed in
Python: success rate over all of them (a call answered from a stale cache counts as a
failure: the system failed), latency percentiles (nearest rank) over the calls that reached
the system (cache hits are left out, they would hide a slow system), last success and last
failure with its error.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from relaydesk.integrations.schemas import ActionHealthOut, LastErrorOut

__all__ = ["HEALTH_WINDOW", "action_health", "percentile"]

HEALTH_WINDOW = 1000


def percentile(ordered: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile of an ascending sequence (None when empty)."""
    if not ordered:
        return None
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return round(float(ordered[rank - 1]), 3)


def action_health(action: str, rows: Sequence[Any], breaker: str) -> ActionHealthOut:
    """Health of one action from its recent calls (newest first, columns of
    :meth:`~relaydesk.integrations.repository.ConnectorCallRepository.recent`)."""
    successes = sum(1 for row in rows if row.outcome == "success")
    latencies = sorted(float(row.latency_ms) for row in rows if not row.cached)
    last_success = next((row for row in rows if row.outcome == "success"), None)
    last_failure = next((row for row in rows if row.outcome != "success"), None)
    return ActionHealthOut(
        action=action,
        calls=len(rows),
        successes=successes,
        failures=len(rows) - successes,
        success_rate=round(successes / len(rows), 4) if rows else None,
        cache_hits=sum(1 for row in rows if row.cached and not row.stale),
        p50_ms=percentile(latencies, 50),
        p95_ms=percentile(latencies, 95),
        last_success_at=last_success.created_at if last_success is not None else None,
        last_failure_at=last_failure.created_at if last_failure is not None else None,
        last_error=(
            LastErrorOut(
                at=last_failure.created_at,
                error_class=last_failure.error_class,
                code=last_failure.error_code,
                message=last_failure.error_message,
            )
            if last_failure is not None
            else None
        ),
        breaker=breaker,
    )
