"""The web chat widget in Chromium, on a host page of another origin, against a real server.

Relaydesk (uvicorn, its own SQLite file, the job runner in the API process) serves the widget;
a plain HTTP server on another loopback port serves a shop page with the one-line snippet;
widget/e2e/widget.e2e.mjs drives Chromium through playwright-core (never a downloaded browser)
as the visitor and the REST API as the agent.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import uvicorn
from web_support import CHROMIUM, ROOT, clean_env, free_port, tail

from relaydesk.app import create_app
from relaydesk.channels import apply_settings
from relaydesk.channels.webchat import mount
from relaydesk.channels.webchat.demo_page import snippet
from relaydesk.config import SecuritySettings, Settings
from relaydesk.conversations.models import Inbox
from relaydesk.kit.crypto import Keyring
from relaydesk.kit.db import Database, scope_session
from relaydesk.migrations.runner import upgrade
from relaydesk.tenancy.models import Team
from relaydesk.tenancy.service import create_tenant, create_user

WIDGET = ROOT / "widget"
BUILT = ROOT / "relaydesk" / "web" / "widget" / "dist" / "widget.js"
PASSWORD = "correct horse battery staple"
SCREENSHOTS = os.environ.get("RELAYDESK_SCREENSHOTS")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing: make browser-deps"),
]


async def _prepare(settings: Settings, host_origin: str) -> tuple[uuid.UUID, uuid.UUID]:
    """An agent, a chat inbox, and an "after-sales" inbox whose team has nobody online."""
    db = Database.from_url(settings.database_url)
    keyring = Keyring.from_settings(settings)
    try:
        await upgrade(db.engine)
        async with db.job(system=True) as session:
            tenant = await create_tenant(session, slug="shop", name="示例商城")
            scope_session(session, tenant.id)
            await create_user(
                session,
                email="agent@shop.example.com",
                display_name="小王",
                password=PASSWORD,
                role_names=("agent",),
            )
            team = Team(tenant_id=tenant.id, name="售后组")
            session.add(team)
            await session.flush()
            inboxes = []
            for name, extra in (
                ("官网客服", {}),
                (
                    "售后留言",
                    {
                        "prechat": {
                            "enabled": True,
                            "name": "required",
                            "phone": "required",
                            "email": "hidden",
                        }
                    },
                ),
            ):
                inbox = Inbox(
                    tenant_id=tenant.id,
                    name=name,
                    channel="web_chat",
                    team_id=team.id if extra else None,
                )
                apply_settings(
                    inbox,
                    {
                        "allowed_origins": [host_origin],
                        "title": {"zh-CN": name, "en": "Support"},
                        **extra,
                    },
                    keyring,
                )
                session.add(inbox)
                await session.flush()
                inboxes.append(inbox.id)
            return inboxes[0], inboxes[1]
    finally:
        await db.dispose()


@contextmanager
def relaydesk(settings: Settings) -> Iterator[str]:
    app = create_app(settings)
    mount(app)  # until relaydesk/app.py mounts the web chat itself (a no-op then)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_config=None, access_log=False, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "Relaydesk did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@contextmanager
def host_site(port: int, pages: dict[str, str]) -> Iterator[str]:
    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages.get(self.path, pages["/"]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.shutdown()
        server.server_close()


def test_widget_on_a_host_page(tmp_path: Path) -> None:
    if not BUILT.is_file() or not (WIDGET / "node_modules" / "playwright-core").is_dir():
        pytest.fail("the widget is not built: run `make web` first")
    settings = Settings(
        environment="test",
        data_dir=tmp_path / "var",
        log_level="WARNING",
        security=SecuritySettings(secret_key="widget-e2e-" + "z" * 40),
    )  # type: ignore[arg-type]
    settings.data_dir.mkdir(parents=True)
    host_port = free_port()
    inbox, offline_inbox = asyncio.run(_prepare(settings, f"http://127.0.0.1:{host_port}"))
    shots = ROOT / "docs" / "screenshots" if SCREENSHOTS else tmp_path
    with relaydesk(settings) as desk:
        assert (
            httpx.get(f"{desk}/widget/widget.js")
            .headers["content-type"]
            .startswith("text/javascript")
        )
        pages = {
            path: (
                "<!doctype html><html><head><meta charset='utf-8'><title>示例商城</title>"
                "<meta name='viewport' content='width=device-width, initial-scale=1'></head>"
                f"<body><h1>示例商城</h1><p>无线耳机 ¥899</p>"
                f"{snippet(f'{desk}/widget/widget.js', which)}</body></html>"
            )
            for path, which in (("/", inbox), ("/after-sales", offline_inbox))
        }
        with host_site(host_port, pages) as host:
            node = shutil.which("node")
            assert node, "node is not on PATH"
            env = clean_env(
                WIDGET_E2E_DESK=desk,
                WIDGET_E2E_HOST=host,
                WIDGET_E2E_AGENT=f"shop:agent@shop.example.com:{PASSWORD}",
                WIDGET_E2E_SHOTS=str(shots),
                RELAYDESK_CHROMIUM=str(CHROMIUM),
                NO_COLOR="1",
            )
            log = tmp_path / "widget-e2e.log"
            with log.open("wb") as out:
                done = subprocess.run(
                    [node, "--test", "e2e/widget.e2e.mjs"],
                    cwd=WIDGET,
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    timeout=300,
                    check=False,
                )
    assert done.returncode == 0, f"widget browser test failed:\n{tail(log, 80)}"
