"""A customer's timeline: messages across every conversation and channel, call records,
internal notes (only for callers holding ``conversations.read``) and the external events
linked to the customer (:mod:`relaydesk.customer360.links`), newest first.

A survivor of a merge shows the merged customers' items too. Pages are cursored on the
time-ordered ids of both sources (message ids, and event links whose ids carry the event's
time), so a page costs two indexed range reads of ``limit + 1`` rows and a merge.

Masking by role: without ``customers.pii.view``, personal data in message text and call
details is masked (free-text detection: phones, ID and card numbers, e-mails), and event
payloads are masked at the catalogue's personal-data fields (``EventSpec.pii``) and by the
same detection everywhere else, exactly as the event log and outbound webhooks mask them.
Conversations are read through the tenant (and department) guard: a department-scoped
agent sees the messages of the conversations of their departments.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.auth.principal import Principal
from relaydesk.conversations.models import Conversation, Message
from relaydesk.customer360.models import CustomerEvent
from relaydesk.customer360.repository import TimelineRepository
from relaydesk.customer360.schemas import TimelineItem, TimelineKind
from relaydesk.customers.repository import CustomerRepository
from relaydesk.events.models import OutboxEvent
from relaydesk.kit.masking import detect_and_mask_text
from relaydesk.kit.pagination import PageParams, encode_cursor
from relaydesk.webhooks.payloads import mask_payload, pii_paths

__all__ = ["ALL_KINDS", "NOTES_PERMISSION", "TimelineService"]

ALL_KINDS: frozenset[TimelineKind] = frozenset({"message", "note", "call", "event"})
NOTES_PERMISSION = "conversations.read"
PII_VIEW = "customers.pii.view"
BODY_LIMIT = 1000


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return detect_and_mask_text(value)
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


class TimelineService:
    def __init__(self, session: AsyncSession, principal: Principal) -> None:
        self.session = session
        self.principal = principal
        self.repo = TimelineRepository(session)
        self.clear = principal.has(PII_VIEW)

    async def page(
        self, customer_id: uuid.UUID, params: PageParams, kinds: Iterable[TimelineKind] = ALL_KINDS
    ) -> tuple[list[TimelineItem], str | None]:
        customer = await CustomerRepository(self.session).get_live_or_404(customer_id)
        wanted = set(kinds)
        if not self.principal.has(NOTES_PERMISSION):
            wanted.discard("note")
        ids = await self.repo.customer_ids(customer.id)
        fetch = params.limit + 1
        items: list[TimelineItem] = []
        if wanted & {"message", "note", "call"}:
            rows = await self.repo.messages(
                ids, before=params.cursor, limit=fetch, messages="message" in wanted,
                calls="call" in wanted, notes="note" in wanted,
            )  # fmt: skip
            items += [self._message(m, c) for m, c in rows]
        if "event" in wanted:
            items += [self._event(link, row) for link, row in
                      await self.repo.events(ids, before=params.cursor, limit=fetch)]  # fmt: skip
        items.sort(key=lambda item: item.id, reverse=True)
        if len(items) > params.limit:
            items = items[: params.limit]
            return items, encode_cursor(items[-1].id)
        return items, None

    def _text(self, text: str | None) -> tuple[str | None, bool]:
        if text is None:
            return None, False
        shown = text if self.clear else detect_and_mask_text(text)  # whole numbers, then cut
        cut = len(shown) > BODY_LIMIT
        return (shown[:BODY_LIMIT] if cut else shown), cut

    def _message(self, message: Message, conversation: Conversation) -> TimelineItem:
        if message.content_type == "call":
            kind: TimelineKind = "call"
        elif message.direction == "internal":
            kind = "note"
        else:
            kind = "message"
        body, cut = self._text(message.body)
        content = None
        if kind == "call":
            content = dict(message.content or {}) if self.clear else _scrub(message.content or {})
        return TimelineItem(
            id=message.id, kind=kind, at=message.created_at,
            customer_id=conversation.customer_id, conversation_id=conversation.id,
            channel=conversation.channel, direction=message.direction,
            author_type=message.author_type, author_id=message.author_id,
            content_type=message.content_type, body=body, truncated=cut, content=content,
            attachments=len(message.attachments or []), status=message.status,
            masked=not self.clear,
        )  # fmt: skip

    def _event(self, link: CustomerEvent, row: OutboxEvent | None) -> TimelineItem:
        payload: dict[str, Any] | None = None
        source: str | None = None
        if row is not None:
            raw = dict(row.payload or {})
            payload = raw if self.clear else mask_payload(raw, pii_paths(row.type))
            origin = row.source or {}
            source = origin.get("instance") or origin.get("kind")
        return TimelineItem(
            id=link.id, kind="event", at=link.occurred_at, customer_id=link.customer_id,
            event_id=link.event_id, event_type=link.type, source=source, payload=payload,
            matched_by=link.matched_by, masked=not self.clear,
        )  # fmt: skip
