"""The API channel adapter: agents' replies are POSTed to the app's webhook, signed.

The body is ``{"type": "message.created", "message_id", "conversation_id", "inbox_id",
"user": {"id"}, "text", "content_type", "content", "attachments", "author", "created_at"}``,
signed like Standard Webhooks with the inbox's secret; ``webhook-id`` is ``msg_`` + the
reply's id, the same on every retry, so the app can drop repeats. The request goes through
the SSRF-safe client (no redirects). The app's answer: 2xx → ``delivered``; 408, 425, 429,
5xx, a timeout or no connection → :class:`TransientFailure` (queued, retried, reason shown);
any other status → failed with the status and the start of the app's answer.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
from pydantic import ValidationError
from sqlalchemy import select

from relaydesk.auth.models import User
from relaydesk.channels import inbox_secrets
from relaydesk.channels.api_channel.schemas import outgoing_payload
from relaydesk.channels.api_channel.settings import ApiChannelSettings, load_settings
from relaydesk.channels.sms.runtime import keyring_for
from relaydesk.channels.sms.settings import policy_of
from relaydesk.conversations.delivery import Delivered, Outgoing, TransientFailure, register_adapter
from relaydesk.conversations.models import Conversation, Message
from relaydesk.customers.models import CustomerIdentity
from relaydesk.kit.db import Database
from relaydesk.kit.safehttp import BlockedDestination, make_client, read_capped
from relaydesk.webhooks.signing import headers as signed_headers
from relaydesk.webhooks.signing import parse_secret

__all__ = ["ApiChannelAdapter", "WebhookRefused", "webhook_id"]

MAX_RESPONSE = 16 * 1024
RETRIED_STATUSES = frozenset({408, 425, 429})
USER_AGENT = "Relaydesk-API-Channel/1"


class WebhookRefused(Exception):
    """The reply cannot be delivered (a permanent failure, shown to the agent)."""


def webhook_id(outgoing: Outgoing) -> str:
    return f"msg_{outgoing.message_id.hex}"


async def _payload(db: Database, outgoing: Outgoing, settings: ApiChannelSettings) -> bytes:
    async with db.job(outgoing.tenant_id) as session:
        conversation = await session.get(Conversation, outgoing.conversation_id)
        message = await session.get(Message, outgoing.message_id)
        if conversation is None or message is None:
            raise WebhookRefused("the conversation or the message is gone")
        user_id = conversation.thread_key or await session.scalar(
            select(CustomerIdentity.value)
            .where(CustomerIdentity.customer_id == conversation.customer_id,
                   CustomerIdentity.kind == "app_user",
                   CustomerIdentity.namespace == settings.app_id)
            .order_by(CustomerIdentity.verified.desc(), CustomerIdentity.id).limit(1)
        )  # fmt: skip
        if not user_id:
            raise WebhookRefused(f"the customer has no user id in the app {settings.app_id!r}")
        if conversation.thread_key is None:
            conversation.thread_key = user_id
        author: dict[str, Any] = {"type": message.author_type, "name": None}
        if message.author_type == "agent" and message.author_id:
            author_id = _uuid(message.author_id)
            user = await session.get(User, author_id) if author_id is not None else None
            author["name"] = user.display_name if user is not None else None
        body = outgoing_payload(
            message_id=str(message.id), conversation_id=str(conversation.id),
            inbox_id=str(outgoing.inbox_id), user={"id": user_id}, text=outgoing.text,
            content_type=outgoing.content_type, content=outgoing.content,
            attachments=outgoing.attachments, author=author,
            created_at=message.created_at.isoformat(),
        )  # fmt: skip
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(1.0, float(response.headers.get("retry-after", "")))
    except ValueError:
        return None


class ApiChannelAdapter:
    kind = "api"

    async def deliver(self, db: Database, outgoing: Outgoing) -> Delivered:
        try:
            settings = load_settings(outgoing.inbox_settings)
        except ValidationError as exc:
            raise WebhookRefused(f"the inbox's API channel settings are invalid: {exc}") from None
        if settings.webhook_url is None:
            raise WebhookRefused("the inbox has no webhook_url to deliver replies to")
        secret = inbox_secrets(keyring_for(db), blob=outgoing.inbox_secrets,
                               tenant_id=outgoing.tenant_id,
                               inbox_id=outgoing.inbox_id).get("signing_secret")  # fmt: skip
        if not secret:
            raise WebhookRefused("the inbox has no signing secret")
        body = await _payload(db, outgoing, settings)
        msg_id = webhook_id(outgoing)
        headers = signed_headers([parse_secret(secret)], msg_id, int(time.time()), body)
        headers |= {"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT}
        client = make_client(policy_of(settings.allow_private), timeout=settings.timeout_seconds)
        async with client:
            try:
                request = client.build_request("POST", settings.webhook_url, content=body,
                                               headers=headers)  # fmt: skip
                response = await client.send(request, stream=True)
                raw = await read_capped(response, MAX_RESPONSE, truncate=True)
            except BlockedDestination as exc:
                raise WebhookRefused(f"the webhook URL is not allowed: {exc}") from None
            except httpx.TimeoutException:
                raise TransientFailure(
                    f"the app's webhook did not answer within {settings.timeout_seconds:g} s"
                ) from None
            except httpx.HTTPError as exc:
                raise TransientFailure(
                    f"the app's webhook is unreachable: {exc or type(exc).__name__}"
                ) from None
        status = response.status_code
        said = raw[:200].decode("utf-8", "replace").strip()
        if 200 <= status < 300:
            return Delivered(external_id=msg_id, status="delivered")
        if status >= 500 or status in RETRIED_STATUSES:
            raise TransientFailure(f"the app's webhook answered HTTP {status}: {said}",
                                   _retry_after(response))  # fmt: skip
        raise WebhookRefused(f"the app's webhook refused the reply: HTTP {status}: {said}")


register_adapter(ApiChannelAdapter())
