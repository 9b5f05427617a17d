"""What the SMS and API channels share: the keyring for jobs, and finding the inbox of an
unauthenticated channel endpoint (the signature is the authentication).

Jobs only receive a :class:`~relaydesk.kit.db.Database`; the process binds its keyring to it
once (the app's lifespan, the worker at start-up, a test)::

    bind_keyring(db, app.state.keyring)

Unbound, the keyring is made from the settings (the same keys the API process uses).
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.conversations.models import Inbox
from relaydesk.errors import NotFound
from relaydesk.kit.crypto import Keyring
from relaydesk.kit.db import Database, scope_session, unscoped
from relaydesk.tenancy.models import Tenant

__all__ = ["bind_keyring", "channel_inbox", "keyring_for"]

_KEY = "channels.keyring"


def bind_keyring(db: Database, keyring: Keyring) -> Keyring:
    db.extensions[_KEY] = keyring
    return keyring


def keyring_for(db: Database) -> Keyring:
    keyring: Keyring | None = db.extensions.get(_KEY)
    if keyring is None:
        from relaydesk.config import get_settings

        keyring = db.extensions[_KEY] = Keyring.from_settings(get_settings())
    return keyring


async def channel_inbox(session: AsyncSession, inbox_id: uuid.UUID, channel: str) -> Inbox:
    """The enabled ``channel`` inbox of an active tenant, and scope ``session`` to its tenant.

    Anything else (unknown id, another channel, disabled inbox or tenant) is one 404, so the
    URL space cannot be probed.
    """
    with unscoped(session):
        inbox = await session.get(Inbox, inbox_id)
        tenant = await session.get(Tenant, inbox.tenant_id) if inbox is not None else None
    if inbox is None or tenant is None or inbox.channel != channel or not inbox.enabled:
        raise NotFound(f"no {channel} inbox {inbox_id} here")
    if not tenant.is_active:
        raise NotFound(f"no {channel} inbox {inbox_id} here")
    scope_session(session, inbox.tenant_id)
    return inbox
