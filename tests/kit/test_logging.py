"""Tests for relaydesk.kit.logging: real output, captured from the configured handler."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import structlog
from pydantic import BaseModel

from relaydesk.kit.logging import REDACTED, configure_logging, get_logger, redact, scrub_text

PASSWORD = "hunter2-Sup3rS3cret"
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIn0."
    "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
RDK_KEY = "rdk_live_9f8e7d6c5b4a3210"
PHONE = "13812341234"
PHONE_MASKED = "138****1234"
ID_NO = "110101199003077777"
ID_MASKED = "110***********7777"

SECRETS = (PASSWORD, JWT, RDK_KEY, PHONE, ID_NO)

_ROUTED = ("uvicorn", "uvicorn.error", "uvicorn.access", "sqlalchemy.engine")


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Put the stdlib logging tree and structlog back the way the test found them."""
    root = logging.getLogger()
    saved_root = (list(root.handlers), root.level)
    saved_routed = {
        name: (list(lg.handlers), lg.propagate, lg.level)
        for name in _ROUTED
        for lg in [logging.getLogger(name)]
    }
    try:
        yield
    finally:
        structlog.contextvars.clear_contextvars()
        structlog.reset_defaults()
        root.handlers[:] = saved_root[0]
        root.setLevel(saved_root[1])
        for name, (handlers, propagate, level) in saved_routed.items():
            lg = logging.getLogger(name)
            lg.handlers[:] = handlers
            lg.propagate = propagate
            lg.setLevel(level)


def _lines(buf: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buf.getvalue().splitlines() if line.strip()]


def _assert_clean(output: str) -> None:
    for secret in SECRETS:
        assert secret not in output, f"{secret!r} leaked into the log output"


def test_structlog_event_is_redacted_and_masked() -> None:
    buf = io.StringIO()
    configure_logging("INFO", json=True, stream=buf)
    log = get_logger("relaydesk.test")

    log.info(
        f"customer {PHONE} authenticated with {RDK_KEY}",
        password=PASSWORD,
        headers={"Authorization": f"Bearer {JWT}", "X-Request-Id": "abc"},
        note=f"id number is {ID_NO}, token {JWT}",
        id_numbers=[ID_NO],
    )

    output = buf.getvalue()
    _assert_clean(output)
    [line] = _lines(buf)
    assert line["event"] == f"customer {PHONE_MASKED} authenticated with {REDACTED}"
    assert line["password"] == REDACTED
    assert line["headers"] == {"Authorization": REDACTED, "X-Request-Id": "abc"}
    assert line["note"] == f"id number is {ID_MASKED}, token {REDACTED}"
    assert line["id_numbers"] == [ID_MASKED]
    assert line["level"] == "info"
    assert line["logger"] == "relaydesk.test"
    assert line["timestamp"].endswith("Z")


def test_stdlib_uvicorn_record_is_redacted_and_masked() -> None:
    buf = io.StringIO()
    configure_logging("INFO", json=True, stream=buf)

    logging.getLogger("uvicorn.error").warning(
        "login by %s (id %s) password=%s with Authorization: Bearer %s key %s",
        PHONE,
        ID_NO,
        PASSWORD,
        JWT,
        RDK_KEY,
        extra={"api_key": RDK_KEY, "client_phone": PHONE},
    )

    output = buf.getvalue()
    _assert_clean(output)
    [line] = _lines(buf)
    assert line["logger"] == "uvicorn.error"
    assert line["level"] == "warning"
    assert line["event"] == (
        f"login by {PHONE_MASKED} (id {ID_MASKED}) password={REDACTED} "
        f"with Authorization: Bearer {REDACTED} key {REDACTED}"
    )
    assert line["api_key"] == REDACTED
    assert line["client_phone"] == PHONE_MASKED


def test_uvicorn_own_handlers_are_replaced() -> None:
    private = io.StringIO()
    uvicorn_logger = logging.getLogger("uvicorn.error")
    uvicorn_logger.addHandler(logging.StreamHandler(private))
    uvicorn_logger.propagate = False

    buf = io.StringIO()
    configure_logging("INFO", json=True, stream=buf)
    uvicorn_logger.info("started on %s", PHONE)

    assert private.getvalue() == ""
    assert _lines(buf)[0]["event"] == f"started on {PHONE_MASKED}"


def test_contextvars_are_merged_and_masked() -> None:
    buf = io.StringIO()
    configure_logging("INFO", json=True, stream=buf)
    structlog.contextvars.bind_contextvars(request_id="req-1", caller=PHONE)

    get_logger("relaydesk.test").info("hello")
    logging.getLogger("sqlalchemy.engine").warning("slow query")

    first, second = _lines(buf)
    for line in (first, second):
        assert line["request_id"] == "req-1"
        assert line["caller"] == PHONE_MASKED
    _assert_clean(buf.getvalue())


def test_exception_tracebacks_are_scrubbed() -> None:
    buf = io.StringIO()
    configure_logging("INFO", json=True, stream=buf)
    try:
        raise ValueError(f"bad customer {PHONE} token {JWT}")
    except ValueError:
        get_logger("relaydesk.test").exception("failed")
        logging.getLogger("uvicorn.error").exception("failed too")

    _assert_clean(buf.getvalue())
    lines = _lines(buf)
    assert len(lines) == 2
    for line in lines:
        assert "ValueError" in line["exception"]
        assert PHONE_MASKED in line["exception"]


