"""One fetched e-mail into the conversation it belongs to (or onto the reply it bounced).

Threading: a mail that answers (In-Reply-To / References) a message this inbox already has
joins that conversation's thread, whose ``thread_key`` is the thread's root Message-ID; a new
mail starts a thread keyed by the first id of its References (or its own Message-ID).

Who wrote: a reply in a known thread from the address of that conversation's customer is that
customer. Anyone else goes through identity resolution with an ``email`` identity that is
**unverified** unless the inbox names its own mail server (``trusted_authserv_id``) and that
server's Authentication-Results header says ``dmarc=pass`` for the sender's domain: a From
header alone proves nothing (docs/channels.md).
"""

from __future__ import annotations

import mimetypes
import uuid
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.audit.service import SYSTEM
from relaydesk.channels.email.html import fold_quoted, html_to_text, sanitise_html
from relaydesk.channels.email.parsing import ParsedMail, RawAttachment, sender_verified
from relaydesk.channels.email.settings import EmailSettings
from relaydesk.channels.email.storage import BlobStorage, attachment_key
from relaydesk.conversations.delivery import set_delivery_state
from relaydesk.conversations.models import Conversation, Inbox, Message
from relaydesk.conversations.schemas import MAX_TEXT
from relaydesk.conversations.service import ConversationService
from relaydesk.customers.models import Customer, CustomerIdentity
from relaydesk.customers.resolution import IdentityClaim, resolve

log = structlog.get_logger(__name__)

__all__ = ["Received", "process_mail", "store_attachments"]

#: refused whatever the allowed types say (they run code when opened)
DANGEROUS_EXTENSIONS = frozenset(
    {
        ".exe",
        ".com",
        ".bat",
        ".cmd",
        ".scr",
        ".pif",
        ".msi",
        ".msp",
        ".js",
        ".jse",
        ".vbs",
        ".vbe",
        ".wsf",
        ".wsh",
        ".ps1",
        ".psm1",
        ".jar",
        ".hta",
        ".cpl",
        ".lnk",
        ".reg",
        ".dll",
        ".sys",
        ".apk",
        ".app",
        ".sh",
        ".iso",
        ".img",
        ".vhd",
    }
)
MAX_HTML = 500_000


@dataclass(frozen=True)
class Received:
    #: "message" | "duplicate" | "bounce" | "ignored"
    outcome: str
    conversation_id: uuid.UUID | None = None
    message_id: uuid.UUID | None = None
    note: str | None = None


def _type_allowed(ctype: str, patterns: list[str]) -> bool:
    for pattern in patterns:
        if pattern.endswith("*") and ctype.startswith(pattern[:-1]):
            return True
        if ctype == pattern:
            return True
    return False


def refusal(att: RawAttachment, settings: EmailSettings, accepted: int) -> str | None:
    """Why an attachment is not stored (None: it is)."""
    size = len(att.data)
    if size > settings.max_attachment_bytes:
        return f"too large: {size} bytes, the limit is {settings.max_attachment_bytes} bytes"
    if accepted >= settings.max_attachments:
        return f"too many attachments: at most {settings.max_attachments} are kept"
    ext = ("." + att.filename.rsplit(".", 1)[1].lower()) if "." in att.filename else ""
    if ext in DANGEROUS_EXTENSIONS:
        return f"file type {ext} is not accepted"
    ctype = att.content_type
    if ctype == "application/octet-stream":
        ctype = mimetypes.guess_type(att.filename)[0] or ctype
    if not _type_allowed(ctype, settings.attachment_types):
        return f"type {ctype} is not accepted"
    return None


async def store_attachments(
    storage: BlobStorage, tenant_id: uuid.UUID, mail: ParsedMail, settings: EmailSettings
) -> list[dict[str, Any]]:
    """Store the acceptable attachments; every attachment gets an entry, refused ones a reason."""
    entries: list[dict[str, Any]] = []
    accepted = 0
    for att in mail.attachments:
        entry: dict[str, Any] = {
            "filename": att.filename,
            "content_type": att.content_type,
            "size": len(att.data),
        }
        if att.inline:
            entry["inline"] = True
        if att.content_id:
            entry["content_id"] = att.content_id.strip("<>")[:200]
        reason = refusal(att, settings, accepted)
        if reason is not None:
            entry["refused"] = reason
        else:
            key, digest = attachment_key(tenant_id, att.data)
            await storage.put(key, att.data, att.content_type)
            entry.update(sha256=digest, storage_key=key)
            accepted += 1
        entries.append(entry)
    return entries


