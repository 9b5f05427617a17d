"""The demo organisation's SMS inbox, connected to the demo SMS gateway (``relaydesk demo``).

:func:`seed_sms_inbox` creates the inbox once (idempotent by name) with the gateway's
published demo AccessKey; :func:`sms_callback_urls` says where the gateway must push customers'
messages and delivery reports (``start_all`` hands them to the gateway it starts).
"""

from __future__ import annotations

import uuid

from sqlalchemy import select

from relaydesk.channels import apply_settings
from relaydesk.config import Settings
from relaydesk.conversations.models import Inbox
from relaydesk.demo_systems.sms_gateway import SMS_ACCESS_KEY_ID, SMS_ACCESS_KEY_SECRET
from relaydesk.kit.crypto import Keyring
from relaydesk.kit.db import Database, scope_session
from relaydesk.tenancy.models import Tenant

__all__ = ["DEMO_SMS_INBOX", "seed_sms_inbox", "sms_callback_urls"]

DEMO_SMS_INBOX = "短信客服"


async def seed_sms_inbox(
    settings: Settings, *, gateway_url: str, tenant_slug: str = "demo"
) -> uuid.UUID:
    """The demo tenant's SMS inbox (created on first use); returns its id."""
    import relaydesk.channels.sms  # noqa: F401 - registers the sms settings model

    db = Database.from_url(settings.database_url)
    try:
        async with db.job(system=True) as session:
            tenant_id = await session.scalar(select(Tenant.id).where(Tenant.slug == tenant_slug))
            if tenant_id is None:
                raise LookupError(f"no tenant {tenant_slug!r}: seed the demo first")
            scope_session(session, tenant_id)
            found = await session.scalar(select(Inbox).where(Inbox.name == DEMO_SMS_INBOX))
            if found is not None:
                return found.id
            inbox = Inbox(tenant_id=tenant_id, name=DEMO_SMS_INBOX, channel="sms")
            apply_settings(inbox, {
                "gateway_url": gateway_url, "access_key_id": SMS_ACCESS_KEY_ID,
                "access_key_secret": SMS_ACCESS_KEY_SECRET, "sign_name": "云栖优选",
                "sender_number": "1069012345678", "allow_private": ["127.0.0.1", "::1"],
            }, Keyring.from_settings(settings))  # fmt: skip
            session.add(inbox)
            await session.flush()
            return inbox.id
    finally:
        await db.dispose()


def sms_callback_urls(host: str, port: int, inbox_id: uuid.UUID) -> dict[str, str]:
    """The gateway's ``inbound_url`` and ``report_url`` for Relaydesk on ``host:port``."""
    base = f"http://{host}:{port}/api/v1/channels/sms/{inbox_id}"
    return {"inbound_url": f"{base}/inbound", "report_url": f"{base}/reports"}
