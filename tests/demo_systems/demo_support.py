"""Helpers shared by the demo-system tests (plain functions; fixtures live in each module).

The client-side signer here is written from docs/demo-systems.md, not from the server's code,
so a test that passes shows the two agree on the documented canonical string.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlencode

from relaydesk.demo_systems.runner import start_server

ORDERS_KEY = "relaydesk-demo"
ORDERS_SECRET = "yq-orders-demo-secret-7f3a9c"


@asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port; yield its base URL."""
    server = await start_server(app, "127.0.0.1", 0, "test")
    try:
        yield server.url
    finally:
        await server.stop()


def md5_sign(params: dict[str, str], body: str, secret: str) -> str:
    """secret + k1v1k2v2… (sorted, no sign, no empty values) + body + secret → MD5, upper."""
    keys = sorted(k for k, v in params.items() if k != "sign" and v != "")
    text = secret + "".join(k + params[k] for k in keys) + body + secret
    return hashlib.md5(text.encode("utf-8")).hexdigest().upper()


def signed_url(
    path: str,
    params: dict[str, Any] | None = None,
    body: str = "",
    *,
    app_key: str = ORDERS_KEY,
    secret: str = ORDERS_SECRET,
    timestamp_ms: int | None = None,
    nonce: str | None = None,
) -> str:
    """``path?query`` with appKey, timestamp, nonce and sign added."""
    query = {k: str(v) for k, v in (params or {}).items()}
    query["appKey"] = app_key
    query["timestamp"] = str(timestamp_ms if timestamp_ms is not None else int(time.time() * 1000))
    query["nonce"] = nonce or uuid.uuid4().hex
    query["sign"] = md5_sign(query, body, secret)
    return f"{path}?{urlencode(query)}"
