"""The order system's signed push messages (订单消息推送), one delivery worker, in order.

Each change of an order (paid, shipped, finished = delivered, closed, a refund paid back)
becomes a message POSTed as JSON to the configured push URL, signed like the system's own
open API but with the **push secret** (推送密钥), appKey, timestamp and nonce in the query::

    POST <url>?appKey=relaydesk-demo&timestamp=1795162920123&nonce=9f…&sign=3A7F…
    Content-Type: application/json; charset=utf-8
    {"msgId": "MSG…", "msgType": "ORDER_SHIPPED", "version": 3,
     "pushTime": "2026-11-21 10:22:00", "data": {<the order, as GET /api/v1/orders/{no}
     answers it, without items>}}

    sign = upper(hex(md5(secret + k1v1k2v2… + body + secret)))

where k1, k2, … are the query parameters except ``sign`` sorted by name (the push URL's own
query parameters included), ``body`` the exact bytes sent (compact JSON, UTF-8, not
ASCII-escaped). ``version`` counts the order's changes: a receiver keeps the newest. A non-2xx
answer or a connection error is retried (delays ``retry_delays``), each attempt re-signed with a
fresh timestamp and nonce; the body, and so the ``msgId``, stay the same.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import httpx

from relaydesk.demo_systems._push import Attempt, OrderedSender, compact_json
from relaydesk.demo_systems._web import now_local
from relaydesk.demo_systems.orders_auth import sign

__all__ = [
    "MSG_TYPES",
    "ORDERS_CALLBACK_SECRET",
    "REFUND_SUCCESS",
    "Attempt",
    "PushDelivery",
    "PushSender",
    "signed_query",
]

#: the demo's published push secret (like the other demo credentials, docs/demo-systems.md)
ORDERS_CALLBACK_SECRET = "yq-orders-push-secret-6b1e"  # noqa: S105 -- published demo credential
USER_AGENT = "YunqiOrderCenter/3.1 (push)"
#: order status reached -> message type
MSG_TYPES = {20: "ORDER_PAID", 30: "ORDER_SHIPPED", 40: "ORDER_FINISHED", 50: "ORDER_CLOSED"}
#: a refund was paid back (the order keeps its status; ``data.refund`` shows the refund)
REFUND_SUCCESS = "REFUND_SUCCESS"


def signed_query(
    url: str, app_key: str, secret: str, body: bytes, *, now: float | None = None
) -> tuple[str, dict[str, str]]:
    """(URL without its query, every query parameter with ``sign``) for one attempt."""
    parts = urlsplit(url)
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    stamp = time.time() if now is None else now
    params.update(appKey=app_key, timestamp=str(int(stamp * 1000)), nonce=uuid.uuid4().hex)
    params["sign"] = sign(params, body.decode("utf-8"), secret)
    return urlunsplit(parts._replace(query="")), params


@dataclass
class PushDelivery:
    message: dict[str, Any]
    body: bytes
    replay: bool = False
    attempts: list[Attempt] = field(default_factory=list)
    delivered: bool = False
    last_params: dict[str, str] = field(default_factory=dict)

    @property
    def order_no(self) -> str:
        return str(self.message["data"]["orderNo"])

    def summary(self) -> dict[str, Any]:
        return {
            "msgId": self.message["msgId"],
            "msgType": self.message["msgType"],
            "orderNo": self.order_no,
            "version": self.message["version"],
            "replay": self.replay,
            "delivered": self.delivered,
            "attempts": [a.__dict__ for a in self.attempts],
        }


class PushSender(OrderedSender[PushDelivery]):
    """Queues push messages and sends them one at a time, in the order they were queued."""

    def __init__(
        self,
        url: str | None,
        app_key: str,
        secret: str,
        retry_delays: tuple[float, ...],
        timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(url, retry_delays, timeout, transport)
        self.app_key, self.secret = app_key, secret
        self.last_by_order: dict[str, PushDelivery] = {}

    encode = staticmethod(compact_json)

    def message(self, msg_type: str, version: int, order: dict[str, Any]) -> PushDelivery:
        event = {"msgId": f"MSG{uuid.uuid4().hex[:24].upper()}", "msgType": msg_type,
                 "version": version, "pushTime": str(now_local()), "data": order}  # fmt: skip
        return PushDelivery(event, self.encode(event))

    def _remember(self, delivery: PushDelivery) -> None:
        if not delivery.replay:
            self.last_by_order[delivery.order_no] = delivery

    def _prepare(
        self, delivery: PushDelivery, url: str
    ) -> tuple[str, dict[str, str], dict[str, str]]:
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT,
                   "X-Order-Msg-Type": str(delivery.message["msgType"])}  # fmt: skip
        base, params = signed_query(url, self.app_key, self.secret, delivery.body)
        delivery.last_params = params
        return base, params, headers
