"""Taps: work on committed events that needs no database (the realtime push).

A consumer runs in a transaction of its own with a processed-event record per event, which
is what makes its database effects happen once; a push to the agents' sockets has no
database effect, and paying a write transaction per batch for it only queues the push
behind every other writer (on SQLite, behind the visitors' own messages). So the relay hands
each batch it reads to the taps first, before the consumers run, outside any transaction.

What a tap promises: every committed event it wants is offered to it once per process that
relays, in outbox order. A tap that raises (Redis away) has the events of that call offered
again on the next rounds of the relay (up to ``max_attempts``, before newer ones: at least
once, so a frame may come twice; clients know frames by event id), and nothing waits for
it: the consumers and the outbox mark go on. The realtime tap's clients keep their own
guarantee: they resume from the outbox by event id (a socket too slow
or a hub that lost Redis closes with 1013 and the client replays what it missed).
"""

from __future__ import annotations

import asyncio
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import structlog

from relaydesk.events.consumers import matches
from relaydesk.events.envelope import Envelope

__all__ = ["Tap", "TapRunner", "register_tap", "taps", "unregister_tap"]

log = structlog.get_logger("relaydesk.events")

TapHandler = Callable[[Sequence[Envelope]], Awaitable[None]]


@dataclass(frozen=True)
class Tap:
    #: stable name (logs)
    name: str
    run: TapHandler
    #: event types it wants, as :attr:`Consumer.types`
    types: tuple[str, ...] = ("*",)
    max_attempts: int = 3
    #: whether anyone listens now (the realtime tap: a socket here, or Redis fan-out); an
    #: idle tap is skipped, and nothing is kept for it
    active: Callable[[], bool] | None = None

    def wants(self, event_type: str) -> bool:
        return matches(self.types, event_type)

    def listening(self) -> bool:
        return self.active is None or self.active()


_TAPS: dict[str, Tap] = {}


def register_tap(tap: Tap) -> Tap:
    known = _TAPS.get(tap.name)
    if known is not None and known.run is not tap.run:
        raise ValueError(f"tap {tap.name!r} is already registered")
    _TAPS[tap.name] = tap
    return tap


def unregister_tap(name: str) -> None:
    _TAPS.pop(name, None)


def taps() -> list[Tap]:
    return list(_TAPS.values())


class TapRunner:
    """The relay's side: each event once per tap (a batch read again after a failed publish
    is not pushed again), failed ones retried first on the next rounds."""

    def __init__(self, remember: int = 20_000) -> None:
        self.remember = remember
        self._seen: OrderedDict[uuid.UUID, None] = OrderedDict()
        #: per tap: (event, attempts so far) that failed, oldest first
        self._failed: dict[str, list[tuple[Envelope, int]]] = {}
        #: the relay's round and its look-ahead (Relay.tap_new) take turns
        self._turn = asyncio.Lock()

    @property
    def has_failures(self) -> bool:
        return any(self._failed.values())

    @staticmethod
    def listening() -> bool:
        return any(tap.listening() for tap in taps())

    def _fresh(self, envelopes: Sequence[Envelope]) -> list[Envelope]:
        fresh = []
        for envelope in envelopes:
            if envelope.id in self._seen:
                continue
            self._seen[envelope.id] = None
            fresh.append(envelope)
        while len(self._seen) > self.remember:
            self._seen.popitem(last=False)
        return fresh

    async def run(self, envelopes: Sequence[Envelope]) -> None:
        """Offer the events not offered yet (and the ones that failed before) to every tap."""
        async with self._turn:
            await self._run(envelopes)

    async def _run(self, envelopes: Sequence[Envelope]) -> None:
        fresh = self._fresh(envelopes)
        for tap in taps():
            if not tap.listening():
                self._failed.pop(tap.name, None)
                continue
            retry = self._failed.pop(tap.name, [])
            if not fresh and not retry:
                continue
            todo = retry + [(e, 0) for e in fresh if tap.wants(e.type)]
            if todo:
                await self._offer(tap, todo)

    async def _offer(self, tap: Tap, todo: list[tuple[Envelope, int]]) -> None:
        try:
            await tap.run([e for e, _ in todo])
        except Exception as exc:
            left = [(e, n + 1) for e, n in todo if n + 1 < tap.max_attempts]
            if left:
                self._failed[tap.name] = left
            log.warning("events.tap_failed", tap=tap.name, error=f"{type(exc).__name__}: {exc}",
                        waiting=len(left), dropped=len(todo) - len(left))  # fmt: skip
