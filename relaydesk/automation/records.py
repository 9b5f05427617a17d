"""Small helpers for what an execution records."""

from __future__ import annotations

import json
from typing import Any

from relaydesk.automation.models import RuleExecution
from relaydesk.kit.db import utcnow

__all__ = ["MAX_OUTPUT", "bounded", "close"]

#: the most JSON an execution keeps of one output, lookup or parameter set
MAX_OUTPUT = 32_000


def bounded(value: Any) -> Any:
    """``value`` as JSON, or a truncated preview when it is larger than :data:`MAX_OUTPUT`."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    if len(text) <= MAX_OUTPUT:
        return json.loads(text)
    return {"truncated": True, "preview": text[:2000]}


def close(row: RuleExecution, status: str, reason: str | None = None) -> None:
    """Finish the execution with ``status`` (and why)."""
    row.status, row.finished_at = status, utcnow()
    if reason is not None:
        row.reason = reason
