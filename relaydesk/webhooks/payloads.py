"""What a webhook carries: event filters, the masked payload and the JSON body.

Masking (the default): the catalogue's ``EventSpec.pii`` paths (``customer_phone``,
``items[].phone``, ``receiver.name``) are masked with the rule their field name implies
(phone, e-mail, address, ID card, bank card, name; anything else generically), and every
other string is scanned for personal data in free text (phones, ID numbers, cards, e-mails)
as a second line of defence, which also covers ``custom.*`` events that declare nothing.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

from relaydesk.events.catalogue import EVENT_NAME, UnknownEventType, event_spec
from relaydesk.kit.masking import PiiKind, detect_and_mask_text, mask

__all__ = [
    "FAMILY",
    "body_bytes",
    "kind_of",
    "mask_payload",
    "matches",
    "pii_paths",
]

#: ``order.*``: a family of events (any dotted prefix)
FAMILY = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*\.\*$")

_KINDS: tuple[tuple[tuple[str, ...], PiiKind], ...] = (
    (("email", "mail"), PiiKind.EMAIL),
    (("id_card", "idcard", "id_number", "id_no", "identity"), PiiKind.ID_CARD),
    (("bank", "card"), PiiKind.BANK_CARD),
    (("phone", "mobile", "tel"), PiiKind.PHONE),
    (("address", "addr"), PiiKind.ADDRESS),
    (("name",), PiiKind.NAME),
)


def matches(filters: Iterable[str], event_type: str) -> bool:
    """Whether an endpoint's filters select ``event_type`` (``*``, exact, or ``family.*``)."""
    for pattern in filters:
        if pattern == "*" or pattern == event_type:
            return True
        if pattern.endswith(".*") and event_type.startswith(pattern[:-1]):
            return True
    return False


def kind_of(path: str) -> PiiKind:
    """The masking rule a field's name implies (its last path segment)."""
    leaf = path.replace("[]", "").rsplit(".", 1)[-1].lower()
    for needles, kind in _KINDS:
        if any(needle in leaf for needle in needles):
            return kind
    return PiiKind.GENERIC


def pii_paths(event_type: str) -> tuple[str, ...]:
    """The personal-data paths the catalogue declares for ``event_type`` (none if unknown)."""
    try:
        return event_spec(event_type).pii
    except UnknownEventType:
        return ()


def _mask_value(value: Any, kind: PiiKind) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, list):
        return [_mask_value(item, kind) for item in value]
    if isinstance(value, dict):
        return {k: _mask_value(v, kind) for k, v in value.items()}
    return mask(value if isinstance(value, str) else str(value), kind)


def _mask_at(value: Any, parts: Sequence[str], kind: PiiKind) -> Any:
    if isinstance(value, list):
        return [_mask_at(item, parts, kind) for item in value]
    if not parts:
        return _mask_value(value, kind)
    if not isinstance(value, dict) or parts[0] not in value:
        return value
    copy = dict(value)
    copy[parts[0]] = _mask_at(value[parts[0]], parts[1:], kind)
    return copy


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return detect_and_mask_text(value)
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


@functools.lru_cache(maxsize=512)
def _compiled(paths: tuple[str, ...]) -> tuple[tuple[tuple[str, ...], PiiKind], ...]:
    """Each path's segments and masking rule (the catalogue's paths, parsed once)."""
    out = []
    for path in paths:
        parts = tuple(p for p in path.replace("[]", "").split(".") if p)
        if parts:
            out.append((parts, kind_of(path)))
    return tuple(out)


def mask_payload(payload: dict[str, Any], paths: Iterable[str]) -> dict[str, Any]:
    """A masked copy of ``payload`` (the input is never changed)."""
    out: Any = payload
    for parts, kind in _compiled(tuple(paths)):
        out = _mask_at(out, parts, kind)
    scrubbed = _scrub(out)
    return dict(scrubbed) if isinstance(scrubbed, dict) else {}


def body_bytes(event_type: str, occurred_at: dt.datetime, data: dict[str, Any]) -> bytes:
    """The JSON body (Standard Webhooks' recommended ``type``/``timestamp``/``data`` shape)."""
    document = {
        "type": event_type,
        "timestamp": occurred_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
        "data": data,
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def valid_filter(pattern: str) -> bool:
    return pattern == "*" or bool(EVENT_NAME.match(pattern)) or bool(FAMILY.match(pattern))
