"""``/api/v1/realtime``: the agents' WebSocket.

Protocol (JSON text frames):

* client → ``{"type": "auth", "token": "<access token>", "after": "<event id>"}`` first, within
  10 s (tokens never go in the URL, where proxies log them). With ``after`` (the id of the last
  event the client saw, when it reconnects) the server first replays every later event the
  agent may see, in order, then continues live, with no gap and no duplicate
  (``{"type": "resync"}`` if the gap is too large to replay: reload the lists). Then server →
  ``{"type": "ready", "last_event_id": ...}``: the id to resume from if nothing else arrives.
* server → ``{"type": "event", "id", "event_type", "occurred_at", "payload"}``; ephemeral frames
  (``typing.agent``) have ``"id": null``.
* client → ``{"type": "typing", "conversation_id": "...", "on": true}``; ``{"type": "ping"}`` →
  ``{"type": "pong"}``.

Close codes: 4401 unauthenticated, 4400 bad frame, 1013 too slow (reconnect and resume).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
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
REPLAY_LIMIT = 500
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
        rows = (
            await session.scalars(stmt.where(OutboxEvent.id > after).limit(REPLAY_LIMIT + 1))
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


async def _pump(websocket: WebSocket, connection: Connection, skip_upto: list[str]) -> None:
    while True:
        frame = await connection.queue.get()
        if frame is None:
            await websocket.close(code=1013, reason=connection.resume_reason)
            return
        frame = {k: v for k, v in frame.items() if k != "tenant_id"}
        if frame.get("id") and skip_upto and frame["id"] <= skip_upto[0]:
            continue  # already sent by the replay
        await websocket.send_text(json.dumps(frame, ensure_ascii=False))


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
    skip_upto: list[str] = []
    try:
        after = uuid.UUID(str(first["after"])) if first.get("after") else None
    except ValueError:
        hub.disconnect(connection)
        await websocket.close(code=4400, reason="auth.after must be an event id")
        return
    last = (await _replay(db, principal, None))[0]["last_event_id"]
    if after is not None:
        replayed = await _replay(db, principal, after)
        ids = [f["id"] for f in replayed if f.get("id")]
        skip_upto[:] = [max(ids)] if ids else [str(after)]
        for item in replayed:
            item = {k: v for k, v in item.items() if k != "tenant_id"}
            await websocket.send_text(json.dumps(item, ensure_ascii=False))
        last = skip_upto[0] if last is None or skip_upto[0] > last else last
    await websocket.send_text(json.dumps({"type": "ready", "last_event_id": last}))
    pump = asyncio.create_task(_pump(websocket, connection, skip_upto))
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
                await hub.signal({
                    "type": "event", "id": None, "tenant_id": str(principal.tenant_id),
                    "event_type": "typing.agent",
                    "payload": {"conversation_id": str(frame.get("conversation_id", ""))[:64],
                                "user_id": str(principal.user_id or principal.id),
                                "on": bool(frame.get("on", True))},
                })  # fmt: skip
            else:
                await websocket.close(code=4400, reason=f"unknown frame type {kind!r}")
                return
    except WebSocketDisconnect:
        pass
    finally:
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await pump
        hub.disconnect(connection)
