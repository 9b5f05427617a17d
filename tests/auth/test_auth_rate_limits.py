"""Rate limits per client IP and per API key: 429 with Retry-After and the error model."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from auth_helpers import ME, client_from, make_key
from conftest import Org
from fastapi import FastAPI

from relaydesk.config import HttpSettings, SecuritySettings, Settings
from relaydesk.kit.db import Database

IP_LIMIT = 5
KEY_LIMIT = 3


def _settings(tmp_path: Path, **http: int) -> Settings:
    return Settings(
        environment="test", data_dir=tmp_path / "var",
        security=SecuritySettings(secret_key="test-secret-" + "x" * 40),  # type: ignore[arg-type]
        http=HttpSettings(**http),  # type: ignore[arg-type]
    )


def _assert_limited(r: httpx.Response) -> None:
    assert r.status_code == 429
    assert 1 <= int(r.headers["retry-after"]) <= 60
    error = r.json()["error"]
    assert error["code"] == "rate_limited"
    assert error["message"]
    assert error["details"] == {"retry_after": int(r.headers["retry-after"])}
    assert error["request_id"] == r.headers["x-request-id"]


class TestPerIp:
    @pytest.fixture
    def settings(self, tmp_path: Path) -> Settings:
        return _settings(tmp_path, rate_limit_ip_per_minute=IP_LIMIT)

    async def test_sixth_request_is_refused(self, client: httpx.AsyncClient, app: FastAPI) -> None:
        for _ in range(IP_LIMIT):
            assert (await client.get(ME)).status_code == 401
        _assert_limited(await client.get(ME))
        # even a sign-in is refused before it is looked at
        _assert_limited(await client.post("/api/v1/auth/login", json={}))
        async with client_from(app, "192.0.2.7") as elsewhere:
            assert (await elsewhere.get(ME)).status_code == 401

    async def test_health_is_not_limited(self, client: httpx.AsyncClient) -> None:
        for _ in range(IP_LIMIT + 3):
            assert (await client.get("/healthz")).status_code == 200


class TestPerApiKey:
    @pytest.fixture
    def settings(self, tmp_path: Path) -> Settings:
        return _settings(
            tmp_path, rate_limit_ip_per_minute=1000, rate_limit_api_key_per_minute=KEY_LIMIT
        )

    async def test_key_over_its_limit_is_refused(
        self, client: httpx.AsyncClient, db: Database, org_a: Org
    ) -> None:
        _, key = await make_key(db, org_a, ["audit.read"])
        _, other = await make_key(db, org_a, ["audit.read"])
        for _ in range(KEY_LIMIT):
            assert (await client.get(ME, headers={"X-API-Key": key})).status_code == 200
        _assert_limited(await client.get(ME, headers={"X-API-Key": key}))
        # the same key as a bearer credential shares the limit
        _assert_limited(await client.get(ME, headers={"Authorization": f"Bearer {key}"}))
        # another key of the same organisation is not affected
        assert (await client.get(ME, headers={"X-API-Key": other})).status_code == 200
