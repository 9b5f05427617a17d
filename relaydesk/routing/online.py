"""A short-lived memory of "an agent is online" answers, for lookups on every message.

The web chat asks, for every visitor message, whether an agent of the inbox's team is online
(the hot path, and the ``offline`` hint in the visitor's ack). A *yes* is remembered for
:data:`TTL` seconds per tenant and team; a *no* is never remembered, so an agent who comes
online is seen at once. A presence change in this process forgets the tenant's answers; one
made in another process (or a user deactivated, a team changed) is seen within :data:`TTL`
seconds — a visitor may then be told an agent is online up to a second after the last one
left, and their message is stored the same either way.
"""

from __future__ import annotations

import time
import uuid

__all__ = ["TTL", "forget", "recall", "remember"]

#: seconds a "yes" counts
TTL = 1.0

_until: dict[tuple[uuid.UUID, uuid.UUID | None], float] = {}


def recall(tenant_id: uuid.UUID, team_id: uuid.UUID | None) -> bool:
    """True when an agent was seen online less than :data:`TTL` seconds ago."""
    until = _until.get((tenant_id, team_id))
    return until is not None and time.monotonic() < until


def remember(tenant_id: uuid.UUID, team_id: uuid.UUID | None) -> None:
    if len(_until) > 10_000:  # many tenants: start again rather than grow
        _until.clear()
    _until[(tenant_id, team_id)] = time.monotonic() + TTL


def forget(tenant_id: uuid.UUID) -> None:
    """A presence changed in this tenant: look again next time."""
    for key in [k for k in _until if k[0] == tenant_id]:
        del _until[key]