def test_console_renderer_is_redacted() -> None:
    buf = io.StringIO()
    configure_logging("DEBUG", json=False, stream=buf)

    get_logger("relaydesk.test").info(f"call {PHONE}", password=PASSWORD, api_key=RDK_KEY)
    logging.getLogger("uvicorn.error").info("id %s key %s", ID_NO, RDK_KEY)

    output = buf.getvalue()
    _assert_clean(output)
    assert PHONE_MASKED in output
    assert ID_MASKED in output
    assert f"password={REDACTED}" in output
    assert "\x1b[" not in output  # no colours when the stream is not a terminal


def test_default_stream_is_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO")
    get_logger("relaydesk.test").info("sms sent", to=PHONE, secret=PASSWORD)
    logging.getLogger("uvicorn.error").error("token=%s id=%s", JWT, ID_NO)

    captured = capsys.readouterr()
    _assert_clean(captured.err)
    _assert_clean(captured.out)
    lines = [json.loads(line) for line in captured.err.splitlines()]
    assert lines[0]["to"] == PHONE_MASKED
    assert lines[0]["secret"] == REDACTED
    assert lines[1]["event"] == f"token={REDACTED} id={ID_MASKED}"


def test_configure_is_idempotent_and_honours_level() -> None:
    first = io.StringIO()
    second = io.StringIO()
    configure_logging("INFO", json=True, stream=first)
    configure_logging("INFO", json=True, stream=first)
    configure_logging("WARNING", json=True, stream=second)

    log = get_logger("relaydesk.test")
    log.info("dropped")
    log.warning("kept")
    logging.getLogger("uvicorn.error").info("dropped too")

    assert first.getvalue() == ""
    assert [line["event"] for line in _lines(second)] == ["kept"]
    ours = [h for h in logging.getLogger().handlers if type(h).__name__ == "_RelaydeskHandler"]
    assert len(ours) == 1


def test_unknown_level_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown log level"):
        configure_logging("LOUD")


# --- the redact processor on its own ------------------------------------------------------


class _Customer(BaseModel):
    name: str
    phone: str
    password: str


@dataclass
class _Credentials:
    user: str
    api_key: str


def test_redact_keys_recursively() -> None:
    event = {
        "event": f"hello {PHONE}",
        "Password": "x",
        "DB_PASSWORD": "x",
        "client_secret": "x",
        "access_token": "x",
        "refresh": "x",
        "Cookie": "x",
        "X-Api-Key": "x",
        "apikey": "x",
        "private_key": "x",
        "privateKey": "x",
        "signature": "x",
        "msgSignature": "x",
        "x_sign": "x",
        "assignee": "agent-7",
        "design": "blue",
        "nested": {"deeper": [{"token": "x", "ok": f"id {ID_NO}"}], "count": 3},
        "customer": _Customer(name="n", phone=PHONE, password=PASSWORD),
        "creds": _Credentials(user="u", api_key=RDK_KEY),
        "big_number": 13812341234,
        "small_number": 42,
        "flag": True,
    }
    out = redact(None, "info", event)
    for key in (
        "Password",
        "DB_PASSWORD",
        "client_secret",
        "access_token",
        "refresh",
        "Cookie",
        "X-Api-Key",
        "apikey",
        "private_key",
        "privateKey",
        "signature",
        "msgSignature",
        "x_sign",
    ):
        assert out[key] == REDACTED, key
    assert out["event"] == f"hello {PHONE_MASKED}"
    assert out["assignee"] == "agent-7"
    assert out["design"] == "blue"
    assert out["nested"] == {"deeper": [{"token": REDACTED, "ok": f"id {ID_MASKED}"}], "count": 3}
    assert out["customer"] == {"name": "n", "phone": PHONE_MASKED, "password": REDACTED}
    assert out["creds"] == {"user": "u", "api_key": REDACTED}
    assert out["big_number"] == PHONE_MASKED
    assert out["small_number"] == 42
    assert out["flag"] is True


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (f"Authorization: Bearer {JWT}", f"Authorization: Bearer {REDACTED}"),
        (f"raw jwt {JWT} end", f"raw jwt {REDACTED} end"),
        (f"key={RDK_KEY}", f"key={REDACTED}"),
        (f"using {RDK_KEY}.", f"using {REDACTED}."),
        ("GET /cb?access_token=abc123&page=2", f"GET /cb?access_token={REDACTED}&page=2"),
        ("postgresql://app:s3cr3t@db:5432/x", f"postgresql://app:{REDACTED}@db:5432/x"),
        ("Basic dXNlcjpwYXNzd29yZA==", f"Basic {REDACTED}"),
        ("basic authentication failed", "basic authentication failed"),
        ("https://example.com:8443/path", "https://example.com:8443/path"),
        ("rdk_short", "rdk_short"),
        ("/notify?sign=ABCDEF123&sign_type=MD5", f"/notify?sign={REDACTED}&sign_type={REDACTED}"),
        ("design=blue&assign=me", "design=blue&assign=me"),
    ],
)
def test_scrub_text_secrets(raw: str, expected: str) -> None:
    assert scrub_text(raw) == expected


def test_redact_survives_odd_values() -> None:
    loop: dict[str, Any] = {"phone": PHONE}
    loop["self"] = loop

    class Exploding:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    when = dt.datetime(2024, 5, 1, 10, 30, tzinfo=dt.UTC)
    out = redact(None, "info", {"loop": loop, "boom": Exploding(), "when": when, "raw": b"x"})
    assert out["loop"]["phone"] == PHONE_MASKED
    assert PHONE not in repr(out["loop"])
    assert out["boom"] == REDACTED
    assert out["when"] == "2024-05-01T10:30:00+00:00"
    assert out["raw"] == "x"
