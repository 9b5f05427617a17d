"""What the web chat needs besides the database: token signer, keyring, file store, and
which visitors are connected right now (so a reply is ``delivered`` or stays ``sent``).

The API process binds its runtime when the routes are mounted (:func:`mount` in ``api.py``);
a worker process without the app makes one from the settings. Visitor presence lives in
Redis when it is configured (every API process sees every socket), in memory otherwise.
"""

from __future__ import annotations

import time
import uuid
import weakref
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from relaydesk.channels.email.storage import BlobStorage, storage_from_settings
from relaydesk.channels.webchat.tokens import Signer
from relaydesk.kit.crypto import Keyring
from relaydesk.kit.db import Database
from relaydesk.kit.ratelimit import MemoryRateLimiter, RateLimiter

__all__ = ["VisitorPresence", "WebChatRuntime", "bind_webchat_runtime", "webchat_runtime"]

#: a socket counts as connected this long after its last heartbeat
PRESENCE_TTL = 90.0
_KEY = "relaydesk:webchat:online:"


def _presence_key(inbox_id: uuid.UUID, customer_id: uuid.UUID) -> str:
    return f"{_KEY}{inbox_id}:{customer_id}"


@dataclass
class VisitorPresence:
    """Connected visitor sockets per (inbox, customer): Redis sorted sets or a local dict."""

    redis: Callable[[], Any] = lambda: None
    _local: dict[str, dict[str, float]] = field(default_factory=lambda: defaultdict(dict))

    async def touch(self, inbox_id: uuid.UUID, customer_id: uuid.UUID, socket_id: str) -> None:
        key, expires = _presence_key(inbox_id, customer_id), time.time() + PRESENCE_TTL
        client = self.redis()
        if client is None:
            self._local[key][socket_id] = expires
            return
        pipe = client.pipeline()
        pipe.zadd(key, {socket_id: expires})
        pipe.zremrangebyscore(key, 0, time.time())
        pipe.expire(key, int(PRESENCE_TTL) + 10)
        await pipe.execute()

    async def leave(self, inbox_id: uuid.UUID, customer_id: uuid.UUID, socket_id: str) -> None:
        key = _presence_key(inbox_id, customer_id)
        client = self.redis()
        if client is None:
            sockets = self._local.get(key)
            if sockets is not None:
                sockets.pop(socket_id, None)
                if not sockets:
                    self._local.pop(key, None)
            return
        await client.zrem(key, socket_id)

    async def online(self, inbox_id: uuid.UUID, customer_id: uuid.UUID) -> bool:
        key, now = _presence_key(inbox_id, customer_id), time.time()
        client = self.redis()
        if client is None:
            return any(expires > now for expires in self._local.get(key, {}).values())
        return int(await client.zcount(key, now, "+inf")) > 0


@dataclass
class WebChatRuntime:
    signer: Signer
    keyring: Keyring
    storage: BlobStorage
    presence: VisitorPresence
    rate_limiter: RateLimiter


_BOUND: weakref.WeakKeyDictionary[Database, WebChatRuntime] = weakref.WeakKeyDictionary()


def bind_webchat_runtime(db: Database, runtime: WebChatRuntime) -> WebChatRuntime:
    _BOUND[db] = runtime
    return runtime


def webchat_runtime(db: Database) -> WebChatRuntime:
    runtime = _BOUND.get(db)
    if runtime is None:
        from relaydesk.config import get_settings

        settings = get_settings()
        redis: Any = None
        if settings.redis.url:
            from redis.asyncio import Redis

            redis = Redis.from_url(settings.redis.url)
        runtime = _BOUND[db] = WebChatRuntime(
            signer=Signer(settings.secret_key()),
            keyring=Keyring.from_settings(settings),
            storage=storage_from_settings(settings),
            presence=VisitorPresence(lambda: redis),
            rate_limiter=MemoryRateLimiter(),
        )
    return runtime
