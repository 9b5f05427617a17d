"""Structured logging: structlog for application code, stdlib logging routed through it.

Every line, whether it comes from ``structlog`` or from a stdlib logger (uvicorn,
SQLAlchemy, httpx, ...), goes through the same handler on the root logger and is rendered
by one :class:`structlog.stdlib.ProcessorFormatter`: JSON (one object per line) or the
console renderer. Before rendering every event passes through :func:`redact`, which
removes credentials and masks personal data.

When running uvicorn programmatically pass ``log_config=None`` so that uvicorn does not
install its own handlers after :func:`configure_logging` has run.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import functools
import json as _json
import logging
import re
import reprlib
import sys
import uuid
from collections.abc import Mapping
from typing import Any, Final, TextIO

import structlog
from pydantic import BaseModel
from structlog.typing import EventDict, Processor, WrappedLogger

from relaydesk.kit.masking import detect_and_mask_text

__all__ = [
    "REDACTED",
    "configure_logging",
    "get_logger",
    "info_line",
    "redact",
    "scrub_text",
]

REDACTED: Final = "[REDACTED]"

# Key fragments whose values are always replaced, matched case-insensitively against the
# key with "-" normalised to "_" (so "X-Api-Key" matches "api_key").
_SENSITIVE_KEY_PARTS: Final = (
    "password",
    "passwd",
    "secret",
    "token",
    "authorization",
    "api_key",
    "apikey",
    "cookie",
    "private_key",
    "privatekey",
    "refresh",
    "credential",
)
# "sign" only counts at the start of a word ("sign", "x_sign", "signature", "msgSignature",
# "SIGN_TYPE"), so that "assignee" or "design" are not redacted.
_SIGN_KEY: Final = re.compile(r"(?:^|[^A-Za-z])(?:sign|SIGN)|Sign")

# Secrets recognised inside any string value.
_SECRET_TEXT: Final = re.compile(
    # JWT / JWS: three base64url parts; the header always starts with '{"', i.e. "eyJ".
    r"(?P<jwt>eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*)"
    # Relaydesk API keys.
    r"|(?P<rdk>rdk_[A-Za-z0-9_\-]{8,})"
    # "Bearer <credential>", and "Basic <base64>" (only when it looks like base64, so that
    # prose such as "basic authentication failed" is left alone).
    r"|(?P<scheme>(?i:bearer)\s+)[A-Za-z0-9._~+/\-]{8,}=*"
    r"|(?P<basic>Basic\s+)(?=[A-Za-z+/]*[0-9+/=])[A-Za-z0-9+/]{8,}={0,2}"
    # key=value pairs (query strings, form bodies, DSN options) with a sensitive key.
    # "sign" only as a word of its own ("sign=", "x_sign="), not inside "design=".
    r"|(?P<kv>\b(?:[A-Za-z0-9_\-]{0,40}"
    r"(?i:password|passwd|secret|token|api_?key|private_?key|signature)"
    r"|(?:[A-Za-z0-9_\-]{0,40}[_\-])?(?i:sign))"
    r"[A-Za-z0-9_\-]{0,40}=)[^\s&;,\"']+"
    # Passwords embedded in URLs: scheme://user:password@host
    r"|(?P<url>://[^:/@\s]+:)[^@/\s]+(?=@)"
)
# Cheap substring checks: the regex only runs when one of them is present.
_SECRET_TRIGGERS: Final = ("eyJ", "rdk_", "=", "://", "earer", "EARER", "Basic")
_KEEP_PREFIX_GROUPS: Final = frozenset({"scheme", "basic", "kv", "url"})

# Keys added by the logging machinery itself; their values are never personal data.
_SKIP_KEYS: Final = frozenset({"timestamp", "level", "logger", "_record", "_from_structlog"})

_MIN_SCANNED_INT: Final = 10**10  # ints below 11 digits cannot hold a phone/ID/card number


def _secret_replacement(m: re.Match[str]) -> str:
    kind = m.lastgroup
    if kind is not None and kind in _KEEP_PREFIX_GROUPS:
        return f"{m.group(kind)}{REDACTED}"
    return REDACTED


def scrub_text(text: str) -> str:
    """Redact secrets (JWTs, ``rdk_`` API keys, bearer credentials, ``password=...``
    pairs, URL passwords) and mask personal data found anywhere in *text*."""
    if not text:
        return text
    if len(text) <= _CACHED_LENGTH:
        # the same short values come back on every line (paths, ids, tenants, levels)
        return _scrub_short(text)
    return _scrub(text)


def _scrub(text: str) -> str:
    for trigger in _SECRET_TRIGGERS:
        if trigger in text:
            text = _SECRET_TEXT.sub(_secret_replacement, text)
            break
    return detect_and_mask_text(text)


#: strings up to this length are scrubbed once and remembered (a pure function of the text)
_CACHED_LENGTH: Final = 160
_scrub_short = functools.lru_cache(maxsize=8192)(_scrub)


@functools.lru_cache(maxsize=4096)
def _is_sensitive_key(key: str) -> bool:
    normalized = key.lower().replace("-", "_")
    if any(part in normalized for part in _SENSITIVE_KEY_PARTS):
        return True
    return _SIGN_KEY.search(key) is not None


_MAX_DEPTH: Final = 16


def _redact_value(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        return scrub_text(value)
    if value is None or isinstance(value, bool | float):
        return value
    if depth >= _MAX_DEPTH:  # also guards against self-referencing containers
        return scrub_text(reprlib.repr(value))
    if isinstance(value, int):
        if abs(value) < _MIN_SCANNED_INT:
            return value
        text = str(value)
        scrubbed = detect_and_mask_text(text)
        return value if scrubbed == text else scrubbed
    if isinstance(value, Mapping):
        return {
            k: REDACTED
            if isinstance(k, str) and _is_sensitive_key(k)
            else _redact_value(v, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [_redact_value(v, depth + 1) for v in value]
    if isinstance(value, BaseModel):
        return _redact_value(value.model_dump(mode="json"), depth + 1)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _redact_value(dataclasses.asdict(value), depth + 1)
    if isinstance(value, enum.Enum):
        return _redact_value(value.value, depth + 1)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID | decimal.Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray):
        return scrub_text(value.decode("utf-8", "replace"))
    # Unknown objects would be rendered with repr() by the renderer; scrub that text.
    return scrub_text(repr(value))


def redact(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """structlog processor: remove credentials and mask personal data in *event_dict*.

    Values of keys whose name contains a sensitive fragment (``password``, ``secret``,
    ``token``, ``authorization``, ``api_key``/``apikey``, ``cookie``, ``sign``,
    ``private_key``, ``refresh``, ...) become ``"[REDACTED]"``, recursively through nested
    mappings and sequences. Every other string, including the ``event`` message and
    rendered exceptions, goes through :func:`scrub_text`. Pydantic models and dataclasses
    are dumped to dicts first so their fields are redacted by name too. A value that cannot
    be inspected (its serialisation raises) is replaced by ``"[REDACTED]"``.
    """
    for key, value in event_dict.items():
        if key in _SKIP_KEYS:
            continue
        if _is_sensitive_key(key):
            event_dict[key] = REDACTED
            continue
        try:
            event_dict[key] = _redact_value(value)
        except Exception:  # logging must never break the caller; fail closed
            event_dict[key] = REDACTED
    return event_dict


class _RelaydeskHandler(logging.StreamHandler[TextIO]):
    """The root handler installed by :func:`configure_logging` (marker type)."""


# stdlib loggers that libraries configure with their own handlers; they are reset so that
# their records propagate to the root handler.
_ROUTED_LOGGERS: Final = (
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "uvicorn.asgi",
    "sqlalchemy",
    "sqlalchemy.engine",
    "alembic",
    "httpx",
)


def _parse_level(level: str | int) -> int:
    if isinstance(level, int):
        return level
    mapping = logging.getLevelNamesMapping()
    try:
        return mapping[level.upper()]
    except KeyError:
        raise ValueError(f"unknown log level: {level!r}") from None


def configure_logging(
    level: str = "INFO",
    json: bool = True,
    *,
    stream: TextIO | None = None,
) -> None:
    """Configure structlog and stdlib logging; safe to call repeatedly.

    *level* applies to the root logger. With *json* every line is a JSON object (UTF-8,
    non-ASCII kept as is), otherwise a human-readable console line. *stream* defaults to
    ``sys.stderr`` (looked up at call time). Calling again replaces the handler installed by
    the previous call instead of adding a second one.
    """
    numeric_level = _parse_level(level)

    timestamper = structlog.processors.TimeStamper(fmt="iso", utc=True)
    # Shared by structlog events and foreign (stdlib) records.
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        timestamper,
    ]
    # Redaction runs before the event leaves structlog, so that any other handler attached
    # to the stdlib logging tree (e.g. an error reporter) only ever sees redacted data.
    structlog_chain: list[Processor] = [
        structlog.stdlib.filter_by_level,
        *shared,
        structlog.stdlib.PositionalArgumentsFormatter(),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        redact,
        structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
    ]
    foreign_chain: list[Processor] = [
        *shared,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        redact,
    ]

    out = stream if stream is not None else sys.stderr
    renderer: Processor
    if json:
        renderer = structlog.processors.JSONRenderer(ensure_ascii=False)
    else:
        is_tty = bool(getattr(out, "isatty", lambda: False)())
        renderer = structlog.dev.ConsoleRenderer(colors=is_tty)

    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=foreign_chain,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = _RelaydeskHandler(out)
    handler.setFormatter(formatter)

    root = logging.getLogger()
    for existing in list(root.handlers):
        if isinstance(existing, _RelaydeskHandler):
            root.removeHandler(existing)
            existing.close()
    root.addHandler(handler)
    root.setLevel(numeric_level)

    for name in _ROUTED_LOGGERS:
        routed = logging.getLogger(name)
        for existing in list(routed.handlers):
            routed.removeHandler(existing)
        routed.propagate = True
        if name.startswith("uvicorn"):
            routed.setLevel(logging.NOTSET)  # uvicorn.Config(log_level=...) set it per logger

    _FAST.update(chain=tuple(structlog_chain), handler=handler if json else None)
    structlog.configure(
        processors=structlog_chain,
        context_class=dict,
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Not cached: keeps reconfiguration and structlog.testing.capture_logs() working
        # for loggers created at import time.
        cache_logger_on_first_use=False,
    )


def get_logger(name: str | None = None, **initial_values: Any) -> structlog.stdlib.BoundLogger:
    """A structlog logger bound to the stdlib logger *name* (usually ``__name__``)."""
    return structlog.stdlib.get_logger(name, **initial_values)


# --- one INFO line without the generic machinery (the per-request access line) ----------

#: what configure_logging installed: the fast path only runs while nothing else is in place
_FAST: dict[str, Any] = {"chain": None, "handler": None}


def info_line(logger: logging.Logger, event: str, **fields: Any) -> None:
    """Log ``event`` at INFO through *logger*, exactly as ``structlog`` would render it with
    :func:`configure_logging` (context variables, logger name, level, timestamp, redaction),
    at a fraction of the cost: for the line written on every request.

    Falls back to structlog whenever the set-up is not the one :func:`configure_logging`
    made in JSON mode (another handler, a test capturing logs, console output), so that what
    is logged never depends on which path wrote it.
    """
    if not logger.isEnabledFor(logging.INFO):
        return
    handler: _RelaydeskHandler | None = _FAST["handler"]
    root = logging.root
    if (
        handler is None
        or tuple(structlog.get_config()["processors"]) != _FAST["chain"]
        or logger.handlers
        or not logger.propagate
        or len(root.handlers) != 1
        or root.handlers[0] is not handler
        or handler.level > logging.INFO
        or handler.filters
    ):
        structlog.stdlib.get_logger(logger.name).info(event, **fields)
        return
    event_dict: dict[str, Any] = {**structlog.contextvars.get_contextvars(), **fields}
    event_dict["event"] = event
    event_dict["logger"] = logger.name
    event_dict["level"] = "info"
    event_dict["timestamp"] = dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")
    redact(None, "info", event_dict)
    try:
        line = _json.dumps(event_dict, ensure_ascii=False, default=repr)
    except (TypeError, ValueError):
        structlog.stdlib.get_logger(logger.name).info(event, **fields)
        return
    handler.acquire()
    try:
        stream = handler.stream
        stream.write(line + handler.terminator)
        stream.flush()
    except Exception:  # as logging does: never break the caller
        handler.handleError(logging.makeLogRecord({"msg": event}))
    finally:
        handler.release()
