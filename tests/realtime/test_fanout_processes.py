"""Two real API processes (``relaydesk serve``) on one PostgreSQL database and Redis: an event
that happens on one process reaches agents connected to either, once; an agent who was away
resumes on the other process with exactly what it missed, in order, and then continues live.

This is the deployment the realtime hub exists for: each process runs the event runtime
(Redis Streams consumer groups, so the ``realtime`` consumer handles each event in one
process) and its hub publishes the frame on Redis pub/sub for every process's sockets.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from conftest import PASSWORD, PG_URL, Org, _fresh_postgres, make_org, postgres_installed
from redis.asyncio import Redis
from standardwebhooks import Webhook

from relaydesk.kit.db import Database
from relaydesk.migrations.runner import upgrade

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

DATABASE_URL = f"{PG_URL.rpartition('/')[0]}/relaydesk_rt_fanout"
REDIS_URL = "redis://127.0.0.1:6379/11"
API = "/api/v1"
LAUNCH = "from relaydesk.cli import main; main()"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Node:
    """One ``relaydesk serve`` process."""

    def __init__(self, name: str, env: dict[str, str], tmp: Path) -> None:
        self.name, self.port = name, _free_port()
        self.log = tmp / f"{name}.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", LAUNCH, "serve", "--port", str(self.port)],
                env={**env, "PYTHONUNBUFFERED": "1"}, stdout=out, stderr=subprocess.STDOUT,
                cwd=tmp,
            )  # fmt: skip
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}{API}/realtime"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    async def ready(self, http: httpx.AsyncClient, seconds: float = 60) -> None:
        deadline = asyncio.get_running_loop().time() + seconds
        answer = "no answer"
        while asyncio.get_running_loop().time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited {self.proc.returncode}:\n{self.output()}")
            try:
                r = await http.get(f"{self.url}/readyz")
                if r.status_code == 200:
                    return
                answer = f"{r.status_code} {r.text[:300]}"
            except httpx.TransportError as exc:
                answer = repr(exc)
            await asyncio.sleep(0.2)
        raise AssertionError(f"{self.name} did not become ready ({answer}):\n{self.output()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


@dataclass
class Cluster:
    db: Database
    a: Node
    b: Node
    http: httpx.AsyncClient

    async def login(self, node: Node, org: Org, role: str) -> str:
        r = await self.http.post(f"{node.url}{API}/auth/login", json={
            "tenant": org.slug, "email": org.email(role), "password": PASSWORD})  # fmt: skip
        assert r.status_code == 200, r.text
        return str(r.json()["access_token"])


async def _flush_redis() -> None:
    redis = Redis.from_url(REDIS_URL)
    try:
        await redis.flushdb()
    finally:
        await redis.aclose()


@pytest.fixture(scope="module")
async def cluster(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Cluster]:
    if not postgres_installed():
        pytest.skip("PostgreSQL is not installed on this machine")
    if not shutil.which("redis-server"):
        pytest.skip("Redis is not installed on this machine")
    tmp = tmp_path_factory.mktemp("fanout")
    engine = await _fresh_postgres(DATABASE_URL)
    await upgrade(engine)
    await _flush_redis()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAYDESK_")}
    env.update({
        "RELAYDESK_DATABASE__URL": DATABASE_URL, "RELAYDESK_REDIS__URL": REDIS_URL,
        "RELAYDESK_DATA_DIR": str(tmp / "var"),
        "RELAYDESK_SECURITY__SECRET_KEY": "fanout-test-secret-" + "k" * 40,
        "RELAYDESK_EVENTS__POLL_SECONDS": "0.1", "RELAYDESK_EVENTS__PARTITIONS": "4",
        "RELAYDESK_LOG_LEVEL": "WARNING", "RELAYDESK_LOG_JSON": "false",
    })  # fmt: skip
    nodes: list[Node] = []
    http = httpx.AsyncClient(timeout=10)
    try:
        nodes = [Node("api-a", env, tmp), Node("api-b", env, tmp)]
        for node in nodes:
            await node.ready(http)
        yield Cluster(Database(engine), nodes[0], nodes[1], http)
    finally:
        for node in nodes:  # always, even when a node failed to start
            node.stop()
        await http.aclose()
        await engine.dispose()
        await _flush_redis()


# --- the app posting its users' messages, signed ---------------------------------------------


@dataclass
class AppChannel:
    inbox_id: str
    secret: str

    async def post(self, http: httpx.AsyncClient, node: Node, text: str) -> None:
        body = json.dumps({"message_id": f"m-{uuid.uuid4().hex[:12]}",
                           "user": {"id": "u10086", "name": "王小明"}, "text": text})  # fmt: skip
        msg_id, now = f"msg_{uuid.uuid4().hex}", dt.datetime.now(dt.UTC)
        headers = {
            "webhook-id": msg_id, "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": Webhook(self.secret).sign(msg_id, now, body),
            "content-type": "application/json",
        }  # fmt: skip
        r = await http.post(f"{node.url}{API}/channels/api/{self.inbox_id}/messages",
                            content=body, headers=headers)  # fmt: skip
        assert r.status_code == 201, r.text


async def _api_inbox(cluster: Cluster, node: Node, org: Org) -> AppChannel:
    admin = {"Authorization": f"Bearer {await cluster.login(node, org, 'admin')}"}
    r = await cluster.http.post(f"{node.url}{API}/inboxes", headers=admin, json={
        "name": "云栖 App", "channel": "api", "settings": {"app_id": "wx8d3a1f2b"}})  # fmt: skip
    assert r.status_code == 201, r.text
    inbox_id = r.json()["id"]
    r = await cluster.http.post(f"{node.url}{API}/channels/api/{inbox_id}/signing-secret",
                                headers=admin)  # fmt: skip
    assert r.status_code == 200, r.text
    return AppChannel(inbox_id, r.json()["signing_secret"])


# --- sockets -------------------------------------------------------------------------------


async def _open(node: Node, token: str, after: str | None = None) -> tuple[Any, list[Any], str]:
    """A socket to ``node``: (socket, replayed frames, ready.last_event_id)."""
    ws = await websockets.connect(node.ws_url)
    await ws.send(json.dumps({"type": "auth", "token": token, "after": after}))
    replayed = []
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if frame["type"] == "ready":
            return ws, replayed, frame["last_event_id"]
        replayed.append(frame)


async def _until(ws: Any, event_type: str, text: str, wait: float = 10) -> list[dict[str, Any]]:
    """Frames up to and including the ``event_type`` one whose payload text is ``text``."""
    seen = []
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), wait))
        seen.append(frame)
        if frame.get("event_type") == event_type and frame["payload"].get("text") == text:
            return seen


async def _quiet(ws: Any, wait: float = 0.8) -> list[dict[str, Any]]:
    """Frames that still arrive until ``wait`` passes in silence."""
    seen = []
    try:
        while True:
            seen.append(json.loads(await asyncio.wait_for(ws.recv(), wait)))
    except TimeoutError:
        return seen


async def test_an_event_on_one_process_reaches_agents_on_both_once(cluster: Cluster) -> None:
    org, other = await make_org(cluster.db, "fanout-acme"), await make_org(cluster.db, "fanout-x")
    app = await _api_inbox(cluster, cluster.b, org)
    on_a, _, _ = await _open(cluster.a, await cluster.login(cluster.a, org, "agent"))
    on_b, _, _ = await _open(cluster.b, await cluster.login(cluster.b, org, "supervisor"))
    outsider, _, _ = await _open(cluster.a, await cluster.login(cluster.a, other, "owner"))
    try:
        await app.post(cluster.http, cluster.b, "我的订单能改地址吗？")  # handled by B
        seen_a = await _until(on_a, "message.received", "我的订单能改地址吗？")
        seen_b = await _until(on_b, "message.received", "我的订单能改地址吗？")
        seen_a += await _quiet(on_a)
        seen_b += await _quiet(on_b)
        ids_a = [f["id"] for f in seen_a]
        assert sorted(ids_a) == sorted(f["id"] for f in seen_b), "both see the same events"
        assert len(ids_a) == len(set(ids_a)), f"an event came twice: {seen_a}"
        assert {"conversation.created", "message.received"} <= {f["event_type"] for f in seen_a}
        assert await _quiet(outsider, 0.3) == []  # another tenant hears nothing
    finally:
        for ws in (on_a, on_b, outsider):
            await ws.close()


async def test_an_agent_away_resumes_on_the_other_process_with_exactly_what_it_missed(
    cluster: Cluster,
) -> None:
    org = await make_org(cluster.db, "fanout-resume")
    app = await _api_inbox(cluster, cluster.b, org)
    token = await cluster.login(cluster.a, org, "agent")
    ws, _, _ = await _open(cluster.a, token)
    try:
        await app.post(cluster.http, cluster.b, "第1条")
        seen = await _until(ws, "message.received", "第1条")
        seen += await _quiet(ws)
    finally:
        await ws.close()  # the agent's network drops
    # events of different keys (the customer, the conversation) may arrive out of id order:
    # like the web client, resume from the newest id seen
    last_seen = max(f["id"] for f in seen if f.get("id"))

    for n in (2, 3, 4):  # while the agent is away, on B
        await app.post(cluster.http, cluster.b, f"第{n}条")
    ws, replayed, last_event_id = await _open(cluster.b, token, after=last_seen)
    try:
        # the replay starts a few seconds before the last event seen (an event committed late
        # can carry a smaller id); the client drops the ids it has, and misses nothing
        known = {f["id"] for f in seen if f.get("id")}
        missed = [f for f in replayed if f.get("id") not in known]
        assert [(f["event_type"], f["payload"].get("text")) for f in missed] == [
            ("message.received", "第2条"), ("message.received", "第3条"),
            ("message.received", "第4条")]  # fmt: skip
        assert last_event_id == replayed[-1]["id"]
        # the live pushes of 2-4 may still be on their way: none of them comes a second time
        await app.post(cluster.http, cluster.a, "第5条")  # and now on A
        live = await _until(ws, "message.received", "第5条")
        live += await _quiet(ws)
        assert [f["payload"].get("text") for f in live] == ["第5条"], live
        assert live[0]["id"] > last_event_id
    finally:
        await ws.close()
