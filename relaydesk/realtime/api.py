"""``/api/v1/realtime``: the agents' WebSocket.

Protocol (JSON text frames):

* client → ``{"type": "auth", "token": "<access token>", "after": "<event id>"}`` first, within
  10 s (tokens never go in the URL, where proxies log them). With ``after`` (the id of the last
  event the client saw, when it reconnects) the server first replays, in order, every event the
  agent may see from a few seconds before that one (an event written earlier but committed
  later has a smaller id; events the client saw may come again, and it drops ids it has seen),
  then continues live with no gap and without repeating what it replayed
  (``{"type": "resync"}`` if the gap is too large to replay: reload the lists). Then server →
  ``{"type": "ready", "last_event_id": ...}``: the id to resume from if nothing else arrives.
* server → ``{"type": "event", "id", "event_type", "occurred_at", "payload"}``; ephemeral frames
  (``typing.agent``) have ``"id": null``.
* client → ``{"type": "typing", "conversation_id": "...", "on": true}`` (only with
  ``conversations.write``; at most one "on" per conversation a second); ``{"type": "ping"}`` →
  ``{"type": "pong"}``.
* the server checks the socket's credentials again every ``RECHECK_SECONDS``: role changes
  apply to the open socket; an expired token, a logout, a revoked session or API key or a
  deactivated user closes it with 4401 (the client refreshes its token and resumes).

Close codes: 4401 unauthenticated, 4400 bad frame, 1013 too slow (reconnect and resume).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from typing import Any

import structlog
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from sqlalchemy import select

from relaydesk.auth.principal import Principal
from relaydesk.auth.security import API_KEY_PREFIX
from relaydesk.auth.service import Authenticator
from relaydesk.errors import AppError
from relaydesk.events.models import OutboxEvent
from relaydesk.events.outbox import to_envelope
from relaydesk.kit.db import Database, scope_session
from relaydesk.realtime.consumer import frame_of
from relaydesk.realtime.hub import NEEDS, Connection, get_hub, visible_payload

router = APIRouter(tags=["realtime"])
log = structlog.get_logger(__name__)

AUTH_TIMEOUT = 10.0
REPLAY_LIMIT = 1_000
#: a resume replays from this long before the client's last event: ids are made when an event
#: is written, so one committed later may carry a smaller id; the client drops what it saw
RESUME_LAG_MS = 5_000
#: how often an open socket's credentials are checked again (expiry, logout, revocation,
#: deactivation, role changes): a failed check closes it with 4401
RECHECK_SECONDS = 30.0
#: the least time between two typing signals of one socket for one conversation
TYPING_EVERY = 1.0
_FAMILIES = tuple(prefix for prefix in NEEDS if prefix not in ("typing.", "presence."))


async def _authenticate(websocket: WebSocket, token: str) -> Principal:
    state = websocket.app.state
    db: Database = state.db
    async with db.sessionmaker() as session:
        scope_session(session, None)
        authn = Authenticator(session, db, state.settings, state.secret)
        ip = websocket.client.host if websocket.client else None
        if token.startswith(API_KEY_PREFIX):
            principal, _, _ = await authn.from_api_key(token, ip)
        else:
            principal, _, _ = await authn.from_access_token(token, ip)
        await session.commit()
    return principal


def _lagged(after: uuid.UUID) -> uuid.UUID:
    """The smallest id of the events written ``RESUME_LAG_MS`` before ``after`` (a uuid7:
    its first 48 bits are the milliseconds); ids that are not uuid7 are taken as they are."""
    if after.version != 7:
        return after
    millis = max(0, (after.int >> 80) - RESUME_LAG_MS)
    return uuid.UUID(int=millis << 80)


async def _replay(
    db: Database, principal: Principal, after: uuid.UUID | None
) -> list[dict[str, Any]]:
    async with db.sessionmaker() as session:
        scope_session(session, principal.tenant_id)
        stmt = select(OutboxEvent).order_by(OutboxEvent.id)
        if after is None:
            last = await session.scalar(
                select(OutboxEvent.id).order_by(OutboxEvent.id.desc()).limit(1)
            )
            return [{"last_event_id": str(last) if last else None}]
        since = _lagged(after)
        rows = (
            await session.scalars(stmt.where(OutboxEvent.id > since).limit(REPLAY_LIMIT + 1))
        ).all()
    frames = []
    for row in rows[:REPLAY_LIMIT]:
        if row.type.startswith(_FAMILIES):
            shown = visible_payload(principal, frame_of(to_envelope(row)))
            if shown is not None:
                frames.append(shown)
    if len(rows) > REPLAY_LIMIT:
        frames.append({"type": "resync"})
    return frames


async def _pump(websocket: WebSocket, connection: Connection, replayed: set[str]) -> None:
    while True:
        frame = await connection.queue.get()
        if frame is None:
            await websocket.close(code=1013, reason=connection.resume_reason)
            return
        frame = {k: v for k, v in frame.items() if k != "tenant_id"}
        if frame.get("id") in replayed:
            continue  # already sent by the replay
        await websocket.send_text(json.dumps(frame, ensure_ascii=False))


async def _recheck(websocket: WebSocket, connection: Connection, token: str) -> None:
    """Check the socket's credentials again from time to time: the principal follows role
    changes; an expired token, a logout, a revoked session or key, or a deactivated user
    closes the socket (4401: the client refreshes its token and resumes)."""
    while True:
        await asyncio.sleep(RECHECK_SECONDS)
        try:
            connection.principal = await _authenticate(websocket, token)
        except AppError as exc:
            with contextlib.suppress(Exception):
                await websocket.close(code=4401, reason=(exc.message or "signed out")[:120])
            return


@router.websocket("/realtime")
async def realtime(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        first = json.loads(await asyncio.wait_for(websocket.receive_text(), AUTH_TIMEOUT))
        if not isinstance(first, dict) or first.get("type") != "auth" or not first.get("token"):
            raise ValueError('the first frame must be {"type": "auth", "token": ...}')
        principal = await _authenticate(websocket, str(first["token"]))
    except (TimeoutError, ValueError, AppError, WebSocketDisconnect) as exc:
        reason = getattr(exc, "message", None) or str(exc) or "authentication required"
        with contextlib.suppress(Exception):
            await websocket.close(code=4401, reason=reason[:120])
        return
    hub = get_hub()
    connection = hub.connect(principal)  # live frames wait in its queue while we replay
    db: Database = websocket.app.state.db
    replayed_ids: set[str] = set()
    try:
        after = uuid.UUID(str(first["after"])) if first.get("after") else None
    except ValueError:
        hub.disconnect(connection)
        await websocket.close(code=4400, reason="auth.after must be an event id")
        return
    last = (await _replay(db, principal, None))[0]["last_event_id"]
    if after is not None:
        replayed = await _replay(db, principal, after)
        replayed_ids.update(f["id"] for f in replayed if f.get("id"))
        for item in replayed:
            item = {k: v for k, v in item.items() if k != "tenant_id"}
            await websocket.send_text(json.dumps(item, ensure_ascii=False))
        newest = max([*replayed_ids, str(after)])
        last = newest if last is None or newest > last else last
    await websocket.send_text(json.dumps({"type": "ready", "last_event_id": last}))
    pump = asyncio.create_task(_pump(websocket, connection, replayed_ids))
    recheck = asyncio.create_task(_recheck(websocket, connection, str(first["token"])))
    typed: dict[str, float] = {}
    try:
        while True:
            try:
                frame = json.loads(await websocket.receive_text())
                kind = frame.get("type") if isinstance(frame, dict) else None
            except json.JSONDecodeError:
                await websocket.close(code=4400, reason="frames are JSON objects")
                return
            if kind == "ping":
                await websocket.send_text('{"type": "pong"}')
            elif kind == "typing":
                conversation_id = str(frame.get("conversation_id", ""))[:64]
                on = bool(frame.get("on", True))
                if not _may_type(connection.principal, typed, conversation_id, on):
                    continue
                await hub.signal({
                    "type": "event", "id": None, "tenant_id": str(principal.tenant_id),
                    "event_type": "typing.agent",
                    "payload": {"conversation_id": conversation_id,
                                "user_id": str(principal.user_id or principal.id),
                                "on": on},
                })  # fmt: skip
            else:
                await websocket.close(code=4400, reason=f"unknown frame type {kind!r}")
                return
    except WebSocketDisconnect:
        pass
    finally:
        for task in (pump, recheck):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        hub.disconnect(connection)


def _may_type(
    principal: Principal, typed: dict[str, float], conversation_id: str, on: bool
) -> bool:
    """Typing signals come from those who may reply, at most one "typing" per conversation a
    second (more are dropped silently, as the visitors' are); "stopped" always passes."""
    if not principal.has("conversations.write") or not conversation_id:
        return False
    if not on:
        typed.pop(conversation_id, None)
        return True
    now = time.monotonic()
    if now - typed.get(conversation_id, -TYPING_EVERY) < TYPING_EVERY:
        return False
    if len(typed) > 1_000:
        typed.clear()
    typed[conversation_id] = now
    return True
