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

import hashlib
import hmac
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from relaydesk.demo_systems._push import Attempt, OrderedSender, compact_json

__all__ = ["Attempt", "CallbackSender", "Delivery", "signature"]

USER_AGENT = "YunqiTicket/2.3 (legacy; callbacks)"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    message = timestamp.encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


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


class CallbackSender(OrderedSender[Delivery]):
    """Queues deliveries and sends them one at a time, in the order they were queued."""

    def __init__(
        self,
        url: str | None,
        secret: str,
        retry_delays: tuple[float, ...],
        timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(url, retry_delays, timeout, transport)
        self.secret = secret
        self.last_by_ticket: dict[str, Delivery] = {}

    encode = staticmethod(compact_json)

    def _remember(self, delivery: Delivery) -> None:
        ticket_no = delivery.event["ticketNo"]
        last = self.last_by_ticket.get(ticket_no)
        if not delivery.replay and (
            last is None or last.event["version"] < delivery.event["version"]
        ):
            self.last_by_ticket[ticket_no] = delivery  # the newest event, whatever the order

    def _prepare(self, delivery: Delivery, url: str) -> tuple[str, dict[str, str], dict[str, str]]:
        headers = self._headers(delivery)
        delivery.last_headers = headers
        return url, {}, headers

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
