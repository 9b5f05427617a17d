"""The e-mail channel adapter: agents' replies go out over the inbox's SMTP server.

A reply is addressed to the address the customer last wrote from in this conversation (else
the customer's e-mail), answers the conversation's latest mail (In-Reply-To, References with
the thread's root first) and carries a Message-ID made from the message's id
(``<rd.<hex>@<inbox domain>>``): a retried send has the same id, so the receiving side sees
one mail, and bounces and the customer's answers find the reply by it. A conversation an
agent starts gets its thread key from its first mail.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select

from relaydesk.channels import inbox_secrets
from relaydesk.channels.email.runtime import email_runtime
from relaydesk.channels.email.settings import EmailSettings, load_settings, ssl_context
from relaydesk.channels.email.smtp import Attachment, Composed, compose, send
from relaydesk.conversations.delivery import Delivered, Outgoing, register_adapter
from relaydesk.conversations.models import Conversation, Message
from relaydesk.customers.models import Customer, CustomerIdentity
from relaydesk.kit.db import Database

__all__ = ["EmailAdapter", "reply_message_id"]

MAX_REFERENCES = 20
_RE = re.compile(r"^\s*(re|aw|sv|回复|答复)\s*[:：]", re.I)


def reply_message_id(outgoing: Outgoing, settings: EmailSettings) -> str:
    return f"<rd.{outgoing.message_id.hex}@{settings.domain}>"


def _references(previous: Message | None, root: str | None) -> list[str]:
    refs: list[str] = []
    if previous is not None:
        content = previous.content or {}
        if previous.direction == "in":
            refs = list(content.get("references") or [])
        else:
            refs = list((content.get("email") or {}).get("references") or [])
        refs.append(previous.external_id or "")
    if root:
        refs.insert(0, root)
    unique = list(dict.fromkeys(r for r in refs if r))
    if len(unique) > MAX_REFERENCES:
        unique = [unique[0], *unique[-(MAX_REFERENCES - 1) :]]
    return unique


async def _recipient(
    session: Any, customer_id: Any, last_in: Message | None
) -> tuple[str, str | None]:
    sender = ((last_in.content or {}).get("from") or {}) if last_in is not None else {}
    if sender.get("address"):
        return str(sender["address"]), sender.get("name")
    customer = await session.get(Customer, customer_id)
    if customer is not None and customer.email:
        return customer.email, None
    identity = await session.scalar(
        select(CustomerIdentity.value)
        .where(CustomerIdentity.customer_id == customer_id, CustomerIdentity.kind == "email")
        .order_by(CustomerIdentity.verified.desc(), CustomerIdentity.id)
        .limit(1)
    )
    if identity is None:
        raise ValueError("the customer has no e-mail address to reply to")
    return str(identity), None


async def _plan(
    db: Database, outgoing: Outgoing, settings: EmailSettings
) -> tuple[Composed, str | None]:
    async with db.job(outgoing.tenant_id) as session:
        conversation = await session.get(Conversation, outgoing.conversation_id)
        message = await session.get(Message, outgoing.message_id)
        if conversation is None or message is None:
            raise ValueError("the conversation or the message is gone")
        mine = Message.conversation_id == conversation.id
        previous = await session.scalar(
            select(Message)
            .where(
                mine,
                Message.id != message.id,
                Message.external_id.is_not(None),
                Message.direction.in_(("in", "out")),
            )
            .order_by(Message.id.desc())
            .limit(1)
        )
        last_in = await session.scalar(
            select(Message)
            .where(mine, Message.direction == "in")
            .order_by(Message.id.desc())
            .limit(1)
        )
        to, to_name = await _recipient(session, conversation.customer_id, last_in)
        message_id = reply_message_id(outgoing, settings)
        subject = conversation.subject or "(no subject)"
        if previous is not None and not _RE.match(subject):
            subject = f"Re: {subject}"
        composed = Composed(
            message_id=message_id,
            to=to,
            subject=subject[:300],
            in_reply_to=previous.external_id if previous is not None else None,
            references=_references(previous, conversation.thread_key),
        )
        if conversation.thread_key is None:
            conversation.thread_key = message_id
        message.content = {
            **(message.content or {}),
            "email": {
                "message_id": message_id,
                "to": to,
                "subject": composed.subject,
                "in_reply_to": composed.in_reply_to,
                "references": composed.references,
            },
        }
    return composed, to_name


class EmailAdapter:
    kind = "email"

    async def deliver(self, db: Database, outgoing: Outgoing) -> Delivered:
        runtime = email_runtime(db)
        try:
            settings = load_settings(outgoing.inbox_settings)
        except ValidationError as exc:
            raise ValueError(f"the inbox's e-mail settings are invalid: {exc}") from None
        secrets = inbox_secrets(
            runtime.keyring,
            blob=outgoing.inbox_secrets,
            tenant_id=outgoing.tenant_id,
            inbox_id=outgoing.inbox_id,
        )
        composed, to_name = await _plan(db, outgoing, settings)
        files = []
        for item in outgoing.attachments:
            if item.get("storage_key") and not item.get("refused"):
                data = await runtime.storage.get(str(item["storage_key"]))
                files.append(
                    Attachment(
                        str(item.get("filename") or "attachment"),
                        str(item.get("content_type") or "application/octet-stream"),
                        data,
                    )
                )
        message = compose(settings, composed, outgoing.text, to_name=to_name, attachments=files)
        await send(
            settings,
            secrets.get("smtp.password"),
            message,
            timeout=runtime.timeout,
            ssl_context=ssl_context(settings),
        )
        return Delivered(external_id=composed.message_id, status="sent")


register_adapter(EmailAdapter())
