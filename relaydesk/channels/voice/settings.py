"""The settings of a ``voice`` inbox (one hotline at a cloud call centre) and the call
centre's signing scheme.

``app_secret`` is accepted in the settings an admin sends and stored encrypted in
``Inbox.secrets_encrypted``; the stored settings never hold it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from relaydesk.channels.sms.settings import check_http_url
from relaydesk.integrations.spec_models.auth import SigningParams

__all__ = ["SIGNING", "SeatMapping", "VoiceSettings", "load_settings"]

#: the call centre's API requests and its event pushes: appKey, timestamp (s), nonce and an
#: upper-case hex HMAC-SHA256 over this canonical string, all four in the query
SIGNING = SigningParams(
    algorithm="hmac_sha256",
    placement="query",
    sign_param="sign",
    app_key_param="appKey",
    timestamp_param="timestamp",
    nonce_param="nonce",
    timestamp_unit="s",
    canonical="{method}\n{path}\n{sorted_query}\n{body}",
    uppercase=True,
)


class SeatMapping(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seat: str = Field(pattern=r"^[0-9A-Za-z_\-]{1,32}$", description="The seat (座席号)")
    email: str = Field(max_length=320, description="The Relaydesk user at that seat")

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        # a user's sign-in e-mail, compared lower-cased: intranet and special-use domains such
        # as ``.local`` are fine here (the demo's users are ``…@demo.relaydesk.local``)
        email = value.strip().lower()
        local, at, domain = email.rpartition("@")
        if not at or not local or not domain or any(c.isspace() for c in email):
            raise ValueError("not an e-mail address (a user's sign-in e-mail, name@domain)")
        return email


class VoiceSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(
        max_length=500,
        description="Base URL of the call centre's API (http:// or https://); recording paths "
        "it gives without a host are resolved against it",
    )
    app_key: str = Field(min_length=1, max_length=100, description="The AppKey")
    app_secret: SecretStr | None = Field(
        None, description="The AppSecret; write-only, stored encrypted; verifies the pushes"
    )
    hotline: str | None = Field(
        None, max_length=20, pattern=r"^\+?[0-9]{3,20}$",
        description="The service number customers call (display)",
    )  # fmt: skip
    seats: list[SeatMapping] = Field(
        default_factory=list, max_length=1000,
        description="Seat → Relaydesk user; a seat not listed maps by the e-mail the call "
        "centre reports for its agent",
    )  # fmt: skip
    dial_instance: str = Field(
        "callcenter", min_length=1, max_length=100,
        description="The connector instance (callcenter connector) click-to-call runs",
    )  # fmt: skip
    screen_pop: bool = Field(True, description="Pop the caller's customer at the ringing seat")
    tolerance_seconds: int = Field(
        300, ge=30, le=3600, description="How old a signed push may be (clock skew)"
    )

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_http_url(value)

    @field_validator("seats")
    @classmethod
    def _unique(cls, value: list[SeatMapping]) -> list[SeatMapping]:
        seen: set[str] = set()
        for item in value:
            if item.seat in seen:
                raise ValueError(f"seat {item.seat} is listed twice")
            seen.add(item.seat)
        return value

    def email_of_seat(self, seat: str | None) -> str | None:
        return next((s.email for s in self.seats if s.seat == seat), None) if seat else None

    def seat_of_email(self, email: str) -> str | None:
        wanted = email.lower()
        return next((s.seat for s in self.seats if s.email == wanted), None)

    def absolute(self, url: str | None) -> str | None:
        """A recording URL: kept when absolute, else resolved against ``base_url``."""
        if not url or url.startswith(("http://", "https://")):
            return url or None
        return self.base_url.rstrip("/") + "/" + url.lstrip("/")


def load_settings(raw: dict[str, Any]) -> VoiceSettings:
    """The stored settings as a model."""
    return VoiceSettings.model_validate(raw)
