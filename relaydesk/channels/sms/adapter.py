"""The SMS channel adapter: agents' replies go out through the inbox's SMS gateway.

The reply is texted to the conversation's number (its ``thread_key``; a conversation an agent
started takes the customer's mobile number, verified ones first). Too long for the inbox's
``max_segments`` → failed at once with the reason. The request is signed
(:data:`~relaydesk.channels.sms.settings.SIGNING`) and sent through the SSRF-safe client with
the reply's id as ``out_id``, so a retried send is not texted twice. The gateway's answer:

* ``code: OK`` → ``sent``, with its ``biz_id`` as the message's ``external_id`` (the
  delivery report later makes it ``delivered`` or ``failed``);
* HTTP 5xx or 429, a timeout, no connection, or a throttling code → :class:`TransientFailure`
  (the reply stays queued with the reason shown and is retried);
* anything else (bad number, unknown sign, refused credentials) → failed with the gateway's
  code and message.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from pydantic import ValidationError
from sqlalchemy import select

from relaydesk.channels import inbox_secrets
from relaydesk.channels.sms.runtime import keyring_for
from relaydesk.channels.sms.segments import check_length
from relaydesk.channels.sms.settings import SmsSettings, load_settings, policy_of, signing_auth
from relaydesk.conversations.delivery import Delivered, Outgoing, TransientFailure, register_adapter
from relaydesk.conversations.models import Conversation, Message
from relaydesk.customers.models import Customer, CustomerIdentity
from relaydesk.customers.normalise import normalise_phone
from relaydesk.integrations.auth import SigningAuth as SigningHandler
from relaydesk.kit.db import Database
from relaydesk.kit.safehttp import BlockedDestination, ResponseTooLarge, make_client, read_capped

__all__ = ["SEND_PATH", "SmsAdapter", "SmsRefused"]

SEND_PATH = "/sms/v1/send"
MAX_RESPONSE = 64 * 1024
#: gateway codes that mean "not now" (rate or quota control), retried later
THROTTLED = frozenset({"isv.BUSINESS_LIMIT_CONTROL", "Throttling", "Throttling.User"})


class SmsRefused(Exception):
    """The gateway refused the message for good (a permanent failure, shown to the agent)."""


def _phone(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return normalise_phone(value)
    except ValueError:
        return None


async def _recipient(session: Any, conversation: Conversation) -> str:
    number = _phone(conversation.thread_key)
    if number is not None:
        return number
    rows = await session.scalars(
        select(CustomerIdentity.value)
        .where(CustomerIdentity.customer_id == conversation.customer_id,
               CustomerIdentity.kind == "phone")
        .order_by(CustomerIdentity.verified.desc(), CustomerIdentity.id)
    )  # fmt: skip
    customer = await session.get(Customer, conversation.customer_id)
    for candidate in [*rows, customer.phone if customer is not None else None]:
        number = _phone(candidate)
        if number is not None:
            return number
    raise SmsRefused("the customer has no mobile number to text")


async def _plan(db: Database, outgoing: Outgoing, settings: SmsSettings) -> str:
    """The E.164 number to text; checks the length and notes both on the message."""
    async with db.job(outgoing.tenant_id) as session:
        conversation = await session.get(Conversation, outgoing.conversation_id)
        message = await session.get(Message, outgoing.message_id)
        if conversation is None or message is None:
            raise SmsRefused("the conversation or the message is gone")
        number = await _recipient(session, conversation)
        sign = settings.sign_name if number.startswith("+86") else None
        seg = check_length(outgoing.text, sign, settings.max_segments)
        if conversation.thread_key is None:
            conversation.thread_key = number
        message.content = {**(message.content or {}), "sms": {
            "to": number, "segments": seg.segments, "encoding": seg.encoding}}  # fmt: skip
    return number


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(1.0, float(response.headers.get("retry-after", "")))
    except ValueError:
        return None


def _outcome(response: httpx.Response, raw: bytes) -> Delivered:
    try:
        data = json.loads(raw) if raw else {}
    except (ValueError, UnicodeDecodeError):
        data = {}
    data = data if isinstance(data, dict) else {}
    code, text = str(data.get("code") or ""), str(data.get("message") or "")[:200]
    said = f"{code}: {text}" if code else raw[:200].decode("utf-8", "replace")
    status = response.status_code
    if status >= 500 or status == 429:
        raise TransientFailure(f"SMS gateway answered HTTP {status} ({said})",
                               _retry_after(response))  # fmt: skip
    if status in (401, 403):
        raise SmsRefused(f"SMS gateway refused the credentials: HTTP {status} ({said})")
    if status >= 300:
        raise SmsRefused(f"SMS gateway refused the request: HTTP {status} ({said})")
    if code == "OK" and data.get("biz_id"):
        return Delivered(external_id=str(data["biz_id"])[:300], status="sent")
    if code in THROTTLED:
        raise TransientFailure(f"SMS gateway is throttling ({said})", 60.0)
    raise SmsRefused(f"SMS gateway refused the message ({said or 'no code'})")


class SmsAdapter:
    kind = "sms"

    async def deliver(self, db: Database, outgoing: Outgoing) -> Delivered:
        try:
            settings = load_settings(outgoing.inbox_settings)
        except ValidationError as exc:
            raise SmsRefused(f"the inbox's SMS settings are invalid: {exc}") from None
        secret = inbox_secrets(keyring_for(db), blob=outgoing.inbox_secrets,
                               tenant_id=outgoing.tenant_id,
                               inbox_id=outgoing.inbox_id).get("access_key_secret")  # fmt: skip
        if not secret:
            raise SmsRefused("the inbox has no AccessKeySecret (settings.access_key_secret)")
        number = await _plan(db, outgoing, settings)
        mainland = number.startswith("+86")
        body = json.dumps({
            "phone_number": number[3:] if mainland else number, "sign_name": settings.sign_name,
            "content": outgoing.text, "out_id": str(outgoing.message_id),
        }, ensure_ascii=False, separators=(",", ":")).encode()  # fmt: skip
        signer = SigningHandler(signing_auth(settings, secret))
        client = make_client(policy_of(settings.allow_private), timeout=settings.timeout_seconds)
        async with client:
            request = client.build_request(
                "POST", settings.endpoint(SEND_PATH), content=body,
                headers={"Content-Type": "application/json; charset=utf-8"},
            )  # fmt: skip
            request = await signer.apply(request)
            try:
                response = await client.send(request, stream=True)
                raw = await read_capped(response, MAX_RESPONSE, truncate=True)
            except BlockedDestination as exc:
                raise SmsRefused(f"the gateway URL is not allowed: {exc}") from None
            except ResponseTooLarge as exc:  # pragma: no cover - truncate=True
                raise SmsRefused(str(exc)) from None
            except httpx.TimeoutException:
                raise TransientFailure(
                    f"SMS gateway did not answer within {settings.timeout_seconds:g} s"
                ) from None
            except httpx.HTTPError as exc:
                raise TransientFailure(
                    f"SMS gateway unreachable: {exc or type(exc).__name__}"
                ) from None
        return _outcome(response, raw)


register_adapter(SmsAdapter())
