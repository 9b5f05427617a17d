"""The settings of an ``email`` inbox: one mailbox read over IMAP, replies sent over SMTP.

Passwords are accepted in the settings an admin sends (``imap.password``, ``smtp.password``)
and stored encrypted in ``Inbox.secrets_encrypted``; the stored settings never hold them.
``state`` is written by the poller (last UID, UIDVALIDITY, last error) and kept on updates.
"""

from __future__ import annotations

import ipaddress
import ssl
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from relaydesk.customers.normalise import normalise_email
from relaydesk.kit.safehttp import OutboundPolicy

__all__ = [
    "DEFAULT_ATTACHMENT_TYPES",
    "EmailSettings",
    "ImapSettings",
    "SmtpSettings",
    "load_settings",
    "outbound_policy",
    "ssl_context",
]

TlsMode = Literal["tls", "starttls", "none"]
MiB = 1024 * 1024

#: attachment types accepted by default ("type/*" matches a whole family)
DEFAULT_ATTACHMENT_TYPES = [
    "image/*",
    "text/plain",
    "text/csv",
    "application/pdf",
    "application/zip",
    "application/msword",
    "application/vnd.ms-excel",
    "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.*",
    "application/vnd.oasis.opendocument.*",
    "audio/*",
    "video/*",
    "message/rfc822",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _host(value: str) -> str:
    value = value.strip().rstrip(".").lower()
    if not value or (any(c in value for c in "/:@ \t\r\n") and not _is_ip(value)):
        raise ValueError("a host name or IP address (no scheme, port or path)")
    return value


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value.strip("[]"))
    except ValueError:
        return False
    return True


class _Server(_Strict):
    host: str = Field(min_length=1, max_length=253)
    port: int | None = Field(None, ge=1, le=65535, description="Default: by TLS mode")
    tls: TlsMode = Field("tls", description="tls (implicit), starttls, or none (plain text)")
    user: str | None = Field(None, max_length=320)
    password: SecretStr | None = Field(None, description="Write-only: stored encrypted")

    @field_validator("host")
    @classmethod
    def _check_host(cls, value: str) -> str:
        return _host(value)


class ImapSettings(_Server):
    mailbox: str = Field("INBOX", min_length=1, max_length=200)
    user: str = Field(min_length=1, max_length=320)

    def effective_port(self) -> int:
        return self.port or (993 if self.tls == "tls" else 143)


class SmtpSettings(_Server):
    def effective_port(self) -> int:
        return self.port or {"tls": 465, "starttls": 587, "none": 25}[self.tls]


class EmailSettings(_Strict):
    imap: ImapSettings
    smtp: SmtpSettings
    from_address: str = Field(
        max_length=320, description="The inbox's address (replies come from it)"
    )
    from_name: str | None = Field(None, max_length=100, description="Display name of replies")
    allow_private: list[str] = Field(
        default_factory=list,
        max_length=20,
        description="Intranet hosts or networks (CIDR) the IMAP/SMTP servers may be on; "
        "link-local and metadata addresses stay blocked",
    )
    poll_seconds: int = Field(60, ge=10, le=3600, description="How often the mailbox is read")
    idle: bool = Field(False, description="Wait with IMAP IDLE between polls (holds a worker slot)")
    backfill_days: int = Field(1, ge=0, le=30, description="First poll: mail of the last N days")
    max_message_bytes: int = Field(25 * MiB, ge=64 * 1024, le=100 * MiB)
    max_attachment_bytes: int = Field(10 * MiB, ge=1024, le=100 * MiB)
    max_attachments: int = Field(20, ge=0, le=100)
    attachment_types: list[str] = Field(default_factory=lambda: list(DEFAULT_ATTACHMENT_TYPES))
    trusted_authserv_id: str | None = Field(
        None,
        max_length=253,
        description="authserv-id of YOUR mail server's Authentication-Results header: a sender "
        "with dmarc=pass there counts as verified (otherwise senders are never verified)",
    )
    ca_pem: str | None = Field(None, max_length=20_000, description="Extra trusted CA (PEM)")

    @field_validator("from_address")
    @classmethod
    def _address(cls, value: str) -> str:
        return normalise_email(value)

    @field_validator("allow_private")
    @classmethod
    def _allow(cls, value: list[str]) -> list[str]:
        out = []
        for item in value:
            item = item.strip().lower()
            if "/" in item or _is_ip(item):
                ipaddress.ip_network(item, strict=False)  # raises ValueError with a reason
            else:
                _host(item)
            out.append(item)
        return out

    @field_validator("attachment_types")
    @classmethod
    def _types(cls, value: list[str]) -> list[str]:
        for item in value:
            if item.count("/") != 1 or not item.replace("*", "x").replace("/", "").strip():
                raise ValueError(f"{item!r} is not a media type like image/png or image/*")
        return [v.strip().lower() for v in value]

    @model_validator(mode="after")
    def _ca(self) -> EmailSettings:
        if self.ca_pem is not None and "BEGIN CERTIFICATE" not in self.ca_pem:
            raise ValueError("ca_pem: a PEM certificate (-----BEGIN CERTIFICATE-----)")
        return self

    @property
    def domain(self) -> str:
        return self.from_address.rsplit("@", 1)[1]


def outbound_policy(settings: EmailSettings) -> OutboundPolicy:
    cidrs, hosts = [], []
    for item in settings.allow_private:
        if "/" in item or _is_ip(item):
            cidrs.append(str(ipaddress.ip_network(item, strict=False)))
        else:
            hosts.append(item)
    return OutboundPolicy(allow_cidrs=cidrs, allow_hosts=hosts)


def load_settings(raw: dict[str, Any]) -> EmailSettings:
    """The stored settings as a model (runtime keys ignored)."""
    return EmailSettings.model_validate({k: v for k, v in raw.items() if k != "state"})


def ssl_context(settings: EmailSettings) -> ssl.SSLContext:
    """Certificate-checking TLS, trusting the system CAs and the inbox's ``ca_pem``."""
    context = ssl.create_default_context()
    if settings.ca_pem:
        context.load_verify_locations(cadata=settings.ca_pem)
    return context
