"""The demo organisation's voice inbox, connected to the demo call centre (``relaydesk demo``).

:func:`seed_voice_inbox` creates the inbox once (idempotent by name) with the call centre's
published demo AppKey; its seats map to the demo logins by e-mail (8001 → agent, 8002 →
supervisor, 8003 → admin). :func:`voice_event_url` says where the call centre must push call
events (``start_all`` hands it to the call centre it starts). :data:`FOLLOW_UP_RULE` is the
demo rule that opens a ticket in the ticket system for every missed inbound call.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from relaydesk.channels import apply_settings
from relaydesk.config import Settings
from relaydesk.conversations.models import Inbox
from relaydesk.demo_systems.callcenter_state import CC_APP_KEY, CC_APP_SECRET
from relaydesk.kit.crypto import Keyring
from relaydesk.kit.db import Database, scope_session
from relaydesk.tenancy.models import Tenant

__all__ = ["DEMO_VOICE_INBOX", "FOLLOW_UP_RULE", "seed_voice_inbox", "voice_event_url"]

DEMO_VOICE_INBOX = "客服热线 400-820-6666"

#: a missed inbound call → a follow-up ticket (priority high) in the ticket system
FOLLOW_UP_RULE: dict[str, Any] = {
    "name": "未接来电回访工单 / missed call follow-up",
    "description": "A customer's call was not answered: open a ticket so someone calls back.",
    "trigger": {"type": "event", "event": "call.ended"},
    "conditions": {"all": [
        {"path": "event.payload.answered", "op": "equals", "value": False},
        {"path": "event.payload.direction", "op": "equals", "value": "inbound"},
    ]},
    "actions": [{"id": "ticket", "type": "connector.run", "params": {
        "instance": "tickets", "action": "create_ticket", "params": {
            "customer_mobile": "{{ customer.phone_national }}",
            "customer_name": "{{ customer.name }}",
            "title": "未接来电回访 {{ event.payload.call_id }}",
            "content": "客户来电未接通（座席 {{ event.payload.seat }}），请回电。",
            "category": "其他", "priority": 3, "operator": "Relaydesk 呼叫中心"}}}],
    "on_error": "stop",
    "run_as": ["connector_action:tickets.create_ticket", "customers.read",
               "customers.pii.view"],
}  # fmt: skip


async def seed_voice_inbox(
    settings: Settings, *, callcenter_url: str, tenant_slug: str = "demo"
) -> uuid.UUID:
    """The demo tenant's voice inbox (created on first use); returns its id."""
    import relaydesk.channels.voice  # noqa: F401 - registers the voice settings model

    db = Database.from_url(settings.database_url)
    try:
        async with db.job(system=True) as session:
            tenant_id = await session.scalar(select(Tenant.id).where(Tenant.slug == tenant_slug))
            if tenant_id is None:
                raise LookupError(f"no tenant {tenant_slug!r}: seed the demo first")
            scope_session(session, tenant_id)
            found = await session.scalar(select(Inbox).where(Inbox.name == DEMO_VOICE_INBOX))
            if found is not None:
                return found.id
            inbox = Inbox(tenant_id=tenant_id, name=DEMO_VOICE_INBOX, channel="voice")
            apply_settings(inbox, {
                "base_url": callcenter_url, "app_key": CC_APP_KEY, "app_secret": CC_APP_SECRET,
                "hotline": "4008206666", "dial_instance": "callcenter",
            }, Keyring.from_settings(settings))  # fmt: skip
            session.add(inbox)
            await session.flush()
            return inbox.id
    finally:
        await db.dispose()


def voice_event_url(host: str, port: int, inbox_id: uuid.UUID) -> str:
    """The call centre's ``event_url`` for Relaydesk on ``host:port``."""
    return f"http://{host}:{port}/api/v1/channels/voice/{inbox_id}/events"
