"""The first steps of every signed channel callback (SMS gateway, call centre, API channel):
the inbox of that channel, its settings, its secret and the request as the verifier sees it.

A broken inbox configuration is the administrator's to fix, so it answers
:class:`CallbackMisconfigured` (naming what is wrong) rather than a signature error.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Request
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.channels import inbox_secrets
from relaydesk.conversations.models import Inbox
from relaydesk.errors import NotFound
from relaydesk.integrations.api import get_keyring
from relaydesk.integrations.callbacks import CallbackMisconfigured, IncomingCallback
from relaydesk.kit.crypto import DecryptionFailed
from relaydesk.kit.db import scope_session, unscoped
from relaydesk.tenancy.models import Tenant

__all__ = ["channel_inbox", "signed_request"]

S = TypeVar("S")


async def signed_request(
    request: Request,
    session: AsyncSession,
    inbox_id: uuid.UUID,
    channel: str,
    *,
    label: str,
    load_settings: Callable[[dict[str, Any]], S],
    credential: str,
) -> tuple[Inbox, S, str | None, IncomingCallback]:
    """(inbox, its settings, its secret ``credential``, the request) for ``verify``.

    Unknown, disabled or other-channel inbox: 404 (:func:`channel_inbox`).
    """
    inbox = await channel_inbox(session, inbox_id, channel)
    try:
        settings = load_settings(inbox.settings or {})
    except ValidationError as exc:
        raise CallbackMisconfigured(f"the {label} inbox's settings are invalid: {exc}") from None
    try:
        secret = inbox_secrets(get_keyring(request), inbox).get(credential)
    except DecryptionFailed as exc:
        raise CallbackMisconfigured(f"the inbox's secrets cannot be decrypted: {exc}") from None
    body = await request.body()
    scope = request.scope
    incoming = IncomingCallback(
        scope["method"], scope["path"], request.headers, scope["query_string"].decode("latin-1"),
        body, request.headers.get("content-type", ""),
    )  # fmt: skip
    return inbox, settings, secret, incoming


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
