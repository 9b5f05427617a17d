"""Passwords and tokens never leave in a response, and never reach the logs."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator

import httpx
import pytest
from auth_helpers import LOGIN, ME, try_login
from conftest import PASSWORD, Org

from relaydesk.kit.logging import configure_logging

WRONG = "hunter2-but-longer-wrong"


def _leaks(response: httpx.Response, secret: str) -> bool:
    return secret in response.text or any(secret in v for v in response.headers.values())


async def test_no_login_response_echoes_the_password(
    client: httpx.AsyncClient, org_a: Org
) -> None:
    email = org_a.email("agent")
    responses = [
        await try_login(client, org_a, "agent"),                     # success
        await try_login(client, org_a, "agent", password=WRONG),     # failure
        await client.post(LOGIN, json={"tenant": "acme", "email": email, "password": WRONG,
                                       "remember": True}),          # unknown field
        await client.post(LOGIN, json={"tenant": "acme", "email": email,
                                       "password": WRONG * 20}),   # too long
        await client.post(LOGIN, json={"tenant": "", "email": email, "password": WRONG}),
        await client.post(LOGIN, content=f'{{"tenant": "acme", "password": "{WRONG}", ',
                          headers={"content-type": "application/json"}),  # broken JSON
        await client.post(LOGIN, json=[WRONG]),
    ]
    assert [r.status_code for r in responses] == [200, 401, 422, 422, 422, 400, 422]
    for r in responses:
        assert not _leaks(r, PASSWORD), r.text
        assert not _leaks(r, WRONG), r.text


@pytest.fixture
def restore_logging() -> Iterator[None]:
    yield
    configure_logging("INFO", json=True, stream=sys.__stderr__)


async def test_logs_never_contain_password_or_tokens(
    client: httpx.AsyncClient, org_a: Org, capsys: pytest.CaptureFixture[str],
    restore_logging: None,
) -> None:
    # the application's JSON lines, at DEBUG, to the stderr captured now
    configure_logging("DEBUG", json=True)
    capsys.readouterr()
    ok = await try_login(client, org_a, "agent")
    tokens = ok.json()
    await try_login(client, org_a, "agent", password=WRONG)
    access = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert (await client.get(ME, headers=access)).status_code == 200
    refreshed = await client.post("/api/v1/auth/refresh",
                                  json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200
    # a bad token and a garbage header are logged as failures, not echoed
    await client.get(ME, headers={"Authorization": f"Bearer {tokens['access_token']}x"})
    await client.post("/api/v1/auth/logout", headers=access)

    out, err = capsys.readouterr()
    logs = out + err
    lines = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    assert any(line.get("path") == LOGIN and line.get("status") == 401 for line in lines)
    assert any(line.get("path") == ME for line in lines)
    secrets = {
        "password": PASSWORD, "wrong password": WRONG,
        "access token": tokens["access_token"],
        "access token signature": tokens["access_token"].rsplit(".", 1)[1],
        "refresh token": tokens["refresh_token"],
        "new access token": refreshed.json()["access_token"],
        "new refresh token": refreshed.json()["refresh_token"],
    }
    for name, secret in secrets.items():
        assert secret not in logs, f"the {name} was logged"
