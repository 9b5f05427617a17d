"""The hub across processes when Redis restarts: pub/sub keeps nothing for a process that is
not subscribed, so after resubscribing a hub closes its sockets with 1013 and their clients
resume from the outbox; frames published afterwards flow again. Runs against a redis-server
of its own (this test kills it), on database 11 like the other realtime tests."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from redis.exceptions import RedisError

from relaydesk.auth.principal import Principal
from relaydesk.realtime.hub import Connection, Hub, channel_of

pytestmark = [pytest.mark.redis, pytest.mark.slow]


class PrivateRedis:
    def __init__(self, workdir: Path) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.workdir, self.url = workdir, f"redis://127.0.0.1:{self.port}/11"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[PrivateRedis]:
    if not shutil.which("redis-server"):
        pytest.skip("Redis is not installed on this machine")
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.kill()


def _agent(tenant: uuid.UUID) -> Principal:
    return Principal(kind="user", id=uuid.uuid4(), tenant_id=tenant, tenant_slug="acme",
                     label="agent", permissions=frozenset({"conversations.read"}),
                     user_id=uuid.uuid4())  # fmt: skip


def _typing(tenant: uuid.UUID, n: int) -> dict[str, Any]:
    return {"type": "event", "id": None, "tenant_id": str(tenant), "event_type": "typing.agent",
            "payload": {"conversation_id": f"c-{n}", "on": True}}  # fmt: skip


async def _publish_until_it_works(hub: Hub, frame: dict[str, Any]) -> None:
    for _ in range(50):
        try:
            return await hub.broadcast(frame)
        except Exception:  # the client's old connection died with the server
            await asyncio.sleep(0.1)
    raise AssertionError("could not publish after the restart")


async def _next(connection: Connection, wait: float = 10) -> dict[str, Any] | None:
    return await asyncio.wait_for(connection.queue.get(), wait)


async def test_sockets_resume_after_a_redis_restart_and_fan_out_continues(
    redis_server: PrivateRedis,
) -> None:
    tenant = uuid.uuid4()
    here, there = Hub(redis_server.url), Hub(redis_server.url)  # two API processes' hubs
    await here.start()
    await there.start()
    try:
        assert here.channel == channel_of(redis_server.url) == "relaydesk:realtime:11"
        before = here.connect(_agent(tenant))
        await there.broadcast(_typing(tenant, 1))  # published by the other process
        frame = await _next(before)
        assert frame is not None and frame["payload"]["conversation_id"] == "c-1"

        redis_server.kill()
        await asyncio.sleep(0.5)
        redis_server.start()
        # whatever was published meanwhile is gone: the socket is told to resume (1013)
        assert await _next(before, 15) is None
        assert "reconnect and resume" in before.resume_reason
        assert "interrupted" in before.resume_reason

        after = here.connect(_agent(tenant))  # the client reconnected
        await _publish_until_it_works(there, _typing(tenant, 2))
        frame = await _next(after)
        assert frame is not None and frame["payload"]["conversation_id"] == "c-2"
    finally:
        await here.stop()
        await there.stop()


async def test_typing_and_presence_signals_reach_this_process_while_redis_is_down(
    redis_server: PrivateRedis,
) -> None:
    tenant = uuid.uuid4()
    hub = Hub(redis_server.url)
    await hub.start()
    try:
        agent = hub.connect(_agent(tenant))
        redis_server.kill()
        await asyncio.sleep(0.3)
        with pytest.raises((RedisError, OSError)):  # a durable event fails (its consumer retries)
            await hub.broadcast({**_typing(tenant, 0), "id": "01a1"})
        await hub.signal(_typing(tenant, 3))  # ... an ephemeral signal never does
        frame = await _next(agent)
        assert frame is not None and frame["payload"]["conversation_id"] == "c-3"
    finally:
        await hub.stop()
