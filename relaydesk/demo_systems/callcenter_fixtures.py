"""Record the ``callcenter`` connector's fixtures and the call centre's event pushes from the
real demo call centre.

    python -m relaydesk.demo_systems.callcenter_fixtures

Starts the call centre on a free loopback port with a catcher as its ``event_url``, places an
inbound call (张伟 calls, seat 8001 answers, 3 min 12 s, the customer hangs up) and a missed
one, calls the connector's actions the way the runtime calls them (signed), and writes:

* ``relaydesk/connectors/callcenter/fixtures/``: each action's answer and ``manifest.json``;
* ``tests/channels/voice/fixtures/``: the three pushes of the answered call and the HANGUP of
  the missed one, byte for byte (``*.body.json``), with their signed query in ``pushes.json``.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request

from relaydesk.connectors import CONNECTORS_DIR, load_connector
from relaydesk.demo_systems.callcenter import CC_ADMIN_TOKEN, create_callcenter_app
from relaydesk.demo_systems.callcenter_state import CC_APP_KEY, CC_APP_SECRET, CallCenterConfig
from relaydesk.demo_systems.runner import start_server
from relaydesk.integrations.runtime import make_auth_handler, make_http_client
from relaydesk.integrations.runtime.http import build_request
from relaydesk.integrations.spec import ConnectorSpec, validate_params

__all__ = ["record"]

RECORDER = "relaydesk.demo_systems.callcenter_fixtures"
PUSHES_DIR = Path(__file__).resolve().parents[2] / "tests" / "channels" / "voice" / "fixtures"
ZHANG_WEI = "13937704964"
CATCHER_PATH = "/api/v1/channels/voice/00000000-0000-0000-0000-000000000000/events"


def save_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


class Recorder:
    """Calls the connector's actions as the runtime sends them and saves the answers."""

    def __init__(self, spec: ConnectorSpec, config: dict[str, Any], out: Path) -> None:
        self.spec, self.config, self.out = spec, config, out
        self.entries: list[dict[str, Any]] = []
        self.http = make_http_client(spec, config, ["127.0.0.1/32"])
        self.auth = make_auth_handler(spec, config, self.http)

    async def http_call(self, file: str, action: str, raw: dict[str, Any]) -> None:
        params = validate_params(self.spec, action, raw, mode="json")
        request, line = build_request(self.http, self.spec, self.spec.action(action), params,
                                      self.config)  # fmt: skip
        response = await self.http.send(await self.auth.apply(request))
        body = json.loads(response.content)
        save_json(self.out / file, body)
        self.entries.append({"file": file, "action": action, "params": raw, "request": line,
                             "status": response.status_code,
                             "content_type": response.headers.get("content-type")})  # fmt: skip

    def write_manifest(self, **extra: Any) -> None:
        manifest = {"system": self.spec.name, **extra, "fixtures": self.entries}
        save_json(self.out / "manifest.json", manifest)

    async def aclose(self) -> None:
        await self.http.aclose()


def _catcher() -> tuple[FastAPI, list[tuple[str, bytes]]]:
    app, received = FastAPI(), []

    @app.post(CATCHER_PATH)
    async def events(request: Request) -> dict[str, Any]:
        received.append((request.url.query, await request.body()))
        return {"code": 0, "msg": "ok"}

    return app, received


async def record(out: Path | None = None, pushes_dir: Path = PUSHES_DIR) -> None:
    out = out or CONNECTORS_DIR / "callcenter" / "fixtures"
    catcher_app, received = _catcher()
    catcher = await start_server(catcher_app, name="event-catcher")
    config = CallCenterConfig(event_url=f"{catcher.url}{CATCHER_PATH}", dial_push_delay=None)
    server = await start_server(create_callcenter_app(config), name="callcenter")
    admin = {"X-Admin-Token": CC_ADMIN_TOKEN}
    for folder in (out, pushes_dir):
        folder.mkdir(parents=True, exist_ok=True)
    for old in out.iterdir():
        old.unlink()
    spec = load_connector("callcenter")
    cfg = {"base_url": server.url, "app_key": CC_APP_KEY, "app_secret": CC_APP_SECRET}
    rec = Recorder(spec, cfg, out)
    try:
        async with httpx.AsyncClient(base_url=server.url, headers=admin, timeout=10) as http:
            r = await http.post("/admin/calls/inbound", json={"from": ZHANG_WEI, "cno": "8001"})
            call_id = r.json()["data"]["callId"]
            await http.post(f"/admin/calls/{call_id}/answer")
            await http.post(f"/admin/calls/{call_id}/hangup",
                            json={"side": "CUSTOMER", "talkSeconds": 192})  # fmt: skip
            r = await http.post("/admin/calls/inbound", json={"from": "+86 139 0013 9000",
                                                              "cno": "8002"})  # fmt: skip
            missed = r.json()["data"]["callId"]
            await http.post(f"/admin/calls/{missed}/hangup", json={"side": "SYSTEM"})
            await rec.http_call("get_call.json", "get_call", {"call_id": call_id})
            await rec.http_call("list_agents.json", "list_agents", {})
            await rec.http_call("dial.json", "dial", {
                "seat": "8002", "customer_number": ZHANG_WEI, "user_field": "conversation-1",
                "request_id": "rq-0001"})  # fmt: skip
            await rec.http_call("list_calls_by_number.json", "list_calls_by_number",
                                {"number": ZHANG_WEI})  # fmt: skip
            await http.put("/admin/agents/8003", json={"status": "offline"})
            await rec.http_call("error_seat_offline.json", "dial",
                                {"seat": "8003", "customer_number": ZHANG_WEI})  # fmt: skip
            await rec.http_call("error_call_not_found.json", "get_call",
                                {"call_id": "CA0000000000000099999"})  # fmt: skip
        rec.write_manifest(recorded_with=f"python -m {RECORDER}")
        names = ["ringing", "answered", "hangup", "missed_ringing", "missed_hangup"]
        log = []
        for name, (query, body) in zip(names, received, strict=True):
            (pushes_dir / f"{name}.body.json").write_bytes(body)  # byte for byte
            log.append({"file": f"{name}.body.json", "path": CATCHER_PATH, "query": query,
                        "event": json.loads(body)["eventType"]})  # fmt: skip
        save_json(pushes_dir / "pushes.json", {"recorded_with": f"python -m {RECORDER}",
                                               "pushes": log})  # fmt: skip
        print(f"callcenter: {len(rec.entries)} fixture(s) in {out}, {len(log)} pushes")
    finally:
        await rec.aclose()
        await server.stop()
        await catcher.stop()


if __name__ == "__main__":
    asyncio.run(record())
