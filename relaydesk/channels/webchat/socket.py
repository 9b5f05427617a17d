"""``/widget/ws/{inbox_id}``: the visitors' WebSocket.

Protocol (JSON text frames):

* the handshake's ``Origin`` must be one of the inbox's allowed origins (or Relaydesk's own
  host): otherwise the handshake is refused (HTTP 403).
* client → ``{"type": "hello", "token": "<visitor token>", "after": "<message id>"}`` first,
  within 10 s. ``after`` is the last message the widget saw; server → ``{"type": "ready",
  "online": bool, "messages": [...], "truncated": bool}`` with what it missed (or the recent
  history without ``after``).
* client → ``{"type": "message", "text": "...", "client_id": "...", "attachments": [<upload
  tokens>]}``; server → ``{"type": "ack", "client_id", "message", "offline"}`` or ``{"type":
  "error", "client_id", "code", "message"}``. A ``client_id`` sent again (a retry after a
  reconnect) is not stored twice.
* client → ``{"type": "typing", "on": bool}``, ``{"type": "read", "up_to": "<message id>"}``,
  ``{"type": "ping"}`` (→ ``pong``; every 30 s keeps the visitor counted as connected).
* server → ``{"type": "message", "message"}`` (agents' replies, and the visitor's own messages
  from another tab), ``{"type": "typing", "on"}`` (an agent), ``{"type": "status", "status"}``.

Close codes: 4401 bad token or identity, 4404 unknown inbox, 4400 bad frame, 1009 frame too
large, 1013 too slow (reconnect and resume with ``after``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from relaydesk.auth.principal import Principal
from relaydesk.channels.webchat import service
from relaydesk.channels.webchat.runtime import WebChatRuntime, webchat_runtime
from relaydesk.channels.webchat.service import PublicInbox
from relaydesk.channels.webchat.tokens import VisitorSession
from relaydesk.errors import AppError
from relaydesk.kit.db import Database
from relaydesk.kit.middleware import guarded_hit
from relaydesk.realtime.hub import Connection, Hub, get_hub

router = APIRouter()

HELLO_TIMEOUT = 10.0
MAX_FRAME = 256 * 1024
TYPING_EVERY = 1.0
#: the frame families a visitor's socket listens to on the hub
WIDGET_MESSAGE = "widget.message"


@dataclass(eq=False)
class VisitorConnection(Connection):
    """A visitor's socket on the hub: only frames about their own conversations pass."""

    inbox_id: uuid.UUID = field(default_factory=uuid.uuid4)
    customer_id: uuid.UUID | None = None
    conversation_ids: set[str] = field(default_factory=set)
    socket_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    #: the hub it is attached to (which indexes it by customer and conversation)
    hub: Hub | None = None

    def routing_keys(self) -> set[str]:
        keys = {f"conversation_id:{c}" for c in self.conversation_ids}
        if self.customer_id is not None:
            keys.add(f"customer_id:{self.customer_id}")
        return keys

    def follow(self, customer_id: uuid.UUID | None = None, *conversations: str) -> None:
        """Frames about this customer and these conversations reach the socket from now on."""
        if customer_id is not None and self.customer_id is None:
            self.customer_id = customer_id
            if self.hub is not None:
                self.hub.route(self, f"customer_id:{customer_id}")
        for conversation in conversations:
            if conversation not in self.conversation_ids:
                self.conversation_ids.add(conversation)
                if self.hub is not None:
                    self.hub.route(self, f"conversation_id:{conversation}")

    def offer(self, frame: dict[str, Any]) -> None:
        shown = self.visible(frame)
        if shown is None or self.overflowed:
            return
        try:
            self.queue.put_nowait(shown)
        except asyncio.QueueFull:
            self.overflowed = True
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(None)

    def visible(self, frame: dict[str, Any]) -> dict[str, Any] | None:
        kind, payload = frame.get("event_type"), frame.get("payload") or {}
        if kind == WIDGET_MESSAGE:
            if payload.get("inbox_id") != str(self.inbox_id) or self.customer_id is None:
                return None
            if payload.get("customer_id") != str(self.customer_id):
                return None
            self.follow(None, str(payload["message"]["conversation_id"]))
            if payload.get("from_socket") == self.socket_id:
                return None  # the sender has it in its ack
            return {"type": "message", "message": payload["message"]}
        conversation = str(payload.get("conversation_id") or "")
        if conversation not in self.conversation_ids:
            return None
        if kind == "typing.agent":
            return {"type": "typing", "on": bool(payload.get("on", True))}
        if kind == "conversation.status_changed":
            return {
                "type": "status",
                "conversation_id": conversation,
                "status": payload.get("status"),
            }
        return None


