"""The ``auth:`` section, discriminated on ``type``. String values may hold ``{{ config.x }}``."""

from __future__ import annotations

import string
from typing import Annotated, Literal

from pydantic import Field, field_validator

from relaydesk.integrations.spec_models.base import SpecModel

#: placeholders a signing ``canonical`` string may use
CANONICAL_PLACEHOLDERS = frozenset(
    {"secret", "app_key", "timestamp", "nonce", "sorted_params", "sorted_query", "body", "method",
     "path"}
)


class NoAuth(SpecModel):
    type: Literal["none"] = "none"


class ApiKeyAuth(SpecModel):
    type: Literal["api_key"]
    in_: Literal["header", "query"] = Field("header", alias="in")
    name: str = Field(min_length=1, description="Header or query parameter name")
    value: str = Field(description='Usually "{{ config.api_key }}"')


class BearerAuth(SpecModel):
    type: Literal["bearer"]
    token: str


class BasicAuth(SpecModel):
    type: Literal["basic"]
    username: str
    password: str


class OAuth2ClientCredentialsAuth(SpecModel):
    type: Literal["oauth2_client_credentials"]
    token_url: str
    client_id: str
    client_secret: str
    scope: str | None = None
    refresh_margin_seconds: float = Field(30, ge=0)


class SigningParams(SpecModel):
    """How a request (or a callback) is signed, Chinese open-platform style.

    ``canonical`` is a ``str.format`` pattern over: secret, app_key, timestamp, nonce,
    sorted_params (k1v1k2v2 of the sorted non-empty params except the sign), sorted_query
    (k1=v1&k2=v2), body (raw body text), method, path.
    """

    algorithm: Literal["md5", "sha256", "hmac_sha256"] = "md5"
    sign_param: str = "sign"
    timestamp_param: str = "timestamp"
    nonce_param: str = "nonce"
    app_key_param: str = "appKey"
    timestamp_unit: Literal["ms", "s"] = "ms"
    placement: Literal["query", "header", "body"] = "query"
    canonical: str = "{secret}{sorted_params}{body}{secret}"
    uppercase: bool = True

    @field_validator("canonical")
    @classmethod
    def _known_placeholders(cls, value: str) -> str:
        try:
            names = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
        except ValueError as exc:
            raise ValueError(f"canonical is not a valid pattern: {exc}") from None
        unknown = sorted(names - CANONICAL_PLACEHOLDERS)
        if unknown:
            raise ValueError(
                f"unknown placeholder(s) {', '.join('{' + n + '}' for n in unknown)}; "
                f"allowed: {', '.join(sorted(CANONICAL_PLACEHOLDERS))}"
            )
        return value


class SigningAuth(SigningParams):
    type: Literal["signing"]
    app_key: str
    secret: str


AuthSpec = Annotated[
    NoAuth | ApiKeyAuth | BearerAuth | BasicAuth | OAuth2ClientCredentialsAuth | SigningAuth,
    Field(discriminator="type"),
]
