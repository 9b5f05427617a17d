"""What the SMS gateway pushes: customers' messages and delivery reports.

Both arrive as signed JSON arrays (:data:`~relaydesk.channels.sms.settings.SIGNING`, checked
with the integration hub's verifier). A customer's message resolves the sender's number as a
**verified** phone identity (the carrier delivered it), joins the conversation of that number
in the inbox (``thread_key`` = the E.164 number) and is de-duplicated by the gateway's
``msg_id``. A delivery report finds the reply by ``out_id`` (the reply's id, sent with it) or
the gateway's ``biz_id`` and marks it ``delivered``, or ``failed`` with the operator's code
and reason; the first final report wins. Everything runs in the caller's transaction.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.audit.service import SYSTEM
from relaydesk.channels.callbacks import verify_signed
from relaydesk.channels.sms.settings import SIGNING, SmsSettings
from relaydesk.conversations.delivery import set_delivery_state
from relaydesk.conversations.models import Inbox, Message
from relaydesk.conversations.repository import MessageRepository
from relaydesk.conversations.schemas import MAX_TEXT
from relaydesk.conversations.service import ConversationService
from relaydesk.customers.normalise import normalise_phone
from relaydesk.customers.resolution import IdentityClaim, resolve
from relaydesk.errors import BadRequest, Conflict, ValidationFailed
from relaydesk.integrations.callbacks import (
    IncomingCallback,
    Verification,
)

__all__ = [
    "MAX_BATCH",
    "DeliveryReport",
    "InboundSms",
    "ReportNotReady",
    "Tally",
    "apply_reports",
    "parse_items",
    "receive_messages",
    "verify",
]

#: most items one callback may carry
MAX_BATCH = 100
DELIVERED = "DELIVRD"

M = TypeVar("M", bound=BaseModel)


class _Item(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class InboundSms(_Item):
    msg_id: str = Field(min_length=1, max_length=200)
    phone_number: str = Field(min_length=1, max_length=32)
    content: str = Field("", max_length=MAX_TEXT)
    dest_code: str | None = Field(None, max_length=32)
    send_time: str | None = Field(None, max_length=40)


class DeliveryReport(_Item):
    biz_id: str = Field(min_length=1, max_length=200)
    out_id: str | None = Field(None, max_length=200)
    report_id: str | None = Field(None, max_length=200)
    phone_number: str | None = Field(None, max_length=32)
    status: str = Field(min_length=1, max_length=20, description="DELIVRD, UNDELIV, EXPIRED...")
    err_code: str | None = Field(None, max_length=40)
    err_msg: str | None = Field(None, max_length=200)
    sms_size: int | None = None
    report_time: str | None = Field(None, max_length=40)


class ReportNotReady(Conflict):
    code = "report_not_ready"
    message = "The reply is still being sent; push the delivery report again later"


@dataclass
class Tally:
    received: int = 0
    duplicates: int = 0
    ignored: int = 0


def verify(settings: SmsSettings, secret: str | None, incoming: IncomingCallback) -> Verification:
    """Check the gateway's signature (401 with the reason) and timestamp window."""
    return verify_signed(
        incoming, secret, signing=SIGNING, app_key=settings.access_key_id,
        tolerance_seconds=settings.tolerance_seconds,
        missing="this SMS inbox has no AccessKeySecret: an administrator has to set "
        "settings.access_key_secret",
    )  # fmt: skip


def parse_items(body: bytes, model: type[M]) -> list[M]:
    """A JSON array (or one object) of ``model``; 400/422 naming the bad item and field."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("the body is not JSON", code="malformed_body") from None
    if isinstance(data, Mapping):
        data = [data]
    if not isinstance(data, list) or not data:
        raise BadRequest("the body must be a JSON array of items (or one object)",
                         code="malformed_body")  # fmt: skip
    if len(data) > MAX_BATCH:
        message = f"at most {MAX_BATCH} items per callback"
        raise ValidationFailed(f"body: {message}", details=[
            {"loc": ["body"], "msg": message, "type": "too_long"}])  # fmt: skip
    items, details = [], []
    for index, raw in enumerate(data):
        try:
            items.append(model.model_validate(raw))
        except PydanticValidationError as exc:
            details += [{"loc": ["body", index, *e["loc"]], "msg": e["msg"], "type": e["type"]}
                        for e in exc.errors()]  # fmt: skip
    if details:
        where = ".".join(str(p) for p in details[0]["loc"])
        raise ValidationFailed(f"{where}: {details[0]['msg']}", details=details)
    return items


def _number(value: str, index: int) -> str:
    try:
        return normalise_phone(value)
    except ValueError as exc:
        raise ValidationFailed(f"body.{index}.phone_number: {exc}", details=[
            {"loc": ["body", index, "phone_number"], "msg": str(exc), "type": "value_error"}
        ]) from None  # fmt: skip


async def receive_messages(
    session: AsyncSession, inbox: Inbox, settings: SmsSettings, items: list[InboundSms]
) -> Tally:
    numbers = [_number(item.phone_number, i) for i, item in enumerate(items)]  # all or nothing
    tally, messages = Tally(), MessageRepository(session)
    service = ConversationService(session, SYSTEM)
    for item, number in zip(items, numbers, strict=True):
        if await messages.by_external_id(inbox.id, item.msg_id) is not None:
            tally.duplicates += 1
            continue
        resolution = await resolve(session, inbox.tenant_id, [IdentityClaim("phone", number)],
                                   verified=True, source="sms", actor=SYSTEM)  # fmt: skip
        content = {"sms": {"from": number, "to": item.dest_code or settings.sender_number,
                           "sent_at": item.send_time}}  # fmt: skip
        await service.receive(inbox, resolution.customer, item.content or "(empty message)",
                              content=content, external_id=item.msg_id,
                              thread_key=number)  # fmt: skip
        tally.received += 1
    return tally


async def _reply_of(session: AsyncSession, inbox: Inbox, report: DeliveryReport) -> Message | None:
    if report.out_id:
        try:
            message = await session.get(Message, uuid.UUID(report.out_id))
        except ValueError:
            message = None
        if message is not None and message.inbox_id == inbox.id and message.direction == "out":
            return message
    return await MessageRepository(session).by_external_id(inbox.id, report.biz_id)


def _report_error(report: DeliveryReport) -> str:
    reason = " ".join(x for x in (report.err_code, report.err_msg) if x) or "no reason given"
    return f"not delivered ({report.status}): {reason}"[:500]


async def apply_reports(
    session: AsyncSession, inbox: Inbox, reports: list[DeliveryReport]
) -> Tally:
    tally = Tally()
    for report in reports:
        message = await _reply_of(session, inbox, report)
        if message is None:
            tally.ignored += 1
            continue
        if message.status == "queued":
            raise ReportNotReady(
                f"reply {message.id} is still being sent; push the report again later"
            )
        if message.status in ("delivered", "failed", "read"):
            tally.duplicates += 1  # the first final report wins
            continue
        if report.status.upper() == DELIVERED:
            await set_delivery_state(session, message, "delivered", None)
        else:
            await set_delivery_state(session, message, "failed", _report_error(report))
        content: dict[str, Any] = dict(message.content or {})
        content["sms"] = {**content.get("sms", {}), "report": report.model_dump(exclude_none=True)}
        message.content = content
        tally.received += 1
    await session.flush()
    return tally
