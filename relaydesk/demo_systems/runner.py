"""Run the demo systems in-process: each app on its own uvicorn server, one asyncio task each.

``await start_all()`` binds every server before it returns (a port in use raises
``OSError`` at once, after stopping whatever had started); ``await stop_all()`` stops them.
The servers leave signal handling to the process that embeds them (``relaydesk demo``, or
``python -m relaydesk.demo_systems``).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from relaydesk.demo_systems import credentials
from relaydesk.demo_systems.callcenter import (
    CC_ADMIN_TOKEN,
    CC_APP_KEY,
    CC_APP_SECRET,
    CallCenterConfig,
    create_callcenter_app,
)
from relaydesk.demo_systems.crm import create_crm_app
from relaydesk.demo_systems.finance import create_finance_app
from relaydesk.demo_systems.logistics import create_logistics_app
from relaydesk.demo_systems.membership import create_membership_db, default_membership_url
from relaydesk.demo_systems.orders import OrdersConfig, create_orders_app
from relaydesk.demo_systems.sms_gateway import (
    SMS_ACCESS_KEY_ID,
    SMS_ACCESS_KEY_SECRET,
    SmsGatewayConfig,
    create_sms_gateway_app,
)
from relaydesk.demo_systems.tickets import TicketsConfig, create_tickets_app

__all__ = [
    "PORT_OFFSETS",
    "RunningServer",
    "banner",
    "running",
    "start_all",
    "start_server",
    "stop_all",
]

#: system -> offset from ``base_port`` (membership is a database: its port is left unused)
PORT_OFFSETS = {"orders": 0, "logistics": 1, "crm": 2, "membership": 3, "tickets": 4, "finance": 5,
                "sms": 6, "callcenter": 7}  # fmt: skip


class _EmbeddedServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield  # the embedding process owns SIGINT/SIGTERM


@dataclass
class RunningServer:
    name: str
    app: Any
    server: uvicorn.Server
    task: asyncio.Task[None]
    host: str
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def stop(self) -> None:
        self.server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


async def start_server(
    app: Any, host: str = "127.0.0.1", port: int = 0, name: str = "app"
) -> RunningServer:
    """Serve ``app`` on ``host:port`` (0: any free port) from a background task."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must be IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted connections only then
    # (with proto 0 every keep-alive request waits ~40 ms for a delayed ACK)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        log_level="warning",
        timeout_graceful_shutdown=3,
        lifespan="on",
    )
    server = _EmbeddedServer(config)
    task = asyncio.get_running_loop().create_task(
        server.serve(sockets=[sock]), name=f"demo-system-{name}"
    )
    while not server.started:
        if task.done():
            sock.close()
            task.result()  # raises what stopped it
            raise RuntimeError(f"{name}: the server stopped while starting")
        await asyncio.sleep(0.005)
    return RunningServer(name, app, server, task, host, sock.getsockname()[1])


_running: list[RunningServer] = []


def running() -> list[RunningServer]:
    """The servers :func:`start_all` started (apps reachable as ``.app`` for inspection)."""
    return list(_running)


async def start_all(
    host: str = "127.0.0.1",
    base_port: int = 8101,
    *,
    data_dir: Path | None = None,
    membership_url: str | None = None,
    ticket_callback_url: str | None = None,
    order_callback_url: str | None = None,
    sms_callbacks: dict[str, str] | None = None,
    callcenter_event_url: str | None = None,
) -> list[tuple[str, str]]:
    """Start the eight demo systems; return ``(name, url)`` in port order.

    The membership database is created and seeded (kept if it exists) under ``data_dir``
    (default ``./var``) unless ``membership_url`` names another; its "url" is that
    SQLAlchemy URL. The finance url is its WSDL. ``base_port=0`` picks free ports.
    ``sms_callbacks`` (``inbound_url``, ``report_url``): where the SMS gateway pushes
    customers' messages and delivery reports (settable later: ``PUT /admin/callbacks``).
    ``callcenter_event_url``: where the call centre pushes call events (a voice inbox's
    ``/api/v1/channels/voice/<inbox>/events``); its calls pick up after 8 s and end after 40 s
    by themselves unless driven through its admin endpoints.
    """
    if _running:
        raise RuntimeError("the demo systems are already running; call stop_all() first")
    url = membership_url or default_membership_url(data_dir or Path("var"))
    await create_membership_db(url)
    apps = {
        "orders": create_orders_app(OrdersConfig(callback_url=order_callback_url)),
        "logistics": create_logistics_app(),
        "crm": create_crm_app(),
        "tickets": create_tickets_app(TicketsConfig(callback_url=ticket_callback_url)),
        "finance": create_finance_app(),
        "sms": create_sms_gateway_app(SmsGatewayConfig(
            report_url=(sms_callbacks or {}).get("report_url"),
            inbound_url=(sms_callbacks or {}).get("inbound_url"),
        )),
        "callcenter": create_callcenter_app(CallCenterConfig(
            event_url=callcenter_event_url, auto_answer_after=8.0, auto_hangup_after=40.0,
        )),
    }
    try:
        for name, app in apps.items():
            port = base_port + PORT_OFFSETS[name] if base_port else 0
            _running.append(await start_server(app, host, port, name))
    except BaseException:
        await stop_all()
        raise
    urls = {s.name: s.url for s in _running}
    urls["finance"] += "/finance?wsdl"
    urls["membership"] = url
    return sorted(urls.items(), key=lambda item: PORT_OFFSETS[item[0]])


async def stop_all() -> None:
    """Stop every server :func:`start_all` started (a no-op when none is running)."""
    servers = list(_running)
    _running.clear()
    await asyncio.gather(*(s.stop() for s in servers))


def banner(urls: list[tuple[str, str]]) -> list[str]:
    """Lines to print: each system's URL and its demo credentials."""
    logins = {
        "orders": f"appKey {credentials.ORDERS_APP_KEY}  appSecret {credentials.ORDERS_APP_SECRET}",
        "logistics": f"X-Logistics-Key: {credentials.LOGISTICS_API_KEY}",
        "crm": f"client {credentials.CRM_CLIENT_ID} / {credentials.CRM_CLIENT_SECRET}",
        "membership": "SQL (points database)",
        "tickets": f"X-Api-Token: {credentials.TICKETS_API_TOKEN}  callback secret "
        f"{credentials.TICKETS_CALLBACK_SECRET}",
        "finance": f"Basic {credentials.FINANCE_USERNAME} / {credentials.FINANCE_PASSWORD}",
        "sms": f"AccessKey {SMS_ACCESS_KEY_ID} / {SMS_ACCESS_KEY_SECRET}  (a customer texts in: "
        "POST /admin/inbound)",
        "callcenter": f"appKey {CC_APP_KEY} / {CC_APP_SECRET}  (a customer calls: POST "
        f"/admin/calls/inbound, X-Admin-Token {CC_ADMIN_TOKEN})",
    }
    lines = ["Demo enterprise systems of 云栖优选 (docs/demo-systems.md):"]
    lines += [f"  {name:<11}{url}\n  {'':<11}{logins[name]}" for name, url in urls]
    return lines


def free_base_port(count: int = 8, host: str = "127.0.0.1") -> int:
    """A first port such that ``count`` consecutive ports are free right now (tests, demos)."""
    import random
    import socket

    for _ in range(100):
        base = random.randint(20000, 40000)  # noqa: S311 - not a secret
        try:
            for port in range(base, base + count):
                with socket.socket() as sock:
                    sock.bind((host, port))
        except OSError:
            continue
        return base
    raise RuntimeError(f"no {count} consecutive free ports found")
