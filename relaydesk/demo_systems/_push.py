"""What the demo systems' outgoing callbacks share: one worker that POSTs queued deliveries in
the order they were queued, retrying a non-2xx answer or a connection error after each of
``retry_delays``. Each system signs an attempt its own way (``_prepare``); the body, and so its
event id, stays the same across attempts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import httpx

from relaydesk.demo_systems._web import now_local

__all__ = ["Attempt", "Deliverable", "OrderedSender", "compact_json"]


def compact_json(message: dict[str, Any]) -> bytes:
    """The exact bytes the demo systems send: compact JSON, UTF-8, not ASCII-escaped."""
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass
class Attempt:
    at: str
    status: int | None
    error: str | None


class Deliverable(Protocol):
    body: bytes
    attempts: list[Attempt]
    delivered: bool


D = TypeVar("D", bound=Deliverable)


class OrderedSender(Generic[D]):
    """Queues deliveries and sends them one at a time, in the order they were queued."""

    def __init__(
        self,
        url: str | None,
        retry_delays: tuple[float, ...],
        timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url
        self.retry_delays, self.timeout, self._transport = retry_delays, timeout, transport
        self.deliveries: list[D] = []
        self._queue: asyncio.Queue[D] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None

    def _remember(self, delivery: D) -> None:
        """Keep what the system's admin API shows about the newest delivery (subclasses)."""

    def _prepare(self, delivery: D, url: str) -> tuple[str, dict[str, str], dict[str, str]]:
        """(URL, query parameters, headers) of one attempt, freshly signed."""
        raise NotImplementedError

    def enqueue(self, delivery: D) -> None:
        self.deliveries.append(delivery)
        self._remember(delivery)
        if self.url is None:
            return  # recorded, nowhere to send
        self._queue.put_nowait(delivery)
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._run())

    async def drain(self, limit_seconds: float = 30.0) -> None:
        """Wait until every queued delivery has been sent or has used up its retries."""
        async with asyncio.timeout(limit_seconds):
            await self._queue.join()

    async def aclose(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        if self._client is not None:
            await self._client.aclose()

    async def _run(self) -> None:
        while True:
            delivery = await self._queue.get()
            try:
                await self._deliver(delivery)
            finally:
                self._queue.task_done()

    async def _deliver(self, delivery: D) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self.timeout, transport=self._transport, follow_redirects=False
            )
        for attempt, delay in enumerate((0.0, *self.retry_delays)):
            if attempt:
                await asyncio.sleep(delay)
            if self.url is None:
                return
            url, params, headers = self._prepare(delivery, self.url)
            try:
                response = await self._client.post(
                    url, params=params, content=delivery.body, headers=headers
                )
            except httpx.HTTPError as exc:
                delivery.attempts.append(Attempt(str(now_local()), None, type(exc).__name__))
                continue
            delivery.attempts.append(Attempt(str(now_local()), response.status_code, None))
            if 200 <= response.status_code < 300:
                delivery.delivered = True
                return
