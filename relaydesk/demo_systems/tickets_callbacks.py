"""The legacy ticket system's signed status callbacks (one delivery worker, in order).

Each status change becomes an event POSTed as JSON to the configured callback URL::

    X-Ticket-Timestamp: 1795162920                      (Unix seconds, at each attempt)
    X-Ticket-Signature: hex(HMAC-SHA256(secret, f"{timestamp}.{body}"))
    X-Ticket-Event:     TICKET_STATUS_CHANGED
    {"eventId": "evt_…", "eventType": "TICKET_STATUS_CHANGED", "ticketNo": "GD…",
     "version": 3, "oldStatus": "PROCESSING", "newStatus": "RESOLVED", …}

``body`` is the exact bytes sent (compact JSON, UTF-8, not ASCII-escaped). A non-2xx answer
or a connection error is retried 3 times (delays ``retry_delays``), each attempt re-signed
with a fresh timestamp; the body, and so the ``eventId``, stay the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from relaydesk.demo_systems._web import now_local

__all__ = ["Attempt", "CallbackSender", "Delivery", "signature"]

USER_AGENT = "YunqiTicket/2.3 (legacy; callbacks)"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    message = timestamp.encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


@dataclass
class Attempt:
    at: str
    status: int | None
    error: str | None


@dataclass
class Delivery:
    event: dict[str, Any]
    body: bytes
    replay: bool = False
    #: replay with the original timestamp and signature (a replay attack, for tests)
    fixed_headers: dict[str, str] | None = None
    attempts: list[Attempt] = field(default_factory=list)
    delivered: bool = False
    last_headers: dict[str, str] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {
            "eventId": self.event["eventId"],
            "ticketNo": self.event["ticketNo"],
            "version": self.event["version"],
            "newStatus": self.event["newStatus"],
            "replay": self.replay,
            "delivered": self.delivered,
            "attempts": [a.__dict__ for a in self.attempts],
        }


class CallbackSender:
    """Queues deliveries and sends them one at a time, in the order they were queued."""

    def __init__(
        self,
        url: str | None,
        secret: str,
        retry_delays: tuple[float, ...],
        timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url, self.secret = url, secret
        self.retry_delays, self.timeout, self._transport = retry_delays, timeout, transport
        self.deliveries: list[Delivery] = []
        self.last_by_ticket: dict[str, Delivery] = {}
        self._queue: asyncio.Queue[Delivery] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None

    @staticmethod
    def encode(event: dict[str, Any]) -> bytes:
        return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()

    def enqueue(self, delivery: Delivery) -> None:
        self.deliveries.append(delivery)
        ticket_no = delivery.event["ticketNo"]
        last = self.last_by_ticket.get(ticket_no)
        if not delivery.replay and (
            last is None or last.event["version"] < delivery.event["version"]
        ):
            self.last_by_ticket[ticket_no] = delivery  # the newest event, whatever the order
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

    def _headers(self, delivery: Delivery) -> dict[str, str]:
        if delivery.fixed_headers is not None:
            return dict(delivery.fixed_headers)
        stamp = str(int(time.time()))
        return {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": USER_AGENT,
            "X-Ticket-Event": str(delivery.event["eventType"]),
            "X-Ticket-Timestamp": stamp,
            "X-Ticket-Signature": signature(self.secret, stamp, delivery.body),
        }

    async def _deliver(self, delivery: Delivery) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self.timeout, transport=self._transport, follow_redirects=False
            )
        for attempt, delay in enumerate((0.0, *self.retry_delays)):
            if attempt:
                await asyncio.sleep(delay)
            url = self.url
            if url is None:
                return
            headers = self._headers(delivery)
            delivery.last_headers = headers
            try:
                response = await self._client.post(url, content=delivery.body, headers=headers)
            except httpx.HTTPError as exc:
                delivery.attempts.append(Attempt(str(now_local()), None, type(exc).__name__))
                continue
            delivery.attempts.append(Attempt(str(now_local()), response.status_code, None))
            if 200 <= response.status_code < 300:
                delivery.delivered = True
                return
