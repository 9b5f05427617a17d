"""The parts of callback verification (see callbacks.py, which re-exports the public ones):
the errors, what a check reads of a request, and the constant-time comparisons, timestamp
window and payload patterns the schemes share."""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import math
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from relaydesk.errors import AppError, Unauthorized
from relaydesk.integrations.spec_models.callback import SignatureSpec
from relaydesk.integrations.templating import TemplateError, render, to_text

#: placeholders of ``signature.payload``
PAYLOAD_PLACEHOLDERS = frozenset({"timestamp", "body", "id"})
#: hmac timestamps at or above this are milliseconds (10^11 s is the year 5138)
_MS_THRESHOLD = 100_000_000_000
_FORM = "application/x-www-form-urlencoded"


class InvalidSignature(Unauthorized):
    code = "invalid_signature"
    message = "The callback's signature is missing or does not match"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message)
        self.headers.pop("WWW-Authenticate", None)  # not a bearer-token endpoint


class TimestampOutOfTolerance(InvalidSignature):
    code = "timestamp_out_of_tolerance"
    message = "The callback's timestamp is outside the accepted window (replayed or clock skew)"


class CallbackMisconfigured(AppError):
    """The spec or the instance config cannot verify anything: the receiver's fault (5xx), so
    the sender keeps retrying until an administrator fixes it."""

    status_code = 500
    code = "callback_misconfigured"
    message = "This callback endpoint is misconfigured; its administrator has to fix it"


@dataclass(frozen=True, slots=True)
class IncomingCallback:
    """What verification reads of a request. Header names are looked up in lower case
    (Starlette's and httpx's ``Headers`` accept that; a plain dict must use it)."""

    method: str
    path: str
    headers: Mapping[str, str]
    query_string: str
    body: bytes
    content_type: str = ""

    def header(self, name: str) -> str | None:
        value = self.headers.get(name.lower())
        return value.strip() if isinstance(value, str) else None

    def query(self) -> list[tuple[str, str]]:
        """The query parameters, in order (parsed only by the schemes that sign them)."""
        return parse_qsl(self.query_string, keep_blank_values=True)


@dataclass(frozen=True, slots=True)
class Verification:
    """What a successful check learnt: the signed timestamp (unix seconds) and, for Standard
    Webhooks, the verified ``webhook-id``."""

    timestamp: float | None = None
    message_id: str | None = None


# --- checks shared by the schemes ----------------------------------------------------------


def same(expected: str, given: str) -> bool:
    """Constant-time equality of two ASCII strings (non-ASCII input never matches)."""
    try:
        given_bytes = given.encode("ascii")
    except UnicodeEncodeError:
        return False
    return hmac.compare_digest(expected.encode("ascii"), given_bytes)


def b64_bytes(text: str) -> bytes | None:
    """Base64 (standard or URL-safe, padding optional) -> bytes, None if it is not base64."""
    cleaned = text.strip().replace("-", "+").replace("_", "/")
    cleaned += "=" * (-len(cleaned) % 4)
    try:
        return base64.b64decode(cleaned, validate=True)
    except (binascii.Error, ValueError):
        return None


def seconds(raw: str | None, unit: str = "auto") -> float:
    """A timestamp header value as unix seconds; :class:`TimestampOutOfTolerance` if unreadable."""
    if raw is None or raw == "":
        raise InvalidSignature("The callback has no timestamp")
    try:
        value = float(raw)
    except ValueError:
        message = f"The callback's timestamp {raw[:40]!r} is not a number"
        raise TimestampOutOfTolerance(message) from None
    if not math.isfinite(value):
        raise TimestampOutOfTolerance("The callback's timestamp is not a number")
    if unit == "ms" or (unit == "auto" and abs(value) >= _MS_THRESHOLD):
        value /= 1000
    return value


def check_window(timestamp: float, tolerance: int, now: float) -> None:
    skew = now - timestamp
    if abs(skew) > tolerance:
        when = "old" if skew > 0 else "in the future"
        raise TimestampOutOfTolerance(
            f"{TimestampOutOfTolerance.message}: {abs(skew):.0f} s {when}, tolerance {tolerance} s"
        )


def parse_pattern(pattern: str) -> list[tuple[str, str | None]]:
    """``str.format`` syntax, bare names only: ``[(literal, name | None), ...]``."""
    parts: list[tuple[str, str | None]] = []
    try:
        parsed = list(string.Formatter().parse(pattern))
    except ValueError as exc:
        raise ValueError(f"payload {pattern!r} is not a valid pattern: {exc}") from None
    for literal, name, spec, conversion in parsed:
        if name is not None and (name not in PAYLOAD_PLACEHOLDERS or spec or conversion):
            allowed = ", ".join("{" + n + "}" for n in sorted(PAYLOAD_PLACEHOLDERS))
            raise ValueError(f"payload has unknown placeholder {{{name}}}; allowed: {allowed}")
        parts.append((literal, name))
    return parts


def payload_problems(signature: SignatureSpec) -> list[str]:
    """Problems of ``signature.payload`` (for the spec's cross-checks); empty when fine."""
    try:
        parse_pattern(signature.payload)
    except ValueError as exc:
        return [str(exc)]
    return []


def secret_text(template: str | None, config: Mapping[str, Any], what: str) -> str | None:
    if template is None:
        return None
    try:
        value = render(template, {"config": dict(config)})
    except TemplateError as exc:
        raise CallbackMisconfigured(f"callback {what}: {exc}") from None
    text = to_text(value)
    return text or None


def any_same(expected: str, candidates: Sequence[str]) -> bool:
    matched = False
    for candidate in candidates:  # no early exit: every candidate costs the same
        matched |= same(expected, candidate)
    return matched


def same_text(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))


def text_of(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def joined_query(query: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """Query parameters as signed: a repeated parameter's values joined by commas."""
    joined: dict[str, list[str]] = {}
    for key, value in query:
        joined.setdefault(key, []).append(value)
    return {key: ",".join(values) for key, values in joined.items()}


def body_fields(request: IncomingCallback) -> dict[str, Any]:
    try:
        text = request.body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidSignature("The signed body is not UTF-8") from None
    if not text.strip():
        return {}
    if request.content_type.lower().startswith(_FORM):
        return dict(parse_qsl(text, keep_blank_values=True))
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise InvalidSignature("A body-signed callback must be a JSON object or a form")
    return data
