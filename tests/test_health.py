from __future__ import annotations

import httpx
import pytest
from asgi_lifespan import LifespanManager

from relaydesk.app import create_app
from relaydesk.config import RedisSettings, Settings
from relaydesk.kit.db import Database
from relaydesk.kit.ratelimit import MemoryRateLimiter, RedisRateLimiter


async def test_healthz_and_readyz(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    r = await client.get("/readyz")
    assert r.status_code == 200
    assert r.json()["checks"] == {"database": "ok"}
    assert r.headers["x-request-id"]


async def test_metrics_count_requests_by_route_template(client: httpx.AsyncClient) -> None:
    await client.get("/api/v1/auth/me")
    await client.get("/no/such/page")
    body = (await client.get("/metrics")).text
    assert (
        'relaydesk_http_requests_total{method="GET",route="/api/v1/auth/me",status="401"}' in body
    )
    assert 'route="<unmatched>"' in body
    assert "/no/such/page" not in body, "raw paths would explode label cardinality"


async def test_embedded_default_limits_in_process(app) -> None:  # type: ignore[no-untyped-def]
    assert isinstance(app.state.rate_limiter, MemoryRateLimiter)


async def _ready(settings: Settings, db: Database) -> httpx.Response:
    app = create_app(settings, db=db)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            assert isinstance(app.state.rate_limiter, RedisRateLimiter)
            return await c.get("/readyz")


@pytest.mark.redis
async def test_readyz_checks_redis_when_configured(settings: Settings, db: Database) -> None:
    settings = settings.model_copy(update={"redis": RedisSettings(url="redis://127.0.0.1:6379/15")})
    try:
        import redis.asyncio as r

        await r.Redis.from_url("redis://127.0.0.1:6379/15").ping()
    except Exception:
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    resp = await _ready(settings, db)
    assert resp.status_code == 200
    assert resp.json()["checks"]["redis"] == "ok"


async def test_readyz_reports_unreachable_redis(settings: Settings, db: Database) -> None:
    settings = settings.model_copy(update={"redis": RedisSettings(url="redis://127.0.0.1:1/0")})
    resp = await _ready(settings, db)
    assert resp.status_code == 503
    assert resp.json()["checks"]["redis"].startswith("error")
    assert resp.json()["checks"]["database"] == "ok"


async def test_security_headers_present(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert (
        "unsafe-inline"
        not in r.headers["content-security-policy"].split("script-src")[1].split(";")[0]
    )


async def test_docs_page_is_served_without_a_cdn(client: httpx.AsyncClient) -> None:
    page = (await client.get("/api/v1/docs")).text
    assert "/api/v1/docs/static/swagger-ui-bundle.js" in page
    assert "cdn" not in page.lower()
    js = await client.get("/api/v1/docs/static/swagger-ui-bundle.js")
    assert js.status_code == 200 and len(js.content) > 100_000
    spec = (await client.get("/api/v1/openapi.json")).json()
    assert spec["openapi"].startswith("3.1")


async def test_unknown_path_uses_the_error_model(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/nope")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"
    assert r.json()["error"]["request_id"] == r.headers["x-request-id"]


async def test_incoming_request_id_is_kept(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz", headers={"X-Request-ID": "abc12345-req"})
    assert r.headers["x-request-id"] == "abc12345-req"
    r = await client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert r.headers["x-request-id"] != "bad id with spaces"


async def test_oversized_body_is_413(client: httpx.AsyncClient, settings: Settings) -> None:
    big = "x" * (settings.http.max_body_bytes + 10)
    r = await client.post(
        "/api/v1/auth/login", content=big, headers={"content-type": "application/json"}
    )
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "payload_too_large"


async def test_malformed_json_is_400(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/api/v1/auth/login",
        content=b'{"tenant": "a",',
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "malformed_body"


async def test_unknown_field_is_422_with_its_path(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/api/v1/auth/login",
        json={"tenant": "a", "email": "a@b.c", "password": "x", "role": "owner"},
    )
    assert r.status_code == 422
    locs = [d["loc"] for d in r.json()["error"]["details"]]
    assert ["body", "role"] in locs
