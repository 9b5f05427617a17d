"""What the call centre pushes, parsed and normalised; and how its pushes are verified.

One push is one JSON object: ``{"eventId", "eventType": "RINGING"|"ANSWERED"|"HANGUP",
"callId", "direction": "IB"|"OB", "customerNumber", "hotline", "cno", "agentName",
"agentEmail", "startTime", "answerTime", "endTime", "talkSeconds", "hangupSide",
"endReason", "recordUrl", "asrText": [{"role", "text", "offset"}], "userField"}``. Times are
the call centre's wall clock (``YYYY-MM-DD HH:MM:SS``, Asia/Shanghai) or ISO 8601 with an
offset. Every push carries the whole call detail record as it stands, so any event can
create the call record when an earlier push has not arrived yet.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic import ValidationError as PydanticValidationError

from relaydesk.channels.callbacks import verify_signed
from relaydesk.channels.voice.settings import SIGNING, VoiceSettings
from relaydesk.errors import BadRequest, ValidationFailed
from relaydesk.integrations.callbacks import (
    IncomingCallback,
    Verification,
)

__all__ = [
    "EVENT_NAMES",
    "SHANGHAI",
    "AsrLine",
    "CallEventIn",
    "parse_event",
    "transcript_text",
    "verify",
]

SHANGHAI = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")
#: the call centre's event types → the catalogue's (call.<name>)
EVENT_NAMES = {"RINGING": "ringing", "ANSWERED": "answered", "HANGUP": "ended"}
SPEAKERS = {"AGENT": ("agent", "坐席"), "CUSTOMER": ("customer", "客户")}
MAX_ASR_LINES = 2000


class AsrLine(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    role: str = Field(max_length=20)
    text: str = Field(max_length=5000)
    offset: float | None = None


def _when(value: Any) -> dt.datetime | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise ValueError("a time as YYYY-MM-DD HH:MM:SS (Asia/Shanghai) or ISO 8601")
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError("a time as YYYY-MM-DD HH:MM:SS (Asia/Shanghai) or ISO 8601") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=SHANGHAI)
    return parsed.astimezone(dt.UTC)


class CallEventIn(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, populate_by_name=True)

    event_id: str | None = Field(None, alias="eventId", max_length=200)
    event_type: Literal["RINGING", "ANSWERED", "HANGUP"] = Field(alias="eventType")
    call_id: str = Field(alias="callId", min_length=1, max_length=64,
                         pattern=r"^[0-9A-Za-z_.:\-]+$")  # fmt: skip
    direction: Literal["IB", "OB"]
    customer_number: str = Field(alias="customerNumber", min_length=3, max_length=32)
    hotline: str | None = Field(None, max_length=32)
    seat: str | None = Field(None, alias="cno", max_length=32)
    agent_name: str | None = Field(None, alias="agentName", max_length=100)
    agent_email: str | None = Field(None, alias="agentEmail", max_length=320)
    start_time: dt.datetime | None = Field(None, alias="startTime")
    answer_time: dt.datetime | None = Field(None, alias="answerTime")
    end_time: dt.datetime | None = Field(None, alias="endTime")
    talk_seconds: int = Field(0, alias="talkSeconds", ge=0, le=7 * 86400)
    hangup_side: str | None = Field(None, alias="hangupSide", max_length=20)
    end_reason: str | None = Field(None, alias="endReason", max_length=40)
    record_url: str | None = Field(None, alias="recordUrl", max_length=2000)
    asr: list[AsrLine] = Field(default_factory=list, alias="asrText", max_length=MAX_ASR_LINES)
    user_field: str | None = Field(None, alias="userField", max_length=200)

    @field_validator("start_time", "answer_time", "end_time", mode="before")
    @classmethod
    def _times(cls, value: Any) -> dt.datetime | None:
        return _when(value)

    @field_validator("record_url")
    @classmethod
    def _record_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        parts = urlsplit(value)
        if (
            value.startswith("//")
            or parts.scheme not in ("", "http", "https")
            or (parts.scheme and not parts.hostname)
        ):
            raise ValueError("an http(s) URL or a path on the call centre")
        return value

    @property
    def name(self) -> str:
        """``ringing``, ``answered`` or ``ended``."""
        return EVENT_NAMES[self.event_type]


def transcript_text(lines: list[AsrLine]) -> str | None:
    """``坐席：…`` / ``客户：…``, one line per utterance (None when there is none)."""
    out = [f"{SPEAKERS.get(line.role.upper(), ('', line.role))[1]}：{line.text}"
           for line in lines if line.text]  # fmt: skip
    return "\n".join(out) or None


def transcript_lines(lines: list[AsrLine]) -> list[dict[str, Any]]:
    return [{"speaker": SPEAKERS.get(line.role.upper(), (line.role.lower(), ""))[0],
             "text": line.text, "offset": line.offset} for line in lines if line.text]  # fmt: skip


def verify(settings: VoiceSettings, secret: str | None, incoming: IncomingCallback) -> Verification:
    """Check the call centre's signature (401 with the reason) and timestamp window."""
    return verify_signed(
        incoming, secret, signing=SIGNING, app_key=settings.app_key,
        tolerance_seconds=settings.tolerance_seconds,
        missing="this voice inbox has no AppSecret: an administrator has to set "
        "settings.app_secret",
    )  # fmt: skip


def parse_event(body: bytes) -> CallEventIn:
    """One pushed event; 400 for a body that is not a JSON object, 422 naming the field."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("the body is not JSON", code="malformed_body") from None
    if not isinstance(data, dict):
        raise BadRequest("the body must be one JSON object (one call event)",
                         code="malformed_body")  # fmt: skip
    try:
        return CallEventIn.model_validate(data)
    except PydanticValidationError as exc:
        raise ValidationFailed.from_pydantic(exc) from None
