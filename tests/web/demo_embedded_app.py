"""A tiny "existing system" page for the embedded-apps browser test, served on loopback.

It does what a real app should: it verifies Relaydesk's context token with the published JWKS
(PyJWT, ES256; issuer = the Relaydesk URL, audience = its own app id) — on the server for the
token in its URL, and again for each token the workbench posts (its script accepts messages
only from the Relaydesk origin and the parent window, and asks for a refresh with a button).
Its audience is set after the app is registered (``POST /config``), as an admin would.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import jwt
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

SCRIPT = """
const RELAYDESK = document.body.dataset.relaydesk
let count = 0
window.addEventListener('message', async (event) => {
  if (event.origin !== RELAYDESK || event.source !== window.parent) return
  if (!event.data || event.data.type !== 'relaydesk:context') return
  const response = await fetch('/verify', {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ token: event.data.token }),
  })
  const out = await response.json()
  count += 1
  document.getElementById('pm-customer').textContent = out.customer_id || ('error: ' + out.error)
  document.getElementById('pm-jti').textContent = out.jti || ''
  document.getElementById('pm-count').textContent = String(count)
})
document.getElementById('refresh').addEventListener('click', () => {
  window.parent.postMessage({ type: 'relaydesk:refresh' }, RELAYDESK)
})
window.parent.postMessage({ type: 'relaydesk:ready' }, RELAYDESK)
"""


def make_app(relaydesk_url: str) -> Starlette:
    state: dict[str, Any] = {"audience": None}
    jwks = jwt.PyJWKClient(f"{relaydesk_url}/api/v1/apps/jwks.json", cache_keys=True)

    def verify(token: str) -> dict[str, Any]:
        try:
            key = jwks.get_signing_key_from_jwt(token)
            claims = jwt.decode(
                token, key.key, algorithms=["ES256"], audience=state["audience"],
                issuer=relaydesk_url, options={"require": ["exp", "iat", "aud", "iss"]},
            )  # fmt: skip
        except jwt.PyJWTError as exc:
            return {"error": f"{type(exc).__name__}: {exc}"}
        return dict(claims)

    async def page(request: Request) -> Response:
        token = request.query_params.get("rd_token", "")
        claims = verify(token) if token else {"error": "no token in the URL"}
        shown = html.escape(str(claims.get("customer_id") or "error: " + str(claims.get("error"))))
        body = f"""<!doctype html><html><head><meta charset="utf-8"><title>Order console</title>
<style>body{{font:14px sans-serif;margin:12px}} dt{{color:#666}}</style></head>
<body data-relaydesk="{html.escape(relaydesk_url)}"><h3>Order console (demo app)</h3>
<dl><dt>customer from the URL token (verified)</dt><dd id="url-customer">{shown}</dd>
<dt>customer from postMessage (verified)</dt><dd id="pm-customer">waiting</dd>
<dt>tokens received</dt><dd id="pm-count">0</dd><dt>token id</dt><dd id="pm-jti"></dd></dl>
<button id="refresh" type="button">Ask for a new token</button>
<script src="/app.js"></script></body></html>"""
        return HTMLResponse(body)

    async def script(request: Request) -> Response:
        return Response(SCRIPT, media_type="text/javascript")

    async def check(request: Request) -> Response:
        return JSONResponse(verify(str((await request.json()).get("token", ""))))

    async def config(request: Request) -> Response:
        state["audience"] = (await request.json())["audience"]
        return JSONResponse({"audience": state["audience"]})

    return Starlette(routes=[
        Route("/", page), Route("/app.js", script), Route("/verify", check, methods=["POST"]),
        Route("/config", config, methods=["POST"]),
    ])  # fmt: skip


@contextmanager
def serve(relaydesk_url: str, port: int) -> Iterator[str]:
    server = uvicorn.Server(
        uvicorn.Config(make_app(relaydesk_url), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the demo app did not start")
            threading.Event().wait(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
