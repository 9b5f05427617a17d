"""End to end: the API, the real runtime (SSRF-safe client, OAuth 2.0, http executor) and a
real order system served by uvicorn on 127.0.0.1 (the instance's allow-list opens it)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import typer
import uvicorn
from conftest import Org, login
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from integrations.service.hub_support import API, CLEAR_PHONE, ORDER_NO, Clock, Sleeper, mount
from typer.testing import CliRunner

from relaydesk.cli.connectors_test import parse_params, register, run_test
from relaydesk.integrations.registry import RuntimeRegistry
from relaydesk.kit.db import Database

BASE = f"{API}/connector-instances"
CLIENT_SECRET = "cs-9f8e7d-SECRET"

SPEC = """\
apiVersion: relaydesk.io/v1
kind: http
name: shop
title: 订单系统
config:
  base_url: {type: string, required: true}
  client_id: {type: string, required: true}
  client_secret: {type: string, required: true, secret: true}
http: {base_url: "{{ config.base_url }}", headers: {Accept: application/json}}
auth:
  type: oauth2_client_credentials
  token_url: "{{ config.base_url }}/oauth/token"
  client_id: "{{ config.client_id }}"
  client_secret: "{{ config.client_secret }}"
resilience:
  timeout_seconds: 3
  retries: {max_attempts: 3, initial_backoff_seconds: 0.05, max_backoff_seconds: 5}
  circuit_breaker: {failure_threshold: 2, reset_seconds: 60}
  cache: {ttl_seconds: 60, stale_seconds: 3600}
errors:
  - {when: {body: "code == 'ORDER_SHIPPED'"}, then: fail, code: order_shipped,
     message: "订单已发货，不能修改地址"}
actions:
  get_order:
    effect: read
    cache: true
    params: {order_no: {type: string, required: true}}
    request: {path: "/api/orders/{{ params.order_no }}"}
    response: {select: data}
    output: order
    mapping:
      fields:
        order_no: {expr: orderNo, type: string, required: true}
        status: {expr: status, type: string}
        receiver_phone: {expr: mobile, type: string}
    pii: {receiver_phone: phone}
  change_address:
    effect: write
    params: {order_no: {type: string, required: true}, address: {type: string, required: true}}
    request:
      method: POST
      path: "/api/orders/{{ params.order_no }}/address"
      body: {address: "{{ params.address }}"}
