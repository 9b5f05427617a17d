"""The settings of an ``api`` inbox: one app or platform backend that posts its users'
messages in and receives agents' replies on its webhook.

``signing_secret`` (``whsec_`` + base64, Standard Webhooks) signs both directions; it is
write-only and stored encrypted in ``Inbox.secrets_encrypted``. An administrator either gives
their own or has one generated and shown once (``POST .../signing-secret``).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from relaydesk.channels import SECRET_PLACEHOLDER
from relaydesk.channels.sms.settings import check_allow_list, check_http_url
from relaydesk.customers.identities import NAMESPACE_RE
from relaydesk.webhooks.signing import InvalidSecret, parse_secret

__all__ = ["ApiChannelSettings", "MiB", "load_settings"]

MiB = 1024 * 1024


def _namespace(value: str | None) -> str | None:
    if value is not None and not NAMESPACE_RE.match(value):
        raise ValueError("1-63 letters, digits, '_', '.', '-' (optionally ':' and an id type)")
    return value


class ApiChannelSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    app_id: str = Field(
        max_length=100,
        description="The app's id: the namespace of its user ids (and of openids it sends "
        "without their own app_id), e.g. wx8d3a1f2b or shop-app",
    )
    webhook_url: str | None = Field(
        None, max_length=2000, description="Agents' replies are POSTed here, signed"
    )
    signing_secret: SecretStr | None = Field(
        None, description="whsec_ + base64 of 24-64 bytes; write-only, stored encrypted"
    )
    unionid_namespace: str | None = Field(
        None, max_length=100, description="The open-platform account that unionids belong to"
    )
    trust_contact_details: bool = Field(
        False,
        description="The app verified its users' phone numbers and e-mail addresses: they "
        "count as verified identities (otherwise they never join an existing customer)",
    )
    allow_private: list[str] = Field(
        default_factory=list, max_length=20,
        description="Intranet hosts or networks (CIDR) the webhook may be on; link-local and "
        "metadata addresses stay blocked",
    )  # fmt: skip
    tolerance_seconds: int = Field(300, ge=30, le=3600, description="Accepted clock skew")
    timeout_seconds: float = Field(10.0, ge=1, le=60, description="Per webhook request")
    max_attachments: int = Field(10, ge=0, le=20)
    max_attachment_bytes: int = Field(20 * MiB, ge=1024, le=100 * MiB)

    @field_validator("app_id", "unionid_namespace")
    @classmethod
    def _ns(cls, value: str | None) -> str | None:
        return _namespace(value)

    @field_validator("webhook_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else check_http_url(value)

    @field_validator("signing_secret")
    @classmethod
    def _secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or value.get_secret_value() in ("", SECRET_PLACEHOLDER):
            return value
        try:
            parse_secret(value.get_secret_value())
        except InvalidSecret as exc:
            raise ValueError(f"a Standard Webhooks secret: {exc}") from None
        return value

    @field_validator("allow_private")
    @classmethod
    def _allow(cls, value: list[str]) -> list[str]:
        return check_allow_list(value)


def load_settings(raw: dict[str, Any]) -> ApiChannelSettings:
    return ApiChannelSettings.model_validate(raw)
