"""Helpers of the saga tests: the real demo systems on loopback (orders, tickets, CRM), a
gate in front of one of them (lets a request through, then holds its answer, so a test can
kill the worker while the call is in flight), connector instances made through the API, and
a loop that runs the job queue until nothing is due."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import func, select

from relaydesk.connectors import CONNECTORS_DIR
from relaydesk.connectors.demo_instances import ALLOW_NETWORK, demo_config
from relaydesk.demo_systems.crm import create_crm_app
from relaydesk.demo_systems.orders import create_orders_app
from relaydesk.demo_systems.runner import RunningServer, start_server
from relaydesk.demo_systems.tickets import create_tickets_app
from relaydesk.events.models import OutboxEvent
from relaydesk.jobs import JobRunner
from relaydesk.kit.db import Database

API = "/api/v1"
SYSTEMS = ("orders", "tickets", "crm")
#: a paid order of 彭丽 (2179.00), in the CRM; and one of 张伟 above the 5000.00 review limit
ORDER = {"order_no": "YQ20260909000200", "amount": "100.00", "customer_mobile": "13506219182",
         "customer_name": "彭丽", "reason": "商品有划痕"}  # fmt: skip
BIG_ORDER = {"order_no": "YQ20261022000640", "amount": "5499.00", "customer_mobile": "13937704964",
             "customer_name": "张伟", "reason": "不想要了"}  # fmt: skip


class Gate:
    """ASGI wrapper: a request matching (method, path part) goes through to the system, then
    its answer is held until :meth:`open`; :attr:`arrived` is set when one is held."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.match: tuple[str, str] | None = None
        self.arrived = asyncio.Event()
        self.release = asyncio.Event()
        self.held = 0

    def hold(self, method: str, path_part: str) -> None:
        self.match = (method, path_part)
        self.arrived.clear()
        self.release.clear()

    def open(self) -> None:
        self.match = None
        self.release.set()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        match = self.match
        if (scope["type"] != "http" or match is None or scope["method"] != match[0]
                or match[1] not in scope["path"]):  # fmt: skip
            await self.app(scope, receive, send)
            return
        messages: list[Any] = []

        async def keep(message: Any) -> None:
            messages.append(message)

        await self.app(scope, receive, keep)  # the system does its work
        self.held += 1
        self.arrived.set()
        await self.release.wait()
        with contextlib.suppress(Exception):  # the caller may be gone (killed)
            for message in messages:
                await send(message)


@dataclass
class Systems:
    servers: dict[str, RunningServer] = field(default_factory=dict)
    gates: dict[str, Gate] = field(default_factory=dict)
    seeded: set[str] = field(default_factory=set)

    @property
    def urls(self) -> dict[str, str]:
        return {name: server.url for name, server in self.servers.items()}

    def state(self, name: str) -> Any:
        app = self.gates[name].app
        return getattr(app.state, {"orders": "orders", "tickets": "tickets", "crm": "crm"}[name])

    def tickets_for(self, order_no: str) -> list[Any]:
        """The tickets of the order made since the systems started (not the seeded ones)."""
        return [t for no, t in self.state("tickets").tickets.items()
                if t.order_no == order_no and no not in self.seeded]  # fmt: skip

    def refunds_for(self, order_no: str) -> list[Any]:
        return self.state("orders").refunds_of(order_no)


@contextlib.asynccontextmanager
async def demo_systems() -> AsyncIterator[Systems]:
    systems = Systems()
    apps = {"orders": create_orders_app(), "tickets": create_tickets_app(),
            "crm": create_crm_app()}  # fmt: skip
    try:
        for name, app in apps.items():
            gate = systems.gates[name] = Gate(app)
            systems.servers[name] = await start_server(gate, "127.0.0.1", 0, name)
        systems.seeded = set(systems.state("tickets").tickets)
        yield systems
    finally:
        for gate in systems.gates.values():
            gate.open()
        await asyncio.gather(*(s.stop() for s in systems.servers.values()))


def instance_body(name: str, urls: dict[str, str]) -> dict[str, Any]:
    spec = (CONNECTORS_DIR / name / "spec.yaml").read_text(encoding="utf-8")
    return {"name": name, "spec": spec, "config": demo_config(name, urls),
            "allow_network": list(ALLOW_NETWORK)}  # fmt: skip


async def connect(
    client: httpx.AsyncClient, headers: dict[str, str], urls: dict[str, str]
) -> dict[str, str]:
    ids = {}
    for name in SYSTEMS:
        r = await client.post(f"{API}/connector-instances", headers=headers,
                              json=instance_body(name, urls))  # fmt: skip
        assert r.status_code == 201, r.text
        ids[name] = r.json()["id"]
    return ids


async def drive(db: Database, *, rounds: int = 50, runner: JobRunner | None = None) -> None:
    """Run due jobs until none is due (retries scheduled later are not waited for)."""
    runner = runner or JobRunner(db, concurrency=1)
    for _ in range(rounds):
        if not await runner.run_once():
            return
    raise AssertionError("jobs still due after many rounds")


async def run_jobs(db: Database, times: int) -> None:
    """Run the due jobs ``times`` times (one job each: a saga has one job due at a time)."""
    for _ in range(times):
        assert await JobRunner(db, concurrency=1).run_once() == 1


async def events_of(db: Database, prefix: str = "saga.") -> list[OutboxEvent]:
    async with db.job(system=True) as session:
        rows = await session.execute(
            select(OutboxEvent).where(OutboxEvent.type.startswith(prefix)).order_by(OutboxEvent.id)
        )
        return list(rows.scalars().all())


async def count(db: Database, model: Any, *where: Any) -> int:
    async with db.job(system=True) as session:
        return int((await session.execute(select(func.count()).select_from(model).where(*where)))
                   .scalar_one())  # fmt: skip


async def start(
    client: httpx.AsyncClient, headers: dict[str, str], values: dict[str, Any],
    definition: str = "refund", **kw: Any,
) -> httpx.Response:  # fmt: skip
    return await client.post(f"{API}/sagas", headers={**headers, **kw.pop("extra", {})},
                             json={"definition": definition, "input": values})  # fmt: skip


async def saga(client: httpx.AsyncClient, headers: dict[str, str], saga_id: str) -> dict[str, Any]:
    r = await client.get(f"{API}/sagas/{saga_id}", headers=headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def cancel_when(event: asyncio.Event, task: asyncio.Task[Any]) -> None:
    """Cancel ``task`` (a worker) as soon as ``event`` is set: the call is in flight."""
    await asyncio.wait_for(event.wait(), 10)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
