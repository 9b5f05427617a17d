"""The voice channel's endpoints.

* ``POST /api/v1/channels/voice/{inbox_id}/events`` — the call centre pushes call events.
  No user authentication: the call centre's signature (appKey + timestamp + nonce + sign in
  the query, HMAC-SHA256 with the inbox's AppSecret) is the authentication. Unknown or
  disabled inbox → 404; unsigned, forged or stale → 401 with the reason, nothing stored; a
  bad event → 400/422 naming the field, nothing stored. Success answers ``{"code": 0, ...}``
  (``duplicate: true`` for an event already applied), which is what the call centre waits
  for; anything else makes it push again later.
* ``POST /api/v1/conversations/{conversation_id}/call`` — click-to-call
  (:mod:`relaydesk.channels.voice.dial`).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from relaydesk.auth.deps import Require
from relaydesk.auth.principal import Principal
from relaydesk.channels.ingress import signed_request
from relaydesk.channels.voice.calls import apply_event
from relaydesk.channels.voice.dial import DialIn, DialOut, click_to_call
from relaydesk.channels.voice.protocol import parse_event, verify
from relaydesk.channels.voice.settings import load_settings
from relaydesk.integrations.api import get_keyring, get_registry
from relaydesk.kit.db import DbSession
from relaydesk.kit.schemas import COMMON_ERRORS, error_responses

__all__ = ["CallCenterAck", "router"]

router = APIRouter(tags=["channels"])
ERRORS = error_responses(400, 401, 404, 413, 422, 500)
Writer = Annotated[Principal, Depends(Require("conversations.write"))]


class CallCenterAck(BaseModel):
    """The answer the call centre expects (``code`` 0: received, do not push again)."""

    code: int = 0
    msg: str = "ok"
    call_id: str
    event: str
    duplicate: bool
    conversation_id: uuid.UUID
    status: str


@router.post("/channels/voice/{inbox_id}/events", response_model=CallCenterAck,
             responses=ERRORS, summary="The call centre pushes a call event (signed)")  # fmt: skip
async def voice_event(inbox_id: uuid.UUID, request: Request, session: DbSession) -> CallCenterAck:
    """One JSON object per push: ``{"eventType": "RINGING"|"ANSWERED"|"HANGUP", "callId",
    "direction", "customerNumber", "cno", ...}`` (docs/channels.md, "Voice / call centre").
    The customer's number becomes a verified phone identity; the call becomes a call record
    in a conversation; each (call, event) applies once."""
    inbox, settings, secret, incoming = await signed_request(
        request, session, inbox_id, "voice", label="voice", load_settings=load_settings,
        credential="app_secret",
    )  # fmt: skip
    body = incoming.body
    verify(settings, secret, incoming)
    event = parse_event(body)
    applied = await apply_event(session, inbox, settings, event)
    return CallCenterAck(call_id=applied.call_id, event=event.event_type,
                         duplicate=applied.duplicate, conversation_id=applied.conversation_id,
                         status=applied.status)  # fmt: skip


@router.post("/conversations/{conversation_id}/call", response_model=DialOut,
             responses={**COMMON_ERRORS, **error_responses(409)},
             summary="Click-to-call: the agent's phone rings, then the customer's")  # fmt: skip
async def call_customer(conversation_id: uuid.UUID, body: DialIn, request: Request,
                        principal: Writer, session: DbSession) -> DialOut:  # fmt: skip
    """Rings the agent's seat at the call centre, then dials the conversation's customer
    (docs/channels.md, "Click-to-call"). Needs ``conversations.write`` and the connector
    action's permission ``connector_action:callcenter.dial``. ``ok: false`` (with the call
    centre's reason in ``error``) when the call centre refused, e.g. the seat is offline."""
    return await click_to_call(session, principal, get_registry(request), get_keyring(request),
                               conversation_id, body)  # fmt: skip
