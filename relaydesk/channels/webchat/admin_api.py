"""``/api/v1/channels/web-chat/{inbox_id}/...``: the snippet and the identity secret (admins)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request, status

from relaydesk.audit import service as audit
from relaydesk.auth.deps import Require
from relaydesk.auth.principal import Principal
from relaydesk.channels import PURPOSE, inbox_secrets
from relaydesk.channels.webchat.demo_page import snippet
from relaydesk.channels.webchat.schemas import IdentitySecretOut, SnippetOut
from relaydesk.channels.webchat.settings import IDENTITY_SECRET, load_settings
from relaydesk.channels.webchat.tokens import new_identity_secret
from relaydesk.conversations.models import Inbox
from relaydesk.conversations.repository import InboxRepository
from relaydesk.errors import Conflict
from relaydesk.kit.crypto import Keyring, bind
from relaydesk.kit.db import DbSession, utcnow
from relaydesk.kit.schemas import COMMON_ERRORS, error_responses

router = APIRouter(prefix="/channels/web-chat", tags=["channels"])

InboxAdmin = Annotated[Principal, Depends(Require("inboxes.manage"))]
ERRORS = {**COMMON_ERRORS, **error_responses(409)}


async def _web_chat_inbox(session: DbSession, inbox_id: uuid.UUID) -> Inbox:
    inbox = await InboxRepository(session).get_or_404(inbox_id)
    if inbox.channel != "web_chat":
        raise Conflict(f"inbox {inbox.name!r} is a {inbox.channel} inbox, not web chat")
    return inbox


@router.post(
    "/{inbox_id}/identity-secret",
    response_model=IdentitySecretOut,
    status_code=status.HTTP_201_CREATED,
    responses=ERRORS,
    summary="Generate (or rotate) the identity-verification secret; shown once",
)
async def rotate_identity_secret(
    inbox_id: uuid.UUID, request: Request, principal: InboxAdmin, session: DbSession
) -> IdentitySecretOut:
    """The site's server signs its user ids with this secret (``user_hash``). A new secret
    replaces the old one at once: update the site's configuration right after."""
    inbox = await _web_chat_inbox(session, inbox_id)
    keyring: Keyring = request.app.state.keyring
    secrets = inbox_secrets(keyring, inbox)
    rotated = IDENTITY_SECRET in secrets
    secrets[IDENTITY_SECRET] = secret = new_identity_secret()
    aad = bind(PURPOSE, inbox.tenant_id, inbox.id)
    inbox.secrets_encrypted = keyring.encrypt_json(secrets, aad)
    await session.flush()
    await audit.record(
        session,
        tenant_id=inbox.tenant_id,
        action="inbox.secret_rotated",
        actor=principal.actor,
        target_type="inbox",
        target_id=inbox.id,
        details={"name": inbox.name, "secret": IDENTITY_SECRET, "rotated": rotated},
    )
    return IdentitySecretOut(secret=secret, created_at=utcnow())


@router.get(
    "/{inbox_id}/snippet",
    response_model=SnippetOut,
    responses=ERRORS,
    summary="The <script> tag that embeds this inbox's chat widget",
)
async def widget_snippet(
    inbox_id: uuid.UUID, request: Request, principal: InboxAdmin, session: DbSession
) -> SnippetOut:
    inbox = await _web_chat_inbox(session, inbox_id)
    settings = load_settings(inbox.settings)
    url = str(request.base_url).rstrip("/") + "/widget/widget.js"
    keyring: Keyring = request.app.state.keyring
    return SnippetOut(
        html=snippet(url, inbox.id),
        script_url=url,
        identity_verification=settings.identity_verification,
        secret_set=IDENTITY_SECRET in inbox_secrets(keyring, inbox),
    )
