"""Inbound callbacks: signature scheme, event id, ordering key/version, mapping."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Discriminator, Field, Tag, field_validator, model_validator

from relaydesk.events.catalogue import CUSTOM_PREFIX, EVENT_NAME, catalogue
from relaydesk.integrations.spec_models.auth import SigningParams
from relaydesk.integrations.spec_models.base import JmesPath, SpecModel
from relaydesk.integrations.spec_models.mapping import MappingSpec

SignatureScheme = Literal[
    "hmac_sha256_hex", "hmac_sha256_base64", "github", "stripe", "standard_webhooks",
    "app_key_sign", "none",
]
#: where each scheme reads its signature when ``header`` is not given
DEFAULT_SIGNATURE_HEADERS: dict[str, str] = {
    "github": "X-Hub-Signature-256",
    "stripe": "Stripe-Signature",
    "standard_webhooks": "webhook-signature",
}
EVENT_TYPE = r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$"

class SignatureSpec(SpecModel):
    scheme: SignatureScheme
    header: str | None = Field(None, description="Where the signature is (hmac_* schemes)")
    secret: str | None = Field(None, description='Usually "{{ config.callback_secret }}"')
    payload: str = Field(
        "{body}", description="hmac_*: what is signed; placeholders timestamp, body, id"
    )
    timestamp_header: str | None = None
    tolerance_seconds: int = Field(300, ge=1)
    app_key: str | None = Field(None, description="app_key_sign: the expected app key")
    signing: SigningParams | None = Field(None, description="app_key_sign: how the sign is made")

    @model_validator(mode="after")
    def _complete(self) -> SignatureSpec:
        if self.scheme == "none":
            return self
        if not self.secret:
            raise ValueError(f"scheme {self.scheme} needs a secret")
        if self.scheme.startswith("hmac_") and not self.header:
            raise ValueError(f"scheme {self.scheme} needs the header that carries the signature")
        if self.scheme == "app_key_sign" and self.signing is None:
            raise ValueError("scheme app_key_sign needs a signing section")
        if "{timestamp}" in self.payload and not self.timestamp_header:
            raise ValueError("payload uses {timestamp}: give timestamp_header")
        return self

    @property
    def signature_header(self) -> str | None:
        return self.header or DEFAULT_SIGNATURE_HEADERS.get(self.scheme)

def _check_event_type(value: str) -> str:
    """A dotted name that the event catalogue knows, or ``custom.<name>``."""
    if not re.match(EVENT_TYPE, value):
        raise ValueError(f"{value!r} is not a dotted event type such as order.shipped")
    if value.startswith(CUSTOM_PREFIX) and EVENT_NAME.match(value):
        return value
    if value not in catalogue():
        raise ValueError(
            f"event type {value!r} is not in the event catalogue: use one of the types listed "
            f"in docs/events.md (e.g. order.shipped, ticket.status_changed) or custom.<name>"
        )
    return value


EventTypeName = Annotated[str, AfterValidator(_check_event_type)]


class EventTypeMap(SpecModel):
    expr: JmesPath
    values: dict[str, str] = Field(min_length=1)
    default: str | None = None

    @field_validator("values")
    @classmethod
    def _event_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value.values():
            _check_event_type(name)
        return value

    @field_validator("default")
    @classmethod
    def _default_name(cls, value: str | None) -> str | None:
        return None if value is None else _check_event_type(value)


class CallbackSpec(SpecModel):
    title: str | None = None
    description: str | None = None
    signature: SignatureSpec
    event_id: JmesPath = Field(description="JMESPath to the event id (de-duplication)")
    event_type: Annotated[
        Annotated[EventTypeName, Tag("fixed")] | Annotated[EventTypeMap, Tag("map")],
        Discriminator(lambda value: "fixed" if isinstance(value, str) else "map"),
    ] = Field(description="A fixed event type such as order.shipped, or {expr, values}")
    entity_key: JmesPath | None = Field(None, description="JMESPath: the ordering key")
    entity_version: JmesPath | None = Field(
        None, description="JMESPath: number or timestamp; older than stored → ignored"
    )
    mapping: MappingSpec | None = None

    @model_validator(mode="after")
    def _ordering(self) -> CallbackSpec:
        if self.entity_version is not None and self.entity_key is None:
            raise ValueError("entity_version needs entity_key")
        return self
