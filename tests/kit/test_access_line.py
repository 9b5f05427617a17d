"""``info_line``: the per-request line written without structlog's generic chain must be the
line structlog would have written (same fields, same redaction), and must step aside whenever
the logging set-up is not the standard one."""

from __future__ import annotations

import io
import json
import logging

import structlog

from relaydesk.kit.logging import configure_logging, info_line

FIELDS = {
    "method": "GET", "path": "/api/v1/customers/13812345678", "status": 200,
    "duration_ms": 1.25, "client_ip": "127.0.0.1", "authorization": "Bearer abcdefgh12345678",
}  # fmt: skip


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_the_fast_line_is_the_line_structlog_writes() -> None:
    stream = io.StringIO()
    configure_logging("INFO", json=True, stream=stream)
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id="r" * 16, tenant="acme", note="eyJa.b.c")
    try:
        info_line(logging.getLogger("relaydesk.http"), "request", **FIELDS)
        structlog.get_logger("relaydesk.http").info("request", **FIELDS)
    finally:
        structlog.contextvars.clear_contextvars()
    fast, slow = _lines(stream)
    assert fast.pop("timestamp") and slow.pop("timestamp")
    assert fast == slow
    assert fast["path"] == "/api/v1/customers/138****5678"  # personal data masked
    assert fast["authorization"] == "[REDACTED]" and fast["note"] == "[REDACTED]"
    assert fast["request_id"] == "r" * 16 and fast["logger"] == "relaydesk.http"


def test_levels_and_other_setups_are_respected() -> None:
    stream = io.StringIO()
    configure_logging("WARNING", json=True, stream=stream)
    info_line(logging.getLogger("relaydesk.http"), "request", status=200)
    assert stream.getvalue() == ""

    configure_logging("INFO", json=True, stream=stream)
    with structlog.testing.capture_logs() as captured:  # tests capturing logs see the event
        info_line(logging.getLogger("relaydesk.http"), "request", status=201)
    assert captured == [{"status": 201, "event": "request", "log_level": "info"}]

    console = io.StringIO()
    configure_logging("INFO", json=False, stream=console)  # console output: structlog renders
    info_line(logging.getLogger("relaydesk.http"), "request", status=202)
    assert "request" in console.getvalue() and "202" in console.getvalue()
    configure_logging("INFO", json=True)
