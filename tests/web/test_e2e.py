"""End-to-end: the built web UI in the machine's Chromium against a real demo server.

The harness (this file) starts ``relaydesk demo`` on a free loopback port with a temporary
data directory, checks what the server sends to a browser (CSP, no inline script), and runs
the browser suite (frontend/e2e/*.spec.ts: Vitest driving Chromium through playwright-core)
with RELAYDESK_E2E_URL pointing at it. The server is stopped afterwards.

Prerequisites (``make test`` provides them): the built UI (``make web``), frontend/node_modules,
and Debian's Chromium at /usr/bin/chromium (``make browser-deps``). Without Chromium the tests skip,
saying so; a missing build or node_modules is a failure, not a skip.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from demo_embedded_app import serve as serve_demo_app
from web_support import CHROMIUM, DIST, FRONTEND, clean_env, demo_server, free_port, tail

# read at import: the suite's autouse fixture removes RELAYDESK_* variables before each test
SCREENSHOTS = os.environ.get("RELAYDESK_SCREENSHOTS", "")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=f"{CHROMIUM} is missing: run `make browser-deps` (apt-get install -y chromium)",
    ),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not (DIST / "index.html").is_file():
        pytest.fail("the web UI is not built: run `make web` first")
    if not (FRONTEND / "node_modules" / ".bin" / "vitest").exists():
        pytest.fail("frontend/node_modules is missing: run `make web` first")
    data = tmp_path_factory.mktemp("e2e-data")
    with demo_server(data, data / "server.log") as url:
        yield url


class _Scripts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, str | None]] = []
        self.inline: list[str] = []
        self.handlers: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handlers += [f"{tag}.{k}" for k, _ in attrs if k.lower().startswith("on")]
        if tag == "script":
            self.scripts.append(dict(attrs))
            self._in_script = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append(data.strip()[:80])


def test_served_page_has_no_inline_script_and_a_strict_csp(server: str) -> None:
    for path in ("/", "/customers", "/admin/api-keys"):  # SPA routes get the same page
        response = httpx.get(server + path)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        csp = response.headers["content-security-policy"]
        script_src = re.search(r"script-src ([^;]*)", csp)
        assert script_src is not None and script_src.group(1).strip() == "'self'"
        page = _Scripts()
        page.feed(response.text)
        assert page.scripts, "the page loads its module"
        assert all(s.get("src", "").startswith("/assets/") for s in page.scripts), page.scripts
        assert page.inline == [], f"inline script would be blocked by the CSP: {page.inline}"
        assert page.handlers == [], f"inline event handlers: {page.handlers}"
    module = _Scripts()
    module.feed(httpx.get(server + "/").text)
    asset = httpx.get(server + str(module.scripts[0]["src"]))
    assert asset.status_code == 200
    assert "javascript" in asset.headers["content-type"]


def test_api_paths_are_not_swallowed_by_the_spa(server: str) -> None:
    response = httpx.get(server + "/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.fixture(scope="module")
def demo_app(server: str) -> Iterator[str]:
    """An "existing system" page on another loopback port (another origin) that verifies
    context tokens with Relaydesk's JWKS (e2e/apps.spec.ts embeds it)."""
    with serve_demo_app(server, free_port()) as url:
        yield url


def test_browser_suite(server: str, demo_app: str, tmp_path: Path) -> None:
    vitest = FRONTEND / "node_modules" / ".bin" / "vitest"
    node = shutil.which("node")
    assert node, "node is not on PATH"
    env = clean_env(
        RELAYDESK_E2E_URL=server,
        RELAYDESK_E2E_APP_URL=demo_app,
        RELAYDESK_CHROMIUM=str(CHROMIUM),
        FORCE_COLOR="0",
        NO_COLOR="1",
    )
    if SCREENSHOTS:
        env["RELAYDESK_SCREENSHOTS"] = SCREENSHOTS
    log = tmp_path / "e2e.log"
    with log.open("wb") as out:
        done = subprocess.run(
            [str(vitest), "run", "-c", "vitest.e2e.config.ts", "--reporter=verbose"],
            cwd=FRONTEND, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=900,
            check=False,
        )
    assert done.returncode == 0, f"browser suite failed:\n{tail(log, 120)}"
