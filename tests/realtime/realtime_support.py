"""A real server on loopback for WebSocket tests, and the bus's last step done by hand."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
import websockets
from fastapi import FastAPI
from sqlalchemy import select

from relaydesk.events.models import OutboxEvent
from relaydesk.events.outbox import to_envelope
from relaydesk.kit.db import Database
from relaydesk.realtime.consumer import REALTIME


@contextlib.asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[str]:
    """``ws://127.0.0.1:<port>`` of ``app`` served by uvicorn in this event loop."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False,
                                           log_level="warning", lifespan="off"))  # fmt: skip
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        assert not task.done(), "the test server did not start"
        await asyncio.sleep(0.01)
    try:
        yield f"ws://127.0.0.1:{sock.getsockname()[1]}/api/v1/realtime"
    finally:
        server.should_exit = True
        await task
        sock.close()


async def deliver(db: Database, after: Any = None) -> list[Any]:
    """What the relay does for the realtime tap: hand it each committed event, in order."""
    async with db.job(system=True) as session:
        stmt = select(OutboxEvent).order_by(OutboxEvent.id)
        if after is not None:
            stmt = stmt.where(OutboxEvent.id > after)
        rows = list(await session.scalars(stmt))
    await REALTIME.run([to_envelope(row) for row in rows if REALTIME.wants(row.type)])
    return [row.id for row in rows]


async def connect(url: str, token: str, after: str | None = None) -> Any:
    ws = await websockets.connect(url)
    await ws.send(json.dumps({"type": "auth", "token": token, "after": after}))
    return ws


async def connect_ready(url: str, token: str) -> Any:
    """Connect and wait for "ready" (one at a time: the tests' database is one connection)."""
    ws = await connect(url, token)
    await frames_until_ready(ws)
    return ws


async def frames_until_ready(ws: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    seen = []
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
        if frame["type"] == "ready":
            return seen, frame
        seen.append(frame)


async def next_event(ws: Any, wait: float = 5) -> dict[str, Any]:
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), wait))
        if frame["type"] == "event":
            return frame  # type: ignore[no-any-return]
