"""The call events of the voice channel: ``call.ringing``, ``call.answered``, ``call.ended``.

Ordered per call (key ``call_id``); the customer's number (and the transcript) are personal
data. Emitted by :mod:`relaydesk.channels.voice.calls` in the transaction that updates the
call record, once per call and event (a call centre pushing an event again changes nothing).
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict

from relaydesk.events.catalogue import EventSpec, register_event

__all__ = ["CALL_EVENTS", "CallAnswered", "CallEnded", "CallRinging"]


class _Call(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: the call centre's call id (the ordering key; the conversation's thread)
    call_id: str
    conversation_id: str
    #: the call record (a message with content type ``call``)
    message_id: str
    customer_id: str
    inbox_id: str
    direction: Literal["inbound", "outbound"]
    #: the customer's number, E.164 (the caller of an inbound call, the callee of an outbound)
    customer_number: str
    #: the service number the customer called (or that was shown to them)
    hotline: str | None = None
    #: the seat (extension) at the call centre
    seat: str | None = None
    #: the Relaydesk user at that seat (null: the seat maps to no user)
    agent_id: str | None = None
    #: ringing | answered | ended: the call as it stands now
    status: str
    started_at: dt.datetime | None = None
    #: the conversation's department (realtime: department-scoped users see their own only)
    department_id: str | None = None


class CallRinging(_Call):
    pass


class CallAnswered(_Call):
    answered_at: dt.datetime | None = None


class CallEnded(_Call):
    answered_at: dt.datetime | None = None
    ended_at: dt.datetime | None = None
    #: talk time in seconds (0 when nobody answered)
    duration_s: int = 0
    answered: bool = False
    #: customer | agent | system
    hangup_side: str | None = None
    #: normal | no_answer | cancelled | busy ...
    end_reason: str | None = None
    recording_url: str | None = None
    #: the speech-to-text transcript, one "坐席：…" / "客户：…" line per utterance
    transcript: str | None = None


_PII = ("customer_number",)

CALL_EVENTS = {
    "ringing": register_event(EventSpec(
        "call.ringing", CallRinging,
        "A call rings at an agent's seat (inbound: a customer called; outbound: click-to-call "
        "started); the agent at the seat gets a screen pop.",
        key="call_id", pii=_PII, source="voice",
    )),
    "answered": register_event(EventSpec(
        "call.answered", CallAnswered, "A call was answered: agent and customer are talking.",
        key="call_id", pii=_PII, source="voice",
    )),
    "ended": register_event(EventSpec(
        "call.ended", CallEnded,
        "A call ended (answered or missed), with its talk time, who hung up, the recording "
        "URL and the transcript.",
        key="call_id", pii=(*_PII, "transcript"), source="voice",
    )),
}  # fmt: skip
