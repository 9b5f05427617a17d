"""The event catalogue: every event type Relaydesk emits, with its typed payload.

Names are dotted and past tense (``order.shipped``). Each entry has a pydantic payload model,
a schema version, the payload field that is its ordering key (all events of one conversation
or order are delivered in order) and the personal-data fields that outbound deliveries mask.
Domains register their events at import time; ``custom.*`` is the one open family (rules and
API clients emit their own events there, with any JSON object as payload).
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from relaydesk.errors import ValidationFailed

__all__ = [
    "CUSTOM_PREFIX",
    "EVENT_NAME",
    "CustomPayload",
    "EventSpec",
    "UnknownEventType",
    "catalogue",
    "event_spec",
    "register_event",
    "validate_payload",
]

EVENT_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
CUSTOM_PREFIX = "custom."


class CustomPayload(BaseModel):
    """Any JSON object: the payload of a ``custom.*`` event."""

    model_config = ConfigDict(extra="allow")


@dataclass(frozen=True)
class EventSpec:
    name: str
    payload: type[BaseModel]
    description: str
    version: int = 1
    #: payload field whose value orders events (events of one key are delivered in order)
    key: str | None = None
    #: payload fields (dotted paths, ``[]`` for lists) that hold personal data
    pii: tuple[str, ...] = ()
    #: who emits it: a domain name, or "connector" for callbacks of existing systems
    source: str = "relaydesk"
    examples: tuple[dict[str, Any], ...] = field(default=())


class UnknownEventType(ValidationFailed):
    pass


_CATALOGUE: dict[str, EventSpec] = {}


def register_event(spec: EventSpec) -> EventSpec:
    """Add ``spec`` to the catalogue (idempotent for the same spec; a clash raises)."""
    if not EVENT_NAME.match(spec.name) or spec.name.startswith(CUSTOM_PREFIX):
        raise ValueError(f"invalid catalogue event name {spec.name!r}")
    known = _CATALOGUE.get(spec.name)
    if known is not None and known != spec:
        raise ValueError(f"event {spec.name!r} is already registered differently")
    _CATALOGUE[spec.name] = spec
    return spec


#: modules whose import registers events; a domain with events adds its module here
EVENT_MODULES = (
    "relaydesk.events.payloads",
    "relaydesk.conversations.events",
    "relaydesk.customers.events",
    "relaydesk.sagas.events",
    "relaydesk.webhooks.events",
    "relaydesk.channels.voice.events",
    "relaydesk.notifications.events",
)


def catalogue() -> dict[str, EventSpec]:
    """Every registered event, by name (importing the domains registers theirs)."""
    for module in EVENT_MODULES:
        importlib.import_module(module)
    return dict(sorted(_CATALOGUE.items()))


def event_spec(name: str) -> EventSpec:
    """The spec of ``name``; ``custom.*`` names get an open spec. Unknown names raise."""
    spec = _CATALOGUE.get(name)  # every emit asks: no imports, no sorted copy when registered
    if spec is not None:
        return spec
    specs = catalogue()
    if name in specs:
        return specs[name]
    if name.startswith(CUSTOM_PREFIX) and EVENT_NAME.match(name):
        return EventSpec(name, CustomPayload, "A custom event", key=None, source="custom")
    message = f"unknown event type {name!r}: use a catalogued type (docs/events.md) or custom.*"
    raise UnknownEventType(
        message, details=[{"loc": ["type"], "msg": message, "type": "unknown_event_type"}]
    )


def validate_payload(name: str, payload: Any) -> tuple[EventSpec, dict[str, Any]]:
    """Validate ``payload`` against the event's model; returns the spec and the JSON payload."""
    spec = event_spec(name)
    try:
        model = spec.payload.model_validate(payload)
    except ValidationError as exc:
        details = [
            {"loc": ["payload", *err["loc"]], "msg": err["msg"], "type": err["type"]}
            for err in exc.errors()
        ]
        where = ".".join(str(p) for p in details[0]["loc"])
        raise ValidationFailed(
            f"{where}: {details[0]['msg']} (event {name})", details=details
        ) from None
    return spec, model.model_dump(mode="json", exclude_none=False)
