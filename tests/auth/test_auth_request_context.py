"""What the request-context middleware adds to every API call: request id, headers, limits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from auth_helpers import LOGIN, ME
from fastapi import APIRouter, FastAPI

from relaydesk.config import HttpSettings, SecuritySettings, Settings

LIMIT = 1024


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        environment="test", data_dir=tmp_path / "var",
        security=SecuritySettings(secret_key="test-secret-" + "x" * 40),  # type: ignore[arg-type]
        http=HttpSettings(max_body_bytes=LIMIT),
    )


async def test_request_id_is_generated_or_kept(client: httpx.AsyncClient) -> None:
    generated = await client.get(ME)
    rid = generated.headers["x-request-id"]
    assert len(rid) == 32 and int(rid, 16) >= 0
    assert generated.json()["error"]["request_id"] == rid
    kept = await client.get(ME, headers={"X-Request-Id": "trace-abc.123"})
    assert kept.headers["x-request-id"] == "trace-abc.123"
    assert kept.json()["error"]["request_id"] == "trace-abc.123"
    for bad in ("short", "has spaces in it", "x" * 65, "semi;colon-123"):
        replaced = await client.get(ME, headers={"X-Request-Id": bad})
        assert replaced.headers["x-request-id"] != bad


async def test_security_headers(client: httpx.AsyncClient) -> None:
    r = await client.get(ME)
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert "script-src 'self';" in r.headers["content-security-policy"]
    docs = await client.get("/api/v1/docs")
    assert "'unsafe-inline'" in docs.headers["content-security-policy"]


async def test_declared_oversized_body_is_413(client: httpx.AsyncClient) -> None:
    r = await client.post(LOGIN, content=b"x" * (LIMIT + 1),
                          headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "payload_too_large"
    assert r.json()["error"]["details"] == {"limit_bytes": LIMIT}


async def _chunks() -> AsyncIterator[bytes]:
    for _ in range(4):
        yield b" " * 512


async def test_streamed_oversized_body_is_413(client: httpx.AsyncClient) -> None:
    r = await client.post(LOGIN, content=_chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413


@pytest.fixture
async def crashing_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    router = APIRouter()

    @router.get("/api/v1/_test/crash")
    async def crash() -> None:
        raise RuntimeError("bug")

    app.include_router(router)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 1), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def test_unexpected_error_is_500_without_details(
    crashing_client: httpx.AsyncClient,
) -> None:
    r = await crashing_client.get("/api/v1/_test/crash")
    assert r.status_code == 500
    assert r.json()["error"]["code"] == "internal_error"
    assert "bug" not in r.text and "Traceback" not in r.text


async def test_unexpected_error_names_the_request_id(crashing_client: httpx.AsyncClient) -> None:
    r = await crashing_client.get("/api/v1/_test/crash", headers={"X-Request-Id": "trace-500-abc"})
    assert r.headers.get("x-request-id") == "trace-500-abc"
    assert r.json()["error"]["request_id"] == "trace-500-abc"
