"""``POST /api/v1/channels/api/{inbox_id}/messages`` (an app posts its user's message, signed)
and ``POST /api/v1/channels/api/{inbox_id}/signing-secret`` (an admin makes the secret).

The messages endpoint has no user authentication: the Standard Webhooks signature made with
the inbox's ``whsec_`` secret is the authentication. Unknown or disabled inbox → 404 (one
answer for all); unsigned, forged or stale → 401 with the reason, nothing stored; bad body →
400/422 naming the field. 201 ``created``, or 200 ``duplicate`` when the message id (or the
webhook-id) was received before.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status

from relaydesk.audit import service as audit
from relaydesk.auth.deps import Require
from relaydesk.auth.principal import Principal
from relaydesk.channels import apply_settings
from relaydesk.channels.api_channel.inbound import parse_message, receive, verify
from relaydesk.channels.api_channel.schemas import AppMessageOut, SigningSecretOut
from relaydesk.channels.api_channel.settings import load_settings
from relaydesk.channels.ingress import signed_request
from relaydesk.conversations.repository import InboxRepository
from relaydesk.errors import Conflict
from relaydesk.integrations.api import get_keyring
from relaydesk.kit.db import DbSession
from relaydesk.kit.schemas import COMMON_ERRORS, error_responses
from relaydesk.webhooks.signing import generate_secret

__all__ = ["router"]

router = APIRouter(prefix="/channels/api", tags=["channels"])
InboxAdmin = Annotated[Principal, Depends(Require("inboxes.manage"))]

_SIGNED_DOC = """
Signed like Standard Webhooks (https://www.standardwebhooks.com) with the inbox's `whsec_`
secret: `webhook-id` (unique per message; a resend keeps it), `webhook-timestamp` (Unix
seconds, within the inbox's tolerance, default 300 s) and `webhook-signature: v1,<base64 of
HMAC-SHA256(secret bytes, "{id}.{timestamp}.{body}")>`. Body:
`{"message_id", "user": {"id", "openid", "app_id", "unionid", "name", "phone", "email"},
"text", "attachments": [{"url", "content_type", "name", "size"}], "sent_at"}`.
"""


@router.post(
    "/{inbox_id}/messages", status_code=status.HTTP_201_CREATED, response_model=AppMessageOut,
    summary="An app posts its user's message (signed)", description=_SIGNED_DOC,
    responses={200: {"model": AppMessageOut, "description": "Duplicate: received before"},
               **error_responses(400, 401, 404, 413, 422, 500)},
)  # fmt: skip
async def post_app_message(
    inbox_id: uuid.UUID, request: Request, response: Response, session: DbSession
) -> AppMessageOut:
    inbox, settings, secret, incoming = await signed_request(
        request, session, inbox_id, "api", label="API", load_settings=load_settings,
        credential="signing_secret",
    )  # fmt: skip
    body = incoming.body
    verification = verify(settings, secret, incoming)
    message = parse_message(body)
    received = await receive(session, inbox, settings, message, verification)
    if received.duplicate:
        response.status_code = status.HTTP_200_OK
    return AppMessageOut(
        status="duplicate" if received.duplicate else "created",
        message_id=str(received.message.external_id),
        conversation_id=received.conversation.id, relaydesk_message_id=received.message.id,
        customer_id=received.conversation.customer_id,
    )  # fmt: skip


@router.post("/{inbox_id}/signing-secret", response_model=SigningSecretOut,
             responses=COMMON_ERRORS)  # fmt: skip
async def rotate_signing_secret(
    inbox_id: uuid.UUID, request: Request, principal: InboxAdmin, session: DbSession
) -> SigningSecretOut:
    """A new `whsec_` secret for an API inbox, **shown once**; the previous one stops working
    at once (both directions)."""
    inbox = await InboxRepository(session).get_or_404(inbox_id)
    if inbox.channel != "api":
        raise Conflict(f"inbox {inbox.name!r} is a {inbox.channel} inbox, not an api inbox")
    secret = generate_secret()
    apply_settings(inbox, {**(inbox.settings or {}), "signing_secret": secret},
                   get_keyring(request))  # fmt: skip
    await session.flush()
    await audit.record(session, tenant_id=inbox.tenant_id, action="inbox.secret_rotated",
                       actor=principal.actor, target_type="inbox", target_id=inbox.id,
                       details={"name": inbox.name, "secret": "signing_secret"})  # fmt: skip
    return SigningSecretOut(signing_secret=secret)