def _content(mail: ParsedMail, quoted: str, verified: bool) -> dict[str, Any]:
    content: dict[str, Any] = {
        "subject": mail.subject,
        "from": {"address": mail.from_address, "name": mail.from_name},
        "to": mail.to,
        "cc": mail.cc,
        "message_id": mail.message_id,
        "in_reply_to": mail.in_reply_to,
        "references": mail.references,
        "date": mail.date,
        "verified_sender": verified,
    }
    if mail.html:
        content["html"] = sanitise_html(mail.html[:MAX_HTML])
    if quoted:
        content["quoted"] = quoted[:MAX_TEXT]
    if mail.auto_submitted:
        content["auto_submitted"] = True
    return content


async def _known_thread(
    session: AsyncSession, inbox_id: uuid.UUID, mail: ParsedMail
) -> Conversation | None:
    ids = mail.thread_ids
    if not ids:
        return None
    rows = list(
        await session.scalars(
            select(Message).where(Message.inbox_id == inbox_id, Message.external_id.in_(ids))
        )
    )
    if not rows:
        return None
    nearest = min(rows, key=lambda m: ids.index(m.external_id or ""))
    return await session.get(Conversation, nearest.conversation_id)


async def _is_customers_address(session: AsyncSession, customer_id: uuid.UUID, addr: str) -> bool:
    customer = await session.get(Customer, customer_id)
    if customer is None or customer.merged_into_id is not None:
        return False
    if (customer.email or "").lower() == addr:
        return True
    found = await session.scalar(
        select(CustomerIdentity.id)
        .where(
            CustomerIdentity.customer_id == customer_id,
            CustomerIdentity.kind == "email",
            CustomerIdentity.value == addr,
        )
        .limit(1)
    )
    return found is not None


async def _bounce(session: AsyncSession, inbox: Inbox, mail: ParsedMail) -> Received:
    bounce = mail.bounce
    assert bounce is not None
    original = None
    if bounce.original_message_id:
        original = await session.scalar(
            select(Message).where(
                Message.inbox_id == inbox.id,
                Message.external_id == bounce.original_message_id,
                Message.direction == "out",
            )
        )
    if original is None:
        log.info("email.bounce_unmatched", inbox_id=str(inbox.id), reason=bounce.reason)
        return Received("ignored", note=f"bounce for an unknown message: {bounce.reason}")
    if bounce.permanent:
        await set_delivery_state(session, original, "failed", f"bounced: {bounce.reason}"[:500])
    else:
        await set_delivery_state(session, original, original.status,
                                 f"delivery delayed: {bounce.reason}"[:500])  # fmt: skip
    await session.flush()
    return Received("bounce", original.conversation_id, original.id, bounce.reason)


async def process_mail(
    session: AsyncSession,
    inbox: Inbox,
    settings: EmailSettings,
    mail: ParsedMail,
    attachments: list[dict[str, Any]],
    *,
    refused: str | None = None,
) -> Received:
    """Store one mail in the caller's transaction (``session`` scoped to the inbox's tenant)."""
    if mail.bounce is not None:
        return await _bounce(session, inbox, mail)
    sender = mail.from_address
    if sender is None:
        return Received("ignored", note="no sender address")
    if sender == settings.from_address:
        return Received("ignored", note="sent by this inbox itself")
    known = await _known_thread(session, inbox.id, mail)
    customer: Customer | None = None
    if known is not None and await _is_customers_address(session, known.customer_id, sender):
        customer = await session.get(Customer, known.customer_id)
    verified = sender_verified(mail, settings.trusted_authserv_id)
    if customer is None:
        resolution = await resolve(
            session,
            inbox.tenant_id,
            [IdentityClaim("email", sender)],
            verified=verified,
            source="email",
            name=mail.from_name,
            actor=SYSTEM,
        )
        customer = resolution.customer
    if known is not None and known.thread_key:
        thread_key = known.thread_key
    else:
        thread_key = (mail.references or mail.in_reply_to or [mail.message_id])[0]
    text = mail.text if mail.text.strip() else html_to_text(mail.html or "")
    body, quoted = fold_quoted(text)
    content = _content(mail, quoted, verified)
    if refused is not None:
        content["refused"] = refused
        body = f"[This e-mail was not accepted: {refused}]"
    if len(body) > MAX_TEXT:
        body, content["truncated"] = body[:MAX_TEXT], True
    conversation, message, duplicate = await ConversationService(session, SYSTEM).receive(
        inbox,
        customer,
        body or "(empty message)",
        content_type="email",
        content=content,
        attachments=attachments,
        external_id=mail.message_id,
        thread_key=thread_key,
        subject=mail.subject or None,
    )
    return Received("duplicate" if duplicate else "message", conversation.id, message.id)
