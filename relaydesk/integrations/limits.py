"""Per-instance limits: a priority token bucket (agents first) and a circuit breaker."""

from __future__ import annotations

import asyncio
import enum
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Literal

Priority = Literal["interactive", "background"]


class PriorityTokenBucket:
    """A token bucket shared by all callers of an instance, interactive callers first.

    Tokens refill at ``rate`` per second up to ``burst``. A waiting interactive caller is always
    served before any waiting background caller, and background callers only take tokens while
    more than ``(1 - background_share) * burst`` remain: the rest of the burst stays available
    for agents. In steady state background work still gets the full rate when agents are idle.
    """

    def __init__(
        self,
        rate: float,
        burst: int,
        background_share: float = 0.5,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        if rate <= 0 or burst < 1 or not 0 < background_share <= 1:
            raise ValueError("need rate > 0, burst >= 1 and 0 < background_share <= 1")
        self.rate, self.burst = float(rate), float(burst)
        self.reserve = self.burst * (1.0 - background_share)
        self._clock, self._sleep = clock, sleep
        self._tokens, self._updated = self.burst, clock()
        self._waiters: dict[str, deque[asyncio.Future[None]]] = {
            "interactive": deque(),
            "background": deque(),
        }
        self._dispatcher: asyncio.Task[None] | None = None

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    def _needed(self, priority: str) -> float:
        return 1.0 if priority == "interactive" else self.reserve + 1.0

    def _take(self, priority: str) -> bool:
        if self._tokens + 1e-9 >= self._needed(priority):
            self._tokens -= 1.0
            return True
        return False

    def _pending(self, priority: str) -> deque[asyncio.Future[None]]:
        queue = self._waiters[priority]
        while queue and queue[0].done():
            queue.popleft()
        return queue

    async def acquire(self, priority: Priority, timeout: float | None = None) -> bool:  # noqa: ASYNC109
        """Take one token; wait at most ``timeout`` seconds (None: forever). False on timeout."""
        self._refill()
        ahead = self._pending("interactive") or (
            priority == "background" and self._pending("background")
        )
        if not ahead and self._take(priority):
            return True
        if timeout is not None and timeout <= 0:
            return False
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters[priority].append(future)
        if self._dispatcher is None or self._dispatcher.done():
            self._dispatcher = asyncio.create_task(self._dispatch())
        try:
            await asyncio.wait({future}, timeout=timeout)
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self._tokens += 1.0  # granted as we were cancelled: give it back
            future.cancel()
            raise
        if future.done():
            return True
        future.cancel()
        return False

    async def _dispatch(self) -> None:
        while True:
            self._refill()
            for priority in ("interactive", "background"):
                queue = self._pending(priority)
                while queue and self._take(priority):
                    queue.popleft().set_result(None)
                    queue = self._pending(priority)
                if queue:
                    break  # interactive waiters left: background must not overtake them
            waiting = [p for p in ("interactive", "background") if self._pending(p)]
            if not waiting:
                return
            missing = self._needed(waiting[0]) - self._tokens
            await self._sleep(max(missing / self.rate, 0.001))


class BreakerState(enum.StrEnum):
    closed = "closed"
    open = "open"
    half_open = "half_open"


class CircuitBreaker:
    """Closed → open after ``threshold`` consecutive failures → half-open after
    ``reset_seconds`` (one trial call) → closed on its success, open again on its failure.
    Count only failures that say the system is unwell (transient/system), not config errors."""

    def __init__(
        self, threshold: int, reset_seconds: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.threshold, self.reset_seconds, self._clock = threshold, reset_seconds, clock
        self.failures = 0
        self._opened_at: float | None = None
        self._trial_started: float | None = None

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.closed
        if self._clock() - self._opened_at >= self.reset_seconds:
            return BreakerState.half_open
        return BreakerState.open

    @property
    def retry_in(self) -> float:
        """Seconds until a trial call is allowed (0 when closed or half-open)."""
        if self._opened_at is None:
            return 0.0
        return max(0.0, self._opened_at + self.reset_seconds - self._clock())

    def allow(self) -> bool:
        state = self.state
        if state is BreakerState.closed:
            return True
        if state is BreakerState.open:
            return False
        now = self._clock()  # half-open: one trial at a time (a lost trial expires)
        if self._trial_started is not None and now - self._trial_started < self.reset_seconds:
            return False
        self._trial_started = now
        return True

    def success(self) -> None:
        self.failures, self._opened_at, self._trial_started = 0, None, None

    def failure(self) -> None:
        self.failures += 1
        if self._opened_at is not None or self.failures >= self.threshold:
            self._opened_at, self._trial_started = self._clock(), None
