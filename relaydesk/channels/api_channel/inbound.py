"""An app's user writes: verify the Standard Webhooks signature, resolve the user, store.

The signature covers ``webhook-id``, ``webhook-timestamp`` and the body; a timestamp outside
the inbox's tolerance is refused, and within it a replay is a duplicate of the message's id
(``message_id``, or the ``webhook-id`` when the app sends none) and changes nothing. The app's
user id (and openid / unionid) are **verified** identities: the app, holding the inbox's
secret, vouches for them. Phone and e-mail count as verified only when the inbox trusts the
app's contact details.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError as PydanticValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.audit.service import SYSTEM
from relaydesk.channels.api_channel.schemas import AppMessageIn
from relaydesk.channels.api_channel.settings import ApiChannelSettings
from relaydesk.channels.callbacks import verify_signed
from relaydesk.conversations.models import Conversation, Inbox, Message
from relaydesk.conversations.repository import MessageRepository
from relaydesk.conversations.service import ConversationService
from relaydesk.customers.identities import IdentityError, normalise_identity
from relaydesk.customers.resolution import IdentityClaim, resolve
from relaydesk.errors import BadRequest, ValidationFailed
from relaydesk.integrations.callbacks import (
    IncomingCallback,
    Verification,
)

__all__ = ["Received", "parse_message", "receive", "verify"]


@dataclass
class Received:
    conversation: Conversation
    message: Message
    duplicate: bool


def verify(
    settings: ApiChannelSettings, secret: str | None, incoming: IncomingCallback
) -> Verification:
    return verify_signed(
        incoming, secret, tolerance_seconds=settings.tolerance_seconds,
        missing="this API inbox has no signing secret yet: an administrator has to create one "
        "(POST /api/v1/channels/api/{inbox_id}/signing-secret)",
    )  # fmt: skip


def parse_message(body: bytes) -> AppMessageIn:
    try:
        return AppMessageIn.model_validate_json(body)
    except PydanticValidationError as exc:
        errors = exc.errors()
        if errors and errors[0]["type"] == "json_invalid":
            raise BadRequest("the body is not valid JSON", code="malformed_body") from None
        raise ValidationFailed.from_pydantic(exc) from None


def _invalid(loc: list[str | int], message: str, kind: str = "value_error") -> ValidationFailed:
    where = ".".join(str(p) for p in loc)
    return ValidationFailed(f"{where}: {message}",
                            details=[{"loc": loc, "msg": message, "type": kind}])  # fmt: skip


def claims_of(body: AppMessageIn, settings: ApiChannelSettings) -> list[IdentityClaim]:
    """The user's identities, each checked here so that an error names its field."""
    user, trusted = body.user, settings.trust_contact_details
    wanted: list[tuple[str, str, str | None, str | None, bool]] = [
        ("id", "app_user", user.id, settings.app_id, True),
        ("openid", "openid", user.openid, user.app_id or settings.app_id, True),
        ("unionid", "unionid", user.unionid, settings.unionid_namespace, True),
        ("phone", "phone", user.phone, None, trusted),
        ("email", "email", user.email, None, trusted),
    ]
    claims = []
    for field, kind, value, namespace, verified in wanted:
        if not value:
            continue
        try:
            normalise_identity(kind, value, namespace)
        except IdentityError as exc:
            where = "app_id" if exc.field == "namespace" and field == "openid" else field
            raise _invalid(["body", "user", where], exc.message) from None
        claims.append(IdentityClaim(kind, value, namespace, verified))
    return claims


def _attachments(body: AppMessageIn, settings: ApiChannelSettings) -> list[dict[str, Any]]:
    if len(body.attachments) > settings.max_attachments:
        raise _invalid(["body", "attachments"],
                       f"at most {settings.max_attachments} attachments", "too_long")  # fmt: skip
    out = []
    for index, item in enumerate(body.attachments):
        if item.size is not None and item.size > settings.max_attachment_bytes:
            raise _invalid(["body", "attachments", index, "size"],
                           f"{item.size} bytes is larger than this inbox's limit of "
                           f"{settings.max_attachment_bytes} bytes", "too_large")  # fmt: skip
        out.append({"url": item.url, "content_type": item.content_type, "filename": item.name,
                    "size": item.size})  # fmt: skip
    return out


def _content_type(body: AppMessageIn) -> str:
    if body.text or not body.attachments:
        return "text"
    first = body.attachments[0].content_type or ""
    return "image" if first.startswith("image/") else "file"


async def receive(
    session: AsyncSession, inbox: Inbox, settings: ApiChannelSettings, body: AppMessageIn,
    verification: Verification,
) -> Received:  # fmt: skip
    """Store the message in the caller's transaction (``session`` scoped to the tenant)."""
    external_id = body.message_id or verification.message_id
    if external_id is None:  # pragma: no cover - the verifier requires webhook-id
        raise _invalid(["body", "message_id"], "required", "missing")
    service = ConversationService(session, SYSTEM)
    known = await MessageRepository(session).by_external_id(inbox.id, external_id)
    if known is not None:
        return Received(await service.get(known.conversation_id), known, True)
    claims = claims_of(body, settings)
    attachments = _attachments(body, settings)
    resolution = await resolve(session, inbox.tenant_id, claims, verified=True, source="api",
                               name=body.user.name, actor=SYSTEM)  # fmt: skip
    content = {"api": {"webhook_id": verification.message_id, "user_id": body.user.id,
                       "sent_at": body.sent_at.isoformat() if body.sent_at else None}}  # fmt: skip
    text = body.text or " ".join(f"[{a['filename'] or a['url']}]" for a in attachments)
    conversation, message, duplicate = await service.receive(
        inbox, resolution.customer, text, content_type=_content_type(body), content=content,
        attachments=attachments, external_id=external_id, thread_key=body.user.id,
    )  # fmt: skip
    return Received(conversation, message, duplicate)
