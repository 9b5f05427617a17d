"""A tiny in-process event sink registry for canonical events from existing systems.

The inbox processor publishes each processed callback here (``order.shipped``,
``ticket.status_changed`` ...). The event backbone (outbox, bus, subscribers) will replace this
module; until then a subscriber is a plain function or coroutine function of one
:class:`Event`. Delivery is at least once: the processor publishes before it commits, and a
sink that raises makes the processor retry the callback later (every sink then sees it again),
so sinks de-duplicate on ``event.source.external_id`` when that matters.

Sinks run inside the processor's transaction, one event at a time: keep them quick, and on
SQLite do not open another write transaction from a sink (the processor holds the database's
write lock; the outbox that replaces this module will take the processor's session instead).
"""

from __future__ import annotations

import datetime as dt
import inspect
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Event", "EventSource", "Sink", "publish", "subscribe", "unsubscribe"]


@dataclass(frozen=True, slots=True)
class EventSource:
    """Where an event came from: for callbacks, the instance, callback and sender's event id."""

    kind: str
    connector: str | None = None
    instance: str | None = None
    instance_id: uuid.UUID | None = None
    callback: str | None = None
    #: the id the external system gave the event (the inbox's de-duplication key)
    external_id: str | None = None
    sandbox: bool = False


@dataclass(frozen=True, slots=True)
class Event:
    tenant_id: uuid.UUID
    type: str
    payload: Mapping[str, Any]
    source: EventSource
    published_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))


Sink = Callable[[Event], Awaitable[None] | None]

_sinks: list[Sink] = []


def subscribe(sink: Sink) -> Callable[[], None]:
    """Register ``sink`` (once); returns a function that unsubscribes it."""
    if sink not in _sinks:
        _sinks.append(sink)
    return lambda: unsubscribe(sink)


def unsubscribe(sink: Sink) -> None:
    if sink in _sinks:
        _sinks.remove(sink)


async def publish(
    tenant_id: uuid.UUID,
    event_type: str,
    payload: Mapping[str, Any],
    *,
    source: EventSource,
) -> Event:
    """Hand the event to every sink, in subscription order.

    Every sink is called even when one fails; then the first failure is raised (the caller
    retries the whole event).
    """
    event = Event(tenant_id, event_type, payload, source)
    failure: Exception | None = None
    for sink in list(_sinks):
        try:
            result = sink(event)
            if inspect.isawaitable(result):
                await result
        except Exception as exc:  # one broken subscriber must not starve the others
            failure = failure or exc
    if failure is not None:
        raise failure
    return event
