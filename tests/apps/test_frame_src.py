"""The workbench page's CSP allows frames from the enabled apps' origins, and only those."""

from __future__ import annotations

import re

import httpx
from apps_support import API, agents_read_apps, app, create  # noqa: F401
from conftest import Org, login
from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from relaydesk.apps.csp import with_frame_src


def _frame_src(response: httpx.Response) -> list[str]:
    match = re.search(r"frame-src ([^;]*)", response.headers["content-security-policy"])
    assert match is not None, response.headers["content-security-policy"]
    return match.group(1).split()


def test_with_frame_src_replaces_the_directive() -> None:
    csp = "default-src 'self'; frame-src 'none'; script-src 'self'"
    out = with_frame_src(csp, ["https://b.example", "https://a.example"])
    assert out == ("default-src 'self'; script-src 'self'; "
                   "frame-src 'self' https://a.example https://b.example")  # fmt: skip


async def test_page_csp_follows_the_registered_apps(
    client: httpx.AsyncClient,
    app: FastAPI,  # noqa: F811
    org_a: Org,
) -> None:
    @app.get("/probe-page", include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse("<!doctype html><title>probe</title>")

    before = await client.get("/probe-page")
    assert _frame_src(before) == ["'self'"]
    assert "script-src 'self'" in before.headers["content-security-policy"]
    admin = await login(client, org_a, "admin")
    made = await create(client, admin)
    await create(client, admin, name="off", url="https://off.example.org/", origins=[],
                 enabled=False)  # fmt: skip
    after = await client.get("/probe-page")
    assert _frame_src(after) == ["'self'", "https://erp.example.com", "https://sso.example.com"]
    api = await client.get(f"{API}/{made['id']}", headers=admin)
    assert "frame-src" not in api.headers["content-security-policy"], "JSON is not touched"

    await client.patch(f"{API}/{made['id']}", headers=admin, json={"enabled": False})
    assert _frame_src(await client.get("/probe-page")) == ["'self'"]