"""


class OrderSystem:
    """A small order system: OAuth 2.0 client credentials, orders, scripted failures."""

    def __init__(self) -> None:
        self.script: deque[tuple[int, Any, dict[str, str]]] = deque()
        self.tokens: set[str] = set()
        self.counter = itertools.count(1)
        self.token_requests = 0
        self.order_requests = 0
        self.app = self._app()

    def _app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/oauth/token")
        async def token(request: Request) -> dict[str, Any]:
            self.token_requests += 1
            assert request.headers["authorization"].startswith("Basic ")
            value = f"access-{next(self.counter)}"
            self.tokens.add(value)
            return {"access_token": value, "token_type": "bearer", "expires_in": 3600}

        def scripted() -> Response | None:
            if self.script:
                status, body, headers = self.script.popleft()
                if isinstance(body, str):
                    return Response(body, status_code=status, headers=headers)
                return JSONResponse(body, status_code=status, headers=headers)
            return None

        def authorised(request: Request) -> bool:
            sent = request.headers.get("authorization", "").removeprefix("Bearer ")
            return sent in self.tokens

        @app.get("/api/orders/{order_no}")
        async def order(order_no: str, request: Request) -> Response:
            self.order_requests += 1
            if not authorised(request):
                return JSONResponse({"error": "invalid_token"}, status_code=401)
            answer = scripted()
            if answer is not None:
                return answer
            data = {"orderNo": order_no, "status": "paid", "mobile": CLEAR_PHONE}
            return JSONResponse({"code": 0, "data": data})

        @app.post("/api/orders/{order_no}/address")
        async def address(order_no: str, request: Request) -> Response:
            self.order_requests += 1
            if not authorised(request):
                return JSONResponse({"error": "invalid_token"}, status_code=401)
            if order_no.startswith("SHIPPED"):
                return JSONResponse({"code": "ORDER_SHIPPED"})
            return scripted() or JSONResponse({"code": 0})

        return app


@contextlib.asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(app, log_config=None, access_log=False, log_level="warning")
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        assert not task.done(), "the test server did not start"
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()


@pytest.fixture
async def system() -> AsyncIterator[tuple[OrderSystem, str]]:
    orders = OrderSystem()
    async with serve(orders.app) as url:
        yield orders, url


@pytest.fixture
def sleeper() -> Sleeper:
    return Sleeper()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def registry(sleeper: Sleeper, clock: Clock) -> AsyncIterator[RuntimeRegistry]:
    registry = RuntimeRegistry(sleep=sleeper, cache_clock=clock)
    yield registry
    await registry.aclose()


@pytest.fixture
def app(app: FastAPI, registry: RuntimeRegistry) -> FastAPI:
    return mount(app, registry)


async def create(
    client: httpx.AsyncClient, headers: dict[str, str], base_url: str, **extra: Any
) -> str:
    body = {
        "spec": SPEC,
        "config": {"base_url": base_url, "client_id": "relaydesk", "client_secret": CLIENT_SECRET},
        "allow_network": ["127.0.0.1/32"],
        **extra,
    }
    r = await client.post(BASE, headers=headers, json=body)
    assert r.status_code == 201, r.text
    return f"{BASE}/{r.json()['id']}"


async def run(
    client: httpx.AsyncClient, headers: dict[str, str], url: str, action: str = "get_order",
    **params: Any,
) -> dict[str, Any]:
    r = await client.post(
        f"{url}/actions/{action}/run", headers=headers,
        json={"params": params or {"order_no": ORDER_NO}},
    )  # fmt: skip
    assert r.status_code == 200, r.text
    outcome: dict[str, Any] = r.json()
    assert CLIENT_SECRET not in r.text
    return outcome


async def test_read_through_oauth_cached_then_stale_when_the_system_fails(
    client: httpx.AsyncClient, org_a: Org, system: tuple[OrderSystem, str], clock: Clock
) -> None:
    orders, base_url = system
    owner = await login(client, org_a, "owner")
    url = await create(client, owner, base_url, sandbox=True)

    first = await run(client, owner, url)
    assert first["ok"] is True and first["sandbox"] is True and first["attempts"] == 1
    assert first["data"] == {"order_no": ORDER_NO, "status": "paid", "receiver_phone": CLEAR_PHONE}
    assert orders.token_requests == 1 and orders.order_requests == 1

    r = await client.post(
        f"{API}/api-keys", headers=owner,
        json={"name": "bot", "permissions": ["connector_action:shop.get_order"]},
    )  # fmt: skip
    bot = {"X-API-Key": r.json()["key"]}  # may run the action, may not see personal data
    masked = await run(client, bot, url)
    assert masked["cached"] is True and masked["data"]["receiver_phone"] == "139****5678"
    assert orders.order_requests == 1, "served from the cache"

    clock.now += 61
    orders.script.extend([(503, {"error": "maintenance"}, {})] * 3)
    stale = await run(client, owner, url)
    assert stale["ok"] is True and stale["stale"] is True and stale["cached"] is True
    assert stale["fetched_at"] == first["fetched_at"] and stale["data"] == first["data"]
    assert stale["error"]["status"] == 503 and stale["attempts"] == 3
    assert orders.order_requests == 4


async def test_retries_503_then_succeeds_and_honours_retry_after(
    client: httpx.AsyncClient, org_a: Org, system: tuple[OrderSystem, str], sleeper: Sleeper
) -> None:
    orders, base_url = system
    owner = await login(client, org_a, "owner")
    url = await create(client, owner, base_url)
    orders.script.extend([(503, "<html>busy</html>", {}), (429, {"e": 1}, {"Retry-After": "0"})])
    outcome = await run(client, owner, url)
    assert outcome["ok"] is True and outcome["attempts"] == 3
    assert len(sleeper.waits) == 2 and sleeper.waits[1] == 1.0, "Retry-After 0 → the 1 s floor"
    assert 0 <= sleeper.waits[0] <= 0.05, "backoff with jitter below the initial backoff"
    calls = (await client.get(f"{url}/calls", headers=owner)).json()["items"]
    assert calls[0]["attempts"] == 3 and calls[0]["outcome"] == "success"


async def test_expired_token_is_refreshed_once_then_retried(
    client: httpx.AsyncClient, org_a: Org, system: tuple[OrderSystem, str]
) -> None:
    orders, base_url = system
    owner = await login(client, org_a, "owner")
    url = await create(client, owner, base_url)
    assert (await run(client, owner, url))["ok"]
    orders.tokens.clear()  # the system forgets every token it issued
    outcome = await run(client, owner, url, "change_address", order_no="A1", address="上海市")
    assert outcome["ok"] is True and outcome["attempts"] == 2
    assert orders.token_requests == 2

    shipped = await run(client, owner, url, "change_address", order_no="SHIPPED1",
                        address="上海市")  # fmt: skip
    assert shipped["ok"] is False and shipped["error"]["code"] == "order_shipped"
    assert shipped["error"]["message"] == "订单已发货，不能修改地址"


async def test_writes_are_not_retried_and_the_breaker_opens(
    client: httpx.AsyncClient, org_a: Org, system: tuple[OrderSystem, str]
) -> None:
    orders, base_url = system
    owner = await login(client, org_a, "owner")
    url = await create(client, owner, base_url)
    orders.script.extend([(503, {"e": "down"}, {})] * 2)
    for n in range(2):
        outcome = await run(client, owner, url, "change_address", order_no=f"A{n}", address="x")
        assert outcome["ok"] is False and outcome["attempts"] == 1, "a write is sent once"
    sent = orders.order_requests
    blocked = await run(client, owner, url, "change_address", order_no="A3", address="x")
    assert blocked["error"]["code"] == "circuit_open" and orders.order_requests == sent
    health = (await client.get(f"{url}/health", headers=owner)).json()
    assert health["breaker"] == "open"


async def test_a_loopback_system_is_blocked_without_the_allow_list(
    client: httpx.AsyncClient, org_a: Org, system: tuple[OrderSystem, str]
) -> None:
    orders, base_url = system
    owner = await login(client, org_a, "owner")
    url = await create(client, owner, base_url, allow_network=[], name="shop-blocked")
    outcome = await run(client, owner, url)
    assert outcome["ok"] is False and outcome["attempts"] == 1
    assert outcome["error"]["kind"] == "config"
    assert outcome["error"]["code"] in ("blocked_destination", "token_request_failed")
    assert orders.token_requests == 0 and orders.order_requests == 0


async def test_cli_connectors_test_runs_an_action_as_the_system(
    client: httpx.AsyncClient, app: FastAPI, org_a: Org, db: Database,
    system: tuple[OrderSystem, str], registry: RuntimeRegistry,
) -> None:
    _, base_url = system
    owner = await login(client, org_a, "owner")
    url = await create(client, owner, base_url)
    outcome = await run_test(
        db, app.state.keyring, "acme", "shop", "get_order", parse_params([f"order_no={ORDER_NO}"]),
        registry=registry,
    )  # fmt: skip
    assert outcome.ok and outcome.data["receiver_phone"] == CLEAR_PHONE
    calls = (await client.get(f"{url}/calls", headers=owner)).json()["items"]
    assert calls[0]["actor_type"] == "system" and calls[0]["id"] == str(outcome.call_id)

    assert parse_params(["a=1", 'b=["x", 2]', "c={\"k\": true}", "d=x=y"]) == {
        "a": "1", "b": ["x", 2], "c": {"k": True}, "d": "x=y",
    }  # fmt: skip
    cli = typer.Typer()
    cli.command("schema")(lambda: None)
    register(cli)
    result = CliRunner().invoke(cli, ["test", "--help"])
    assert result.exit_code == 0 and "--tenant" in result.output and "--param" in result.output
