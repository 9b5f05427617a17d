"""Helpers for the webhook tests: a real receiver on loopback (Starlette under uvicorn), the
webhooks router mounted on the test app, a controllable clock, and a job driver."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from relaydesk.events.envelope import Envelope
from relaydesk.events.models import OutboxEvent
from relaydesk.events.outbox import emit, to_envelope
from relaydesk.jobs.models import Job
from relaydesk.jobs.runner import JobRunner
from relaydesk.kit.db import Database, utcnow
from relaydesk.kit.ratelimit import MemoryRateLimiter
from relaydesk.webhooks import consumers
from relaydesk.webhooks import runtime as webhook_runtime
from relaydesk.webhooks.api import router
from relaydesk.webhooks.models import WebhookDelivery, WebhookEndpoint

API = "/api/v1/webhooks"

ORDER = {
    "order_no": "SO20240501000123",
    "status": "shipped",
    "customer_phone": "13912345678",
    "receiver_name": "王小明",
    "receiver_phone": "13812341234",
    "receiver_address": "广东省深圳市南山区科技园南路88号",
    "carrier": "SF",
    "tracking_no": "SF1234567890",
    "remark": "请联系 13700001111",
}


@dataclass
class Hit:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Answers by path: /ok 200, /fail 500, /gone 410, /slow (sleeps), /redirect 302,
    /busy 429 + Retry-After, /flaky (a scripted list of statuses)."""

    base_url: str = ""
    hits: list[Hit] = field(default_factory=list)
    retry_after: str = "120"
    busy_status: int = 429
    script: list[int] = field(default_factory=list)
    slow_seconds: float = 1.0

    def reset(self) -> None:
        self.hits.clear()
        self.retry_after = "120"
        self.busy_status = 429
        self.script = []

    def url(self, mode: str) -> str:
        return f"{self.base_url}/{mode}"

    def of(self, mode: str) -> list[Hit]:
        return [h for h in self.hits if h.path == f"/{mode}"]

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        mode = request.path_params["mode"]
        self.hits.append(Hit(f"/{mode}", dict(request.headers), body))
        if mode == "ok":
            return PlainTextResponse("received 13900001111 " + "x" * 3000)
        if mode == "fail":
            return PlainTextResponse("boom", status_code=500)
        if mode == "gone":
            return PlainTextResponse("gone", status_code=410)
        if mode == "slow":
            await asyncio.sleep(self.slow_seconds)
            return PlainTextResponse("late")
        if mode == "redirect":
            return Response(status_code=302, headers={"location": self.url("ok")})
        if mode == "busy":
            headers = {"retry-after": self.retry_after} if self.retry_after else {}
            return PlainTextResponse("slow down", self.busy_status, headers=headers)
        if mode == "flaky":
            status = self.script.pop(0) if self.script else 200
            return PlainTextResponse(str(status), status_code=status)
        return PlainTextResponse("?", status_code=404)


@contextlib.asynccontextmanager
async def serve_receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    app = Starlette(routes=[Route("/{mode}", receiver.handle, methods=["POST"])])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_config=None, access_log=False, log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        assert not task.done(), "the receiver did not start"
        await asyncio.sleep(0.01)
    receiver.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        yield receiver
    finally:
        server.should_exit = True
        await task
        sock.close()


class Clock:
    """A clock the tests move by hand (the webhook runtime reads it)."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> dt.datetime:
        self.now += dt.timedelta(**delta)
        return self.now


async def create_endpoint(
    client: httpx.AsyncClient, headers: dict[str, str], url: str, **extra: Any
) -> dict[str, Any]:
    body = {"url": url, "allow_network": ["127.0.0.1"], **extra}
    r = await client.post(f"{API}/endpoints", headers=headers, json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def publish(
    db: Database, tenant_id: uuid.UUID, event_type: str, payload: dict[str, Any]
) -> Envelope:
    """Emit an event in a transaction, then hand it to the webhooks consumer as the bus does
    (one tenant-scoped transaction per event)."""
    async with db.job(tenant_id) as session:
        envelope = await emit(session, event_type, payload, tenant_id=tenant_id)
    async with db.job(tenant_id) as session:
        row = await session.get(OutboxEvent, envelope.id)
        assert row is not None
        await consumers.handle(session, to_envelope(row))
    return envelope


async def run_due(db: Database, now: dt.datetime | None = None, limit: int = 50) -> list[str]:
    """Run due jobs one at a time (the test database shares one connection); their statuses."""
    runner = JobRunner(db, worker="test-runner")
    statuses = []
    for _ in range(limit):
        jobs = await runner.claim(1, now=now)
        if not jobs:
            break
        statuses.append(await runner.run_job(jobs[0]))
    return statuses


async def pending_jobs(db: Database) -> list[Job]:
    async with db.job(system=True) as session:
        rows = await session.scalars(
            select(Job).where(Job.kind == "webhooks.attempt", Job.status == "pending")
        )
        return sorted(rows, key=lambda j: j.run_at)


async def delivery(db: Database, tenant_id: uuid.UUID, delivery_id: Any) -> WebhookDelivery:
    async with db.job(tenant_id) as session:
        row = await session.get(WebhookDelivery, uuid.UUID(str(delivery_id)))
        assert row is not None
        return row


async def endpoint(db: Database, tenant_id: uuid.UUID, endpoint_id: Any) -> WebhookEndpoint:
    async with db.job(tenant_id) as session:
        row = await session.get(WebhookEndpoint, uuid.UUID(str(endpoint_id)))
        assert row is not None
        await session.refresh(row)
        return row


async def deliveries(db: Database, tenant_id: uuid.UUID) -> list[WebhookDelivery]:
    async with db.job(tenant_id) as session:
        rows = await session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id))
        return list(rows)


# --- fixtures (imported by the test modules: ``from webhook_support import FIXTURES``) -----


@pytest.fixture(scope="module", name="receiver_server")
async def receiver_server_fixture() -> AsyncIterator[Receiver]:
    async with serve_receiver() as receiver:
        yield receiver


@pytest.fixture(name="receiver")
def receiver_fixture(receiver_server: Receiver) -> Receiver:
    receiver_server.reset()
    return receiver_server


@pytest.fixture(name="clock")
def clock_fixture() -> Clock:
    return Clock()


@pytest.fixture(name="wh")
async def wh_fixture(app: Any, clock: Clock) -> AsyncIterator[webhook_runtime.WebhookRuntime]:
    """The webhooks API on the test app and the runtime configured like the app would
    (its keyring), with a short timeout and the test's clock."""
    if not any(getattr(r, "path", "").startswith("/api/v1/webhooks") for r in app.routes):
        app.include_router(router, prefix="/api/v1")
    rt = webhook_runtime.configure(
        keyring=app.state.keyring, limiter=MemoryRateLimiter(), clock=clock,
        timeout_seconds=0.5,
    )  # fmt: skip
    yield rt
    await webhook_runtime.reset()


#: import these into a test module to use the fixtures ``receiver``, ``clock`` and ``wh``
FIXTURES = (receiver_server_fixture, receiver_fixture, clock_fixture, wh_fixture)
