"""The per-process hub: who is connected, what each may see, and fan-out between processes.

Every committed event the agents care about reaches :func:`Hub.broadcast` once (from the
``realtime`` consumer, :mod:`relaydesk.realtime.consumer`). With Redis configured the hub
publishes it on one pub/sub channel and every API process's hub (this one included) delivers
it to its own sockets; without Redis it delivers locally. Ephemeral signals (typing,
presence) take the same path without the outbox. Agents' sockets are offered every frame of
their tenant (then filtered per principal); visitors' sockets are indexed by the customer and
conversations they follow, so a frame reaches only those it names. A socket whose queue is
full is closed with
1013: the client reconnects and resumes from its last event id, so nothing is missed.

Redis pub/sub is fire-and-forget: what is published while a process is not subscribed (Redis
restarting, the connection dropped) never reaches it. So when a process subscribes again
after losing its subscription, it closes its sockets with 1013 too, and their clients replay
what they missed from the outbox. Pub/sub channels are server-wide (the database number in
the URL does not separate them), so the channel name carries the database number: two
deployments sharing one Redis server on different databases do not hear each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import structlog

from relaydesk.auth.principal import Principal
from relaydesk.events.catalogue import event_spec
from relaydesk.kit.masking import detect_and_mask_text, mask_generic

log = structlog.get_logger(__name__)

CHANNEL = "relaydesk:realtime"
QUEUE_SIZE = 1_000

#: event type prefix → the permission a principal needs to receive it
NEEDS = {
    "conversation.": "conversations.read",
    "message.": "conversations.read",
    "call.": "conversations.read",
    "customer.": "customers.read",
    "typing.": "conversations.read",
    "presence.": "users.read",
    "notification.": "",
    "screenpop.": "conversations.read",
}
#: frames for one user only (``payload.user_id``): nobody else, not even the owner, gets them
PERSONAL = ("notification.", "screenpop.")
#: ephemeral frames built already masked for their reader, or holding no personal data
PREMASKED = ("typing.", "presence.", "screenpop.")
#: events about one conversation: a department-scoped reader gets those of their departments
#: only (the payload's ``department_id``, the conversation's)
DEPARTMENT_SCOPED = ("conversation.", "message.", "call.")
#: events whose "personal data" fields agents reading conversations must see as sent
CLEAR_FOR_CONVERSATIONS = frozenset({"message.received", "message.sent"})
#: free-text fields that may quote personal data (a reason from an SMS gateway, a rule's
#: notification text): what is found inside them (phone, ID, e-mail, card numbers) is masked
#: for readers without ``customers.pii.view``; the rest of the text stays readable
FREE_TEXT = {
    "message.status_changed": ("error",),
    "notification.created": ("title", "body"),
}


#: payload fields a routed connection (a visitor's socket) can be found by
ROUTED_BY = ("customer_id", "conversation_id")


def wanted(event_type: str) -> bool:
    return any(event_type.startswith(prefix) for prefix in NEEDS)


def _mask_value(value: Any) -> Any:
    if isinstance(value, str):
        masked = detect_and_mask_text(value)
        return masked if masked != value else mask_generic(value)
    if isinstance(value, list):
        return [_mask_value(item) for item in value]
    return value


def _in_departments(departments: tuple[uuid.UUID, ...], event_type: str, department: Any) -> bool:
    """For a department-scoped reader, as the REST API shows conversations: an event about a
    conversation of no department, or of another department, is not theirs (fail closed)."""
    if department is None:
        return not event_type.startswith(DEPARTMENT_SCOPED)
    return str(department) in {str(d) for d in departments}


def visible_payload(principal: Principal, frame: dict[str, Any]) -> dict[str, Any] | None:
    """The frame as this principal may see it, or None if they may not see it at all."""
    event_type = frame["event_type"]
    payload = frame.get("payload") or {}
    needed = next((perm for prefix, perm in NEEDS.items() if event_type.startswith(prefix)), None)
    if needed is None or (needed and not principal.has(needed)):
        return None
    to_user = payload.get("user_id")
    if event_type.startswith(PERSONAL) and to_user != str(principal.user_id):
        return None
    if principal.department_ids is not None and not _in_departments(
        principal.department_ids, event_type, payload.get("department_id")
    ):
        return None
    clear = principal.has("customers.pii.view") or (
        event_type in CLEAR_FOR_CONVERSATIONS and principal.has("conversations.read")
    )
    if not clear and not event_type.startswith(PREMASKED):
        free_text = FREE_TEXT.get(event_type, ())
        try:
            pii = tuple(f for f in event_spec(event_type).pii if f not in free_text)
        except Exception:  # an uncatalogued ephemeral type has no personal data fields
            pii = ()
        if pii or free_text:
            payload = {
                k: (detect_and_mask_text(v) if k in free_text and isinstance(v, str)
                    else _mask_value(v) if k in pii and v else v)
                for k, v in payload.items()
            }  # fmt: skip
    return {**frame, "payload": payload}


def channel_of(redis_url: str) -> str:
    """The pub/sub channel of the deployment on ``redis_url`` (its database number in it)."""
    from redis.asyncio.connection import parse_url

    return f"{CHANNEL}:{parse_url(redis_url).get('db', 0)}"


@dataclass(eq=False)
class Connection:
    principal: Principal
    queue: asyncio.Queue[dict[str, Any] | None] = field(
        default_factory=lambda: asyncio.Queue(QUEUE_SIZE)
    )
    overflowed: bool = False
    #: why the socket is closed with 1013 (sent as the close reason)
    resume_reason: str = "too slow: reconnect and resume"

    def routing_keys(self) -> set[str] | None:
        """None: offered every frame of its tenant (agents). Otherwise offered only frames
        whose payload names one of these ``"<field>:<value>"`` keys (see :data:`ROUTED_BY`);
        a connection that gains a key later calls :meth:`Hub.route`."""
        return None

    def offer(self, frame: dict[str, Any]) -> None:
        if self.overflowed:
            return
        shown = visible_payload(self.principal, frame)
        if shown is None:
            return
        try:
            self.queue.put_nowait(shown)
        except asyncio.QueueFull:
            self.must_resume()  # too slow: the client resumes from the outbox

    def must_resume(self, reason: str | None = None) -> None:
        """Drop what waits and close with 1013: the client reconnects and resumes."""
        if reason is not None:
            self.resume_reason = reason
        self.overflowed = True
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(None)


class Hub:
    def __init__(self, redis_url: str | None = None) -> None:
        self.redis_url = redis_url
        self.channel = channel_of(redis_url) if redis_url else CHANNEL
        #: connections offered every frame of their tenant (agents)
        self._by_tenant: dict[uuid.UUID, set[Connection]] = defaultdict(set)
        #: (tenant, "<field>:<value>") → connections offered only the frames naming it
        self._routed: dict[tuple[uuid.UUID, str], set[Connection]] = defaultdict(set)
        self._redis: Any = None
        self._listener: asyncio.Task[None] | None = None
        self.delivered = 0

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        if self.redis_url and self._listener is None:
            from redis.asyncio import Redis

            self._redis = Redis.from_url(self.redis_url)
            ready = asyncio.Event()
            self._listener = asyncio.create_task(self._listen(ready))
            await asyncio.wait_for(ready.wait(), timeout=5)

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener
            self._listener = None
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None
        for connection in self._all():
            with contextlib.suppress(asyncio.QueueFull):
                connection.queue.put_nowait(None)

    async def _listen(self, ready: asyncio.Event) -> None:
        """Deliver what any process published; resubscribe after Redis comes back."""
        lost = False
        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                if lost:  # frames published meanwhile never reached us: make clients resume
                    dropped = self.require_resume()
                    log.info("realtime.resubscribed", sockets_resuming=dropped)
                    lost = False
                ready.set()
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        self.deliver_local(json.loads(message["data"]))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis restarting: clients resume from the outbox
                log.warning("realtime.redis_lost", error=str(exc))
                lost = True
                ready.set()
                await asyncio.sleep(1.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    # --- connections -----------------------------------------------------------------------

    def connect(self, principal: Principal) -> Connection:
        return self.attach(Connection(principal))

    def attach(self, connection: Connection) -> Connection:
        """Register a connection (a subclass may filter frames differently, e.g. a visitor's)."""
        keys = connection.routing_keys()
        if keys is None:
            self._by_tenant[connection.principal.tenant_id].add(connection)
        else:
            for key in keys:
                self.route(connection, key)
        return connection

    def route(self, connection: Connection, key: str) -> None:
        """Offer ``connection`` the frames whose payload names ``key`` from now on."""
        self._routed[(connection.principal.tenant_id, key)].add(connection)

    def disconnect(self, connection: Connection) -> None:
        tenant = connection.principal.tenant_id
        keys = connection.routing_keys()
        if keys is None:
            connections = self._by_tenant.get(tenant)
            if connections is not None:
                connections.discard(connection)
                if not connections:
                    self._by_tenant.pop(tenant, None)
            return
        for key in keys:
            routed = self._routed.get((tenant, key))
            if routed is not None:
                routed.discard(connection)
                if not routed:
                    self._routed.pop((tenant, key), None)

    def _all(self) -> set[Connection]:
        found: set[Connection] = set()
        for connections in (*self._by_tenant.values(), *self._routed.values()):
            found |= connections
        return found

    def listening(self) -> bool:
        """Frames broadcast now may reach a socket (one here, or any process through Redis)."""
        return self._redis is not None or bool(self._by_tenant) or bool(self._routed)

    def connection_count(self) -> int:
        return len(self._all())

    def require_resume(self) -> int:
        """Close every socket of this process with 1013 (they resume); returns how many."""
        count = 0
        for connection in self._all():
            if not connection.overflowed:
                connection.must_resume("realtime feed interrupted: reconnect and resume")
                count += 1
        return count

    # --- delivery --------------------------------------------------------------------------

    async def broadcast(self, frame: dict[str, Any]) -> None:
        """Send a frame (``tenant_id``, ``event_type``, ``id``, ``payload``...) to every process."""
        if self._redis is not None:
            await self._redis.publish(self.channel, json.dumps(frame, ensure_ascii=False))
        else:
            self.deliver_local(frame)

    async def signal(self, frame: dict[str, Any]) -> None:
        """Broadcast an ephemeral frame (typing, presence: no event id, nothing to resume).

        Never raises: with Redis unreachable the frame reaches this process's sockets only and
        a warning is logged — a lost typing or presence signal is not worth failing the request
        or the socket that sent it.
        """
        try:
            await self.broadcast(frame)
        except Exception as exc:  # Redis down or restarting
            log.warning("realtime.signal_local_only", event_type=frame.get("event_type"),
                        error=str(exc))  # fmt: skip
            self.deliver_local(frame)

    def deliver_local(self, frame: dict[str, Any]) -> None:
        tenant = uuid.UUID(frame["tenant_id"])
        targets = list(self._by_tenant.get(tenant, ()))
        if self._routed:
            payload = frame.get("payload") or {}
            routed: set[Connection] = set()
            for name in ROUTED_BY:
                value = payload.get(name)
                if value:
                    routed |= self._routed.get((tenant, f"{name}:{value}"), set())
            targets += routed
        for connection in targets:
            connection.offer(frame)
            self.delivered += 1


_HUB: Hub | None = None


def get_hub() -> Hub:
    """This process's hub (an in-process one until the app installs its own)."""
    global _HUB
    if _HUB is None:
        _HUB = Hub()
    return _HUB


def set_hub(hub: Hub | None) -> None:
    global _HUB
    _HUB = hub
