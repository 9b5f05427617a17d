"""Consumers: the subscribers of the bus, registered by the domain that owns them.

A consumer handles one event inside a unit of work scoped to the event's tenant. The bus
runtime writes the :class:`ProcessedEvent` record in that same transaction, so a consumer's
database effects and its "done" mark commit together: an event redelivered after a crash is
skipped, never applied twice. A consumer that reaches outside the database (HTTP, mail) must
not do so inside ``handle``: it records the work durably (a webhook message, a job) and lets
its own runner do it, so a slow system never holds the transaction.

Raising from ``handle`` rolls the transaction back; the runtime retries with backoff and
moves the event to the dead-letter store after ``max_attempts`` failures.

A consumer may also give ``handle_batch``: the bus then hands it, in one call, every event of
a batch that is due (in order, same tenant, same transaction), so that it can write its rows
with one statement per table instead of one per event. It must do exactly what ``handle``
would do on each event in turn; ``handle`` is still used when a batch fails and its events
run one per transaction, and for retries.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.events.envelope import Envelope

__all__ = [
    "Consumer",
    "consumer_names",
    "consumers",
    "matches",
    "register_consumer",
    "unregister_consumer",
]

Handler = Callable[[AsyncSession, Envelope], Awaitable[None]]
BatchHandler = Callable[[AsyncSession, Sequence[Envelope]], Awaitable[None]]


@dataclass(frozen=True)
class Consumer:
    #: stable name: part of processed-event records and dead letters, never rename it
    name: str
    handle: Handler
    #: event types it wants; "*" for all; a trailing ".*" for a family ("order.*")
    types: tuple[str, ...] = ("*",)
    max_attempts: int = 8
    #: optional: the same work as ``handle`` on several events at once (module docstring)
    handle_batch: BatchHandler | None = None
    #: the handler acts outside its transaction (sends a frame): when it shares a transaction
    #: with other consumers it runs in a savepoint, so that their failure never runs it again
    acts_outside: bool = False

    def wants(self, event_type: str) -> bool:
        return matches(self.types, event_type)


def matches(patterns: Sequence[str], event_type: str) -> bool:
    """``"*"``, the type itself, or a family (``"order.*"``)."""
    for pattern in patterns:
        if pattern == "*" or pattern == event_type:
            return True
        if pattern.endswith(".*") and event_type.startswith(pattern[:-1]):
            return True
    return False


_CONSUMERS: dict[str, Consumer] = {}


def register_consumer(consumer: Consumer) -> Consumer:
    known = _CONSUMERS.get(consumer.name)
    if known is not None and known.handle is not consumer.handle:
        raise ValueError(f"consumer {consumer.name!r} is already registered")
    _CONSUMERS[consumer.name] = consumer
    return consumer


def unregister_consumer(name: str) -> None:
    _CONSUMERS.pop(name, None)


def consumers() -> list[Consumer]:
    return list(_CONSUMERS.values())


def consumer_names() -> list[str]:
    return sorted(_CONSUMERS)
