"""start_all/stop_all and ``python -m relaydesk.demo_systems``: all six come up and go away."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from pathlib import Path

import httpx
import pytest

from relaydesk.demo_systems import runner
from relaydesk.demo_systems.logistics import create_logistics_app


async def test_start_all_serves_the_eight_systems_then_stops(tmp_path: Path) -> None:
    urls = await runner.start_all(base_port=0, data_dir=tmp_path)
    try:
        assert [name for name, _ in urls] == [
            "orders", "logistics", "crm", "membership", "tickets", "finance", "sms",
            "callcenter"]
        by_name = dict(urls)
        assert by_name["membership"].startswith("sqlite+aiosqlite:///")
        assert (tmp_path / "demo-systems" / "members.db").exists()
        async with httpx.AsyncClient() as http:
            unsigned = await http.get(f"{by_name['orders']}/api/v1/orders")
            assert (unsigned.status_code, unsigned.json()["code"]) == (401, "SIGN_MISSING")
            track = await http.get(f"{by_name['logistics']}/track?waybill=SF0000000000000")
            assert track.status_code == 401
            token = await http.post(f"{by_name['crm']}/oauth/token",
                                    data={"grant_type": "client_credentials"},
                                    auth=("relaydesk-demo", "yq-crm-demo-secret-5d1c"))
            assert token.status_code == 200
            assert (await http.get(f"{by_name['tickets']}/tickets/x")).status_code == 401
            wsdl = await http.get(by_name["finance"])
            assert wsdl.status_code == 200 and "InvoiceService" in wsdl.text
        with pytest.raises(RuntimeError, match="already running"):
            await runner.start_all(base_port=0, data_dir=tmp_path)
        assert {s.name for s in runner.running()} == {
            "orders", "logistics", "crm", "tickets", "finance", "sms", "callcenter"}
    finally:
        await runner.stop_all()
    assert runner.running() == []
    async with httpx.AsyncClient() as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(f"{dict(urls)['orders']}/api/v1/orders")


async def test_a_port_in_use_fails_fast_and_starts_nothing(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        # orders would get base+0 = the busy port... pick base so that logistics collides
        with pytest.raises(OSError):
            await runner.start_all(base_port=taken - 1, data_dir=tmp_path)
    assert runner.running() == []


async def test_keep_alive_requests_are_not_delayed_by_nagle() -> None:
    """Accepted connections get TCP_NODELAY: 30 requests on one connection take well under
    the ~1.2 s that 40 ms delayed-ACK stalls would cost (the overhead benchmark relies on it)."""
    server = await runner.start_server(create_logistics_app(), "127.0.0.1", 0, "latency")
    try:
        async with httpx.AsyncClient(base_url=server.url) as http:
            await http.get("/track")
            started = time.perf_counter()
            for _ in range(30):
                await http.get("/track")
            elapsed = time.perf_counter() - started
    finally:
        await server.stop()
    assert elapsed < 0.6, f"30 keep-alive requests took {elapsed:.2f}s"


@pytest.mark.slow
async def test_module_entry_point_prints_urls_and_stops_on_sigint(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "relaydesk.demo_systems", "--base-port", "0",
        "--data-dir", str(tmp_path), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(60):
            while not lines or "Press Ctrl-C" not in lines[-1]:
                raw = await proc.stdout.readline()
                assert raw, "exited early:\n" + "".join(lines)
                lines.append(raw.decode())
        text = "".join(lines)
        orders = next(ln.split()[1] for ln in lines if ln.strip().startswith("orders"))
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"{orders}/api/v1/orders")).status_code == 401
        assert "yq-orders-demo-secret-7f3a9c" in text and "/finance?wsdl" in text
        proc.send_signal(signal.SIGINT)
        async with asyncio.timeout(30):
            assert await proc.wait() == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
