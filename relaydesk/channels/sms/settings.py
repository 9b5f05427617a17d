"""The settings of an ``sms`` inbox (one sender number at one HTTP SMS gateway) and the
gateway's signing scheme.

``access_key_secret`` is accepted in the settings an admin sends and stored encrypted in
``Inbox.secrets_encrypted``; the stored settings never hold it.
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from relaydesk.integrations.spec_models.auth import SigningAuth, SigningParams
from relaydesk.kit.safehttp import OutboundPolicy

__all__ = [
    "SIGNING",
    "SmsSettings",
    "check_allow_list",
    "check_http_url",
    "load_settings",
    "policy_of",
    "signing_auth",
]

#: requests to the gateway and its callbacks: HMAC-SHA256 (hex) over this canonical string,
#: appKey, timestamp (ms), nonce and signature in X-Sms-* headers
SIGNING = SigningParams(
    algorithm="hmac_sha256",
    placement="header",
    sign_param="X-Sms-Signature",
    app_key_param="X-Sms-AccessKeyId",
    timestamp_param="X-Sms-Timestamp",
    nonce_param="X-Sms-Nonce",
    timestamp_unit="ms",
    canonical="{method}\n{path}\n{app_key}\n{timestamp}\n{nonce}\n{body}",
    uppercase=False,
)


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value.strip("[]"))
    except ValueError:
        return False
    return True


def check_allow_list(value: list[str]) -> list[str]:
    """Intranet hosts, IPs or CIDR networks (``ValueError`` naming the bad one)."""
    out = []
    for raw in value:
        item = raw.strip().lower().rstrip(".")
        if "/" in item or _is_ip(item):
            try:
                ipaddress.ip_network(item.strip("[]"), strict=False)
            except ValueError as exc:
                raise ValueError(f"{raw!r} is not an IP address or network: {exc}") from None
        elif not item or any(c in item for c in ":@ \t\r\n"):
            raise ValueError(f"{raw!r} is not a host name, IP address or CIDR network")
        out.append(item)
    return out


def check_http_url(value: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("an http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise ValueError("credentials do not belong in the URL")
    return value.strip()


def policy_of(allow_private: list[str]) -> OutboundPolicy:
    cidrs = [str(ipaddress.ip_network(i.strip("[]"), strict=False)) for i in allow_private
             if "/" in i or _is_ip(i)]  # fmt: skip
    hosts = [i for i in allow_private if not ("/" in i or _is_ip(i))]
    return OutboundPolicy(allow_cidrs=cidrs, allow_hosts=hosts)


class SmsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    gateway_url: str = Field(
        max_length=500, description="Base URL of the SMS gateway's API (http:// or https://)"
    )
    access_key_id: str = Field(min_length=1, max_length=100, description="The AccessKeyId")
    access_key_secret: SecretStr | None = Field(
        None, description="The AccessKeySecret; write-only, stored encrypted"
    )
    sign_name: str = Field(
        min_length=2, max_length=12, description="The approved sign name (签名), sent as 【…】"
    )
    sender_number: str | None = Field(
        None, max_length=20, pattern=r"^\+?[0-9]{3,20}$",
        description="The number customers text and see (e.g. 1069…), for display",
    )  # fmt: skip
    allow_private: list[str] = Field(
        default_factory=list, max_length=20,
        description="Intranet hosts or networks (CIDR) the gateway may be on; link-local and "
        "metadata addresses stay blocked",
    )  # fmt: skip
    max_segments: int = Field(5, ge=1, le=8, description="Longest reply, in SMS segments")
    timeout_seconds: float = Field(10.0, ge=1, le=60, description="Per request to the gateway")
    tolerance_seconds: int = Field(
        300, ge=30, le=3600, description="How old a signed callback may be (clock skew)"
    )

    @field_validator("gateway_url")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_http_url(value)

    @field_validator("allow_private")
    @classmethod
    def _allow(cls, value: list[str]) -> list[str]:
        return check_allow_list(value)

    def endpoint(self, path: str) -> str:
        return self.gateway_url.rstrip("/") + path


def load_settings(raw: dict[str, Any]) -> SmsSettings:
    """The stored settings as a model."""
    return SmsSettings.model_validate(raw)


def signing_auth(settings: SmsSettings, secret: str) -> SigningAuth:
    """The integration hub's signing spec for requests to the gateway."""
    return SigningAuth(type="signing", app_key=settings.access_key_id, secret=secret,
                       **SIGNING.model_dump())  # fmt: skip
