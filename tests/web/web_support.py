"""Helpers for the web UI tests: paths, a free port, a demo server in a subprocess."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from relaydesk.demo_systems.runner import free_base_port

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
FRONTEND = ROOT / "frontend"
DIST = ROOT / "relaydesk" / "web" / "dist"
SNAPSHOT = FRONTEND / "src" / "api" / "openapi.json"
CHROMIUM = Path(os.environ.get("RELAYDESK_CHROMIUM", "/usr/bin/chromium"))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    """The current environment without any RELAYDESK_* setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("RELAYDESK_")}
    env.update(extra)
    return env


@contextmanager
def demo_server(data_dir: Path, log_path: Path, timeout: float = 90.0) -> Iterator[str]:
    """``relaydesk demo`` on a free loopback port with its own data directory; yields the URL.

    The server is stopped (SIGTERM, then SIGKILL) when the block ends, whatever happened. Its
    log level is WARNING, or ``E2E_SERVER_LOG_LEVEL`` (DEBUG: every request and frame, to
    find what a failing browser spec waited for).
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = clean_env(
        PYTHONPATH=os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])),
        RELAYDESK_DATA_DIR=str(data_dir),
        RELAYDESK_LOG_JSON="false",
        RELAYDESK_LOG_LEVEL=os.environ.get("E2E_SERVER_LOG_LEVEL", "WARNING"),
    )
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            # wire_apps: the embedded-apps router until relaydesk/app.py includes it (no-op then)
            [sys.executable, "-c",
             "import wire_apps; wire_apps.install(); from relaydesk.cli import main; main()",
             "demo", "--host", "127.0.0.1", "--port", str(port),
             "--systems-base-port", str(free_base_port())],
            cwd=data_dir, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            _wait_ready(url, proc, log_path, timeout)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log_path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"relaydesk demo exited with {proc.returncode}:\n{tail(log_path)}"
            )
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"relaydesk demo not ready after {timeout:.0f} s:\n{tail(log_path)}")


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
