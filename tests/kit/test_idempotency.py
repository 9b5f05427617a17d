"""Idempotency-Key on POST: a retried request runs once and gets the same answer."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import Org, login
from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import select, update
from starlette.middleware import Middleware

from relaydesk.auth.deps import CurrentPrincipal
from relaydesk.config import HttpSettings, SecuritySettings, Settings
from relaydesk.errors import TooManyRequests
from relaydesk.kit.db import Database, utcnow
from relaydesk.kit.idempotency import IdempotencyMiddleware, IdempotencyRecord
from relaydesk.kit.middleware import RequestContextMiddleware

ECHO = "/api/v1/_test/echo"
CRED_A = {"Authorization": "Bearer client-a-credential"}
CRED_B = {"Authorization": "Bearer client-b-credential"}


class Handler:
    """The test endpoint's memory: what it was called with, and how it should fail."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.fail_first: str | None = None
        self.gate: asyncio.Event | None = None
        #: set when the endpoint starts running
        self.entered = asyncio.Event()


@pytest.fixture
def handler() -> Handler:
    return Handler()


@pytest.fixture
def idem_app(app: FastAPI, handler: Handler) -> FastAPI:
    router = APIRouter()

    @router.post(ECHO, status_code=201)
    async def echo(body: dict[str, Any]) -> Any:
        handler.calls.append(body)
        handler.entered.set()
        if handler.gate is not None:
            await asyncio.wait_for(handler.gate.wait(), 5)
        if handler.fail_first and len(handler.calls) == 1:
            if handler.fail_first == "500":
                return JSONResponse({"error": {"code": "boom"}}, status_code=500)
            if handler.fail_first == "429":
                raise TooManyRequests(3)
            raise RuntimeError("handler crashed")
        return {"call": len(handler.calls), "echo": body}

    @router.post("/api/v1/_test/other", status_code=201)
    async def other(body: dict[str, Any]) -> Any:
        handler.calls.append(body)
        return {"other": True}

    @router.post("/api/v1/_test/whoami")
    async def whoami(principal: CurrentPrincipal) -> Any:
        handler.calls.append({"who": principal.label})
        return {"who": principal.label, "call": len(handler.calls)}

    app.include_router(router)
    # inside the request-context middleware, as create_app installs it
    if not any(m.cls is IdempotencyMiddleware for m in app.user_middleware):
        outer = next(
            i for i, m in enumerate(app.user_middleware) if m.cls is RequestContextMiddleware
        )
        app.user_middleware.insert(outer + 1, Middleware(IdempotencyMiddleware))
    return app


