"""``/api/v1/channels/sms/{inbox_id}/inbound`` and ``/reports``: the SMS gateway's callbacks.

No user authentication: the gateway's signature (AccessKeyId + timestamp + nonce +
HMAC-SHA256, with the inbox's AccessKeySecret) is the authentication. Unknown or disabled
inbox → 404; unsigned, forged or stale → 401 with the reason, nothing stored; a bad item →
400/422 naming it, nothing stored. Success answers ``{"code": 0, ...}``, which is what the
gateway waits for; anything else makes it push again later.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.channels.ingress import signed_request
from relaydesk.channels.sms.inbound import (
    DeliveryReport,
    InboundSms,
    Tally,
    apply_reports,
    parse_items,
    receive_messages,
    verify,
)
from relaydesk.channels.sms.settings import SmsSettings, load_settings
from relaydesk.conversations.models import Inbox
from relaydesk.kit.db import DbSession
from relaydesk.kit.schemas import error_responses

__all__ = ["GatewayAck", "router"]

router = APIRouter(prefix="/channels/sms", tags=["channels"])
ERRORS = error_responses(400, 401, 404, 409, 413, 422, 500)


class GatewayAck(BaseModel):
    """The answer the gateway expects (``code`` 0: received, do not push again)."""

    code: int = 0
    msg: str = "接收成功"
    received: int
    duplicates: int
    ignored: int = 0


async def _verified(request: Request, session: AsyncSession,
                    inbox_id: uuid.UUID) -> tuple[Inbox, SmsSettings, bytes]:  # fmt: skip
    inbox, settings, secret, incoming = await signed_request(
        request, session, inbox_id, "sms", label="SMS", load_settings=load_settings,
        credential="access_key_secret",
    )  # fmt: skip
    body = incoming.body
    verify(settings, secret, incoming)
    return inbox, settings, body


def _ack(tally: Tally) -> GatewayAck:
    return GatewayAck(received=tally.received, duplicates=tally.duplicates, ignored=tally.ignored)


@router.post("/{inbox_id}/inbound", response_model=GatewayAck, responses=ERRORS,
             summary="The SMS gateway pushes customers' messages (signed)")  # fmt: skip
async def sms_inbound(inbox_id: uuid.UUID, request: Request, session: DbSession) -> GatewayAck:
    """A JSON array of ``{"msg_id", "phone_number", "content", "dest_code", "send_time"}``.
    The sender's number becomes a verified phone identity; ``msg_id`` de-duplicates."""
    inbox, settings, body = await _verified(request, session, inbox_id)
    items = parse_items(body, InboundSms)
    return _ack(await receive_messages(session, inbox, settings, items))


@router.post("/{inbox_id}/reports", response_model=GatewayAck, responses=ERRORS,
             summary="The SMS gateway pushes delivery reports (signed)")  # fmt: skip
async def sms_reports(inbox_id: uuid.UUID, request: Request, session: DbSession) -> GatewayAck:
    """A JSON array of ``{"biz_id", "out_id", "status": "DELIVRD"|"UNDELIV", "err_code",
    "err_msg", ...}``: the reply becomes ``delivered`` or ``failed`` with the operator's reason.
    A report for a reply still being sent answers 409 (the gateway pushes it again)."""
    inbox, _settings, body = await _verified(request, session, inbox_id)
    reports = parse_items(body, DeliveryReport)
    return _ack(await apply_reports(session, inbox, reports))