def attach(hub: Hub, connection: VisitorConnection) -> None:
    """Register a visitor's socket on the hub (Hub.connect only makes agents' connections)."""
    connection.hub = hub
    hub.attach(connection)


def _principal(inbox: PublicInbox, visitor: VisitorSession) -> Principal:
    return Principal(
        kind="visitor",
        id=uuid.uuid5(uuid.NAMESPACE_URL, visitor.visitor_id),
        tenant_id=inbox.tenant_id,
        tenant_slug="",
        label="web chat visitor",
        permissions=frozenset(),
    )


def _own_host(websocket: WebSocket) -> str | None:
    return websocket.headers.get("host")


class _Session:
    """One visitor socket: its frames in, the hub's frames out."""

    def __init__(
        self,
        websocket: WebSocket,
        inbox: PublicInbox,
        visitor: VisitorSession,
        connection: VisitorConnection,
    ) -> None:
        self.ws, self.inbox, self.visitor, self.conn = websocket, inbox, visitor, connection
        self.db: Database = websocket.app.state.db
        self.runtime: WebChatRuntime = webchat_runtime(self.db)
        self.hub = get_hub()
        self.socket_id = connection.socket_id
        self.department: uuid.UUID | None = None
        self.last_typing = (0.0, False)

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send_text(json.dumps(frame, ensure_ascii=False))

    async def here(self) -> None:
        if self.conn.customer_id is not None:
            await self.runtime.presence.touch(self.inbox.id, self.conn.customer_id, self.socket_id)

    async def gone(self) -> None:
        if self.conn.customer_id is not None:
            with contextlib.suppress(Exception):
                await self.runtime.presence.leave(
                    self.inbox.id, self.conn.customer_id, self.socket_id
                )

    async def error(self, code: str, message: str, client_id: Any = None, **extra: Any) -> None:
        await self.send(
            {"type": "error", "code": code, "message": message, "client_id": client_id, **extra}
        )

    async def on_message(self, frame: dict[str, Any]) -> None:
        client_id = frame.get("client_id")
        limit = self.inbox.settings.messages_per_minute
        key = f"webchat:{self.inbox.id}:{self.visitor.visitor_id}"
        decision = await guarded_hit(self.runtime.rate_limiter, key, limit)
        if not decision.allowed:
            await self.error(
                "rate_limited",
                f"too many messages: at most {limit} a minute",
                client_id,
                retry_after=decision.retry_after,
            )
            return
        text, uploads = frame.get("text", ""), frame.get("attachments") or []
        if not isinstance(text, str) or not isinstance(uploads, list):
            await self.error("bad_frame", "text is a string, attachments a list", client_id)
            return
        try:
            posted = await service.post_message(
                self.db,
                self.runtime,
                self.inbox,
                self.visitor,
                text,
                [str(u) for u in uploads],
                str(client_id) if client_id is not None else None,
            )
        except AppError as exc:
            await self.error(exc.code, exc.message, client_id)
            return
        first = self.conn.customer_id is None
        self.conn.follow(posted.customer_id, str(posted.conversation_id))
        self.department = posted.department_id
        if first:
            await self.here()
        await self.send(
            {
                "type": "ack",
                "client_id": client_id,
                "message": posted.message,
                "offline": posted.offline,
            }
        )
        if not posted.duplicate:  # the visitor's other tabs
            await self.broadcast(
                WIDGET_MESSAGE,
                {
                    "inbox_id": str(self.inbox.id),
                    "customer_id": str(posted.customer_id),
                    "message": posted.message,
                    "from_socket": self.socket_id,
                },
            )

    async def broadcast(self, event_type: str, payload: dict[str, Any]) -> None:
        """To the visitor's other tabs and the agents; ephemeral (the message itself is stored
        and its event pushed by the realtime consumer), so Redis being down never fails it."""
        tenant = str(self.inbox.tenant_id)
        await self.hub.signal(
            {
                "type": "event",
                "id": None,
                "tenant_id": tenant,
                "event_type": event_type,
                "payload": payload,
            }
        )

    def _to_agents(self, conversation: str, **payload: Any) -> dict[str, Any]:
        body = {
            "conversation_id": conversation,
            "customer_id": str(self.conn.customer_id),
            **payload,
        }
        if self.department is not None:
            body["department_id"] = str(self.department)
        return body

    async def on_typing(self, frame: dict[str, Any]) -> None:
        on, now = bool(frame.get("on", True)), time.monotonic()
        last_at, last_on = self.last_typing
        if not self.conn.conversation_ids or (on == last_on and now - last_at < TYPING_EVERY):
            return
        self.last_typing = (now, on)
        latest = max(self.conn.conversation_ids)
        await self.broadcast("typing.visitor", self._to_agents(latest, on=on))

    async def on_read(self, frame: dict[str, Any]) -> None:
        try:
            up_to = uuid.UUID(str(frame.get("up_to")))
        except ValueError:
            await self.error("bad_frame", "read.up_to must be a message id")
            return
        marked = await service.mark_read(self.db, self.inbox, self.visitor, up_to)
        by_conversation: dict[uuid.UUID, list[str]] = {}
        for conversation, message in marked:
            by_conversation.setdefault(conversation, []).append(str(message))
        for conversation, ids in by_conversation.items():
            await self.broadcast(
                "message.read", self._to_agents(str(conversation), message_ids=ids, by="customer")
            )

    async def pump(self) -> None:
        while True:
            frame = await self.conn.queue.get()
            if frame is None:
                await self.ws.close(code=1013, reason="too slow: reconnect and resume")
                return
            await self.send(frame)

    async def serve(self) -> None:
        handlers = {"message": self.on_message, "typing": self.on_typing, "read": self.on_read}
        while True:
            raw = await self.ws.receive_text()
            if len(raw) > MAX_FRAME:
                await self.ws.close(code=1009, reason=f"frames are at most {MAX_FRAME} bytes")
                return
            try:
                frame = json.loads(raw)
            except json.JSONDecodeError:
                frame = None
            kind = frame.get("type") if isinstance(frame, dict) else None
            if kind == "ping":
                await self.here()
                await self.send({"type": "pong"})
            elif isinstance(frame, dict) and kind in handlers:
                await handlers[kind](frame)
            else:
                await self.ws.close(code=4400, reason=f"unknown frame type {kind!r}"[:120])
                return