@pytest.fixture
async def api(idem_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(
        app=idem_app, client=("127.0.0.1", 50000), raise_app_exceptions=False
    )
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def _post(
    api: httpx.AsyncClient, key: str | bytes | None, json: Any, cred: dict[str, str] = CRED_A,
    url: str = ECHO,
) -> httpx.Response:
    headers: dict[str, Any] = dict(cred)
    if key is not None:
        headers["Idempotency-Key"] = key
    return await api.post(url, json=json, headers=headers)


async def test_retry_replays_the_first_response(
    api: httpx.AsyncClient, handler: Handler, db: Database, settings: Settings
) -> None:
    first = await _post(api, "order-1", {"amount": 10})
    second = await _post(api, "order-1", {"amount": 10})
    assert handler.calls == [{"amount": 10}]
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json() == {"call": 1, "echo": {"amount": 10}}
    assert second.headers["content-type"] == "application/json"
    assert second.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    # the replay is a delivery of its own
    assert second.headers["x-request-id"] != first.headers["x-request-id"]
    assert second.headers["x-content-type-options"] == "nosniff"
    async with db.job(system=True) as session:
        row = (await session.execute(select(IdempotencyRecord))).scalar_one()
    ttl = dt.timedelta(seconds=settings.http.idempotency_ttl_seconds)
    assert utcnow() + ttl - dt.timedelta(minutes=1) < row.expires_at <= utcnow() + ttl
    assert row.key == "order-1" and row.status == "completed"
    assert "client-a-credential" not in row.scope  # stored as a digest


async def test_same_key_different_request_is_refused(
    api: httpx.AsyncClient, handler: Handler
) -> None:
    assert (await _post(api, "k1", {"amount": 10})).status_code == 201
    reused = await _post(api, "k1", {"amount": 99})
    assert reused.status_code == 422
    assert reused.json()["error"]["code"] == "idempotency_key_reused"
    assert reused.json()["error"]["request_id"] == reused.headers["x-request-id"]
    other_path = await _post(api, "k1", {"amount": 10}, url="/api/v1/_test/other")
    assert other_path.status_code == 422
    assert handler.calls == [{"amount": 10}]
    # the original request still replays
    assert (await _post(api, "k1", {"amount": 10})).headers["idempotent-replayed"] == "true"


@pytest.mark.parametrize("failure", ["500", "crash", "429"])
async def test_failed_attempt_is_not_stored(
    api: httpx.AsyncClient, handler: Handler, db: Database, failure: str
) -> None:
    handler.fail_first = failure
    first = await _post(api, "pay-1", {"amount": 5})
    assert first.status_code == (429 if failure == "429" else 500)
    async with db.job(system=True) as session:
        assert (await session.execute(select(IdempotencyRecord))).first() is None
    retry = await _post(api, "pay-1", {"amount": 5})
    assert retry.status_code == 201
    assert "idempotent-replayed" not in retry.headers
    assert retry.json()["call"] == 2
    again = await _post(api, "pay-1", {"amount": 5})
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["call"] == 2
    assert len(handler.calls) == 2


async def test_client_errors_are_stored(api: httpx.AsyncClient, handler: Handler) -> None:
    bad = await api.post(ECHO, content=b"{not json", headers={
        **CRED_A, "Idempotency-Key": "bad-json", "Content-Type": "application/json"})
    assert bad.status_code == 400
    replay = await api.post(ECHO, content=b"{not json", headers={
        **CRED_A, "Idempotency-Key": "bad-json", "Content-Type": "application/json"})
    assert replay.status_code == 400
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["error"]["code"] == bad.json()["error"]["code"]


async def test_keys_are_scoped_by_credential(api: httpx.AsyncClient, handler: Handler) -> None:
    a = await _post(api, "same-key", {"from": "a"}, cred=CRED_A)
    b = await _post(api, "same-key", {"from": "b"}, cred=CRED_B)
    api_key = await _post(api, "same-key", {"from": "c"}, cred={"X-API-Key": "rdk_whatever"})
    assert [r.status_code for r in (a, b, api_key)] == [201, 201, 201]
    assert len(handler.calls) == 3
    assert (await _post(api, "same-key", {"from": "b"}, cred=CRED_B)).json()["echo"] == {
        "from": "b"
    }


async def test_real_users_do_not_share_keys(
    api: httpx.AsyncClient, handler: Handler, org_a: Org
) -> None:
    agent = await login(api, org_a, "agent")
    admin = await login(api, org_a, "admin")
    url = "/api/v1/_test/whoami"
    r1 = await _post(api, "k", {}, cred=agent, url=url)
    r2 = await _post(api, "k", {}, cred=admin, url=url)
    r3 = await _post(api, "k", {}, cred=agent, url=url)
    assert r1.json()["who"] == org_a.email("agent")
    assert r2.json()["who"] == org_a.email("admin")
    assert r3.json() == r1.json() and r3.headers["idempotent-replayed"] == "true"
    assert len(handler.calls) == 2


async def test_without_key_or_credential_nothing_is_kept(
    api: httpx.AsyncClient, handler: Handler
) -> None:
    for _ in range(2):
        assert (await _post(api, None, {"x": 1})).status_code == 201
        r = await _post(api, "anon", {"x": 1}, cred={})
        assert r.status_code == 201 and "idempotent-replayed" not in r.headers
    assert len(handler.calls) == 4


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9".encode(), b"tab\there"])
async def test_malformed_key_is_refused(
    api: httpx.AsyncClient, handler: Handler, key: str | bytes
) -> None:
    r = await _post(api, key, {"x": 1})
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "invalid_idempotency_key"
    assert handler.calls == []


async def test_longest_key_is_accepted(api: httpx.AsyncClient, handler: Handler) -> None:
    key = "k" * 255
    await _post(api, key, {"x": 1})
    assert (await _post(api, key, {"x": 1})).headers["idempotent-replayed"] == "true"
    assert len(handler.calls) == 1


async def test_concurrent_duplicate_gets_409(api: httpx.AsyncClient, handler: Handler) -> None:
    handler.gate = asyncio.Event()
    first = asyncio.create_task(_post(api, "slow", {"x": 1}))
    await asyncio.wait_for(handler.entered.wait(), 5)
    duplicate = await _post(api, "slow", {"x": 1})
    assert duplicate.status_code == 409
    assert duplicate.json()["error"]["code"] == "idempotency_in_progress"
    assert duplicate.headers["retry-after"] == "1"
    handler.gate.set()
    assert (await first).status_code == 201
    after = await _post(api, "slow", {"x": 1})
    assert after.headers["idempotent-replayed"] == "true"
    assert len(handler.calls) == 1


async def test_expired_key_can_be_used_again(
    api: httpx.AsyncClient, handler: Handler, db: Database
) -> None:
    await _post(api, "old", {"x": 1})
    async with db.job(system=True) as session:
        await session.execute(
            update(IdempotencyRecord).values(expires_at=utcnow() - dt.timedelta(seconds=1))
        )
    fresh = await _post(api, "old", {"x": 2})
    assert fresh.status_code == 201
    assert fresh.json() == {"call": 2, "echo": {"x": 2}}
    assert (await _post(api, "old", {"x": 2})).headers["idempotent-replayed"] == "true"


async def test_abandoned_in_progress_key_is_taken_over(
    api: httpx.AsyncClient, handler: Handler, db: Database
) -> None:
    """A worker that died mid-request leaves an in_progress row; it does not block for a day."""
    handler.gate = asyncio.Event()
    task = asyncio.create_task(_post(api, "orphan", {"x": 1}))
    await asyncio.wait_for(handler.entered.wait(), 5)
    async with db.job(system=True) as session:
        await session.execute(
            update(IdempotencyRecord).values(created_at=utcnow() - dt.timedelta(minutes=10))
        )
    handler.gate.set()
    await task
    # the first one stored its answer, so make the row look abandoned again
    async with db.job(system=True) as session:
        await session.execute(update(IdempotencyRecord).values(status="in_progress"))
    retry = await _post(api, "orphan", {"x": 1})
    assert retry.status_code == 201 and retry.json()["call"] == 2


class TestBodyLimit:
    @pytest.fixture
    def settings(self, tmp_path: Path) -> Settings:
        return Settings(
            environment="test", data_dir=tmp_path / "var",
            security=SecuritySettings(secret_key="test-secret-" + "x" * 40),  # type: ignore[arg-type]
            http=HttpSettings(max_body_bytes=1024),
        )

    async def test_oversized_body_is_413_and_not_kept(
        self, api: httpx.AsyncClient, handler: Handler, db: Database
    ) -> None:
        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(4):
                yield b" " * 512

        headers = {**CRED_A, "Idempotency-Key": "big", "content-type": "application/json"}
        r = await api.post(ECHO, content=chunks(), headers=headers)
        assert r.status_code == 413
        assert r.json()["error"]["code"] == "payload_too_large"
        assert handler.calls == []
        async with db.job(system=True) as session:
            assert (await session.execute(select(IdempotencyRecord))).first() is None
        assert (await _post(api, "big", {"small": True})).status_code == 201