async def _hello(websocket: WebSocket) -> dict[str, Any]:
    first = json.loads(await asyncio.wait_for(websocket.receive_text(), HELLO_TIMEOUT))
    if not isinstance(first, dict) or first.get("type") != "hello" or not first.get("token"):
        raise ValueError('the first frame must be {"type": "hello", "token": ...}')
    return first


@router.websocket("/widget/ws/{inbox_id}")
async def visitor_socket(websocket: WebSocket, inbox_id: str) -> None:
    db: Database = websocket.app.state.db
    try:
        inbox = await service.load_inbox(db, uuid.UUID(inbox_id))
    except (ValueError, AppError):
        await websocket.close(code=4404, reason="this chat is not available")
        return
    try:
        service.check_origin(inbox, websocket.headers.get("origin"), _own_host(websocket))
    except AppError:
        await websocket.close(code=1008)  # before accept: the handshake answers 403
        return
    await websocket.accept()
    runtime = webchat_runtime(db)
    try:
        first = await _hello(websocket)
        visitor = service.visitor_session(runtime, inbox, str(first["token"]))
        after = uuid.UUID(str(first["after"])) if first.get("after") else None
    except (TimeoutError, ValueError, AppError, WebSocketDisconnect) as exc:
        reason = getattr(exc, "message", None) or str(exc) or "hello required"
        with contextlib.suppress(Exception):
            await websocket.close(code=4401, reason=reason[:120])
        return
    hub = get_hub()
    connection = VisitorConnection(_principal(inbox, visitor), inbox_id=inbox.id)
    attach(hub, connection)  # live frames wait in its queue while we load the history
    session = _Session(websocket, inbox, visitor, connection)
    pump: asyncio.Task[None] | None = None
    try:
        resumed = await service.resume(db, runtime, inbox, visitor, after)
        connection.follow(resumed.customer_id, *{m["conversation_id"] for m in resumed.messages})
        if resumed.conversation is not None:
            connection.follow(None, str(resumed.conversation[0]))
            session.department = resumed.conversation[1]
        await session.here()
        await session.send(
            {
                "type": "ready",
                "visitor_id": visitor.visitor_id,
                "online": await service.is_online(db, inbox),
                "messages": resumed.messages,
                "truncated": resumed.truncated,
            }
        )
        pump = asyncio.create_task(session.pump())
        await session.serve()
    except WebSocketDisconnect:
        pass
    finally:
        if pump is not None:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pump
        hub.disconnect(connection)
        await session.gone()
