"""Who a web chat visitor is: their identity key, the checks on what they claim (a user id
signed by the site, the pre-chat form), and the customer identity resolution makes of them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from relaydesk.audit.service import Actor
from relaydesk.channels.webchat.runtime import WebChatRuntime
from relaydesk.channels.webchat.schemas import Profile, SessionIn
from relaydesk.channels.webchat.settings import WebChatSettings
from relaydesk.channels.webchat.tokens import VisitorSession, user_hash_valid
from relaydesk.customers.identities import IdentityError, IdentityKey, normalise_identity
from relaydesk.customers.models import Customer
from relaydesk.customers.normalise import normalise_email, normalise_phone
from relaydesk.customers.resolution import IdentityClaim, resolve
from relaydesk.errors import ServiceUnavailable, Unauthorized, ValidationFailed

if TYPE_CHECKING:
    from relaydesk.channels.webchat.service import PublicInbox

__all__ = ["actor", "check_profile", "invalid", "resolve_customer", "verify_user", "visitor_key"]


def invalid(field: str, message: str, kind: str = "value_error") -> ValidationFailed:
    return ValidationFailed(
        f"{field}: {message}", details=[{"loc": ["body", field], "msg": message, "type": kind}]
    )


def actor(visitor: VisitorSession) -> Actor:
    return Actor("anonymous", f"visitor:{visitor.visitor_id}", "web chat visitor")


def user_key(settings: WebChatSettings, user_id: str) -> IdentityKey:
    try:
        return normalise_identity("app_user", user_id, settings.user_namespace)
    except IdentityError as exc:
        raise invalid("user_id", exc.message) from None


def visitor_key(visitor: VisitorSession, settings: WebChatSettings) -> IdentityKey:
    if visitor.user_id is not None:
        return user_key(settings, visitor.user_id)
    return normalise_identity("visitor", visitor.visitor_id)


def verify_user(inbox: PublicInbox, runtime: WebChatRuntime, body: SessionIn) -> str | None:
    """The verified user id (None: anonymous or unverified); refuses forged/missing hashes."""
    settings = inbox.settings
    if body.user_id is None:
        if settings.identity_verification and not settings.allow_anonymous:
            raise Unauthorized(
                "this chat is for signed-in users: give user_id and user_hash",
                code="identity_required",
            )
        return None
    user_key(settings, body.user_id)
    if not settings.identity_verification:
        return None  # kept as an unverified claim
    if not body.user_hash:
        raise Unauthorized(
            "user_hash is required with user_id: the site's server computes "
            "HMAC-SHA256(secret, user_id)",
            code="identity_unverified",
        )
    secret = inbox.identity_secret(runtime)
    if secret is None:
        raise ServiceUnavailable(
            "identity verification is on but the inbox has no secret yet",
            code="identity_not_configured",
        )
    if not user_hash_valid(secret, body.user_id, body.user_hash):
        raise Unauthorized(
            "user_hash does not match user_id: identity refused", code="identity_forged"
        )
    return body.user_id


def check_profile(profile: Profile) -> list[IdentityClaim]:
    claims = []
    if profile.phone:
        try:
            normalise_phone(profile.phone)
        except ValueError as exc:
            raise invalid("phone", str(exc)) from None
        claims.append(IdentityClaim("phone", profile.phone, verified=False))
    if profile.email:
        try:
            normalise_email(profile.email)
        except ValueError as exc:
            raise invalid("email", str(exc)) from None
        claims.append(IdentityClaim("email", profile.email, verified=False))
    return claims


async def resolve_customer(
    session: Any, inbox: PublicInbox, visitor: VisitorSession, profile: Profile | None
) -> Customer:
    claims = [
        IdentityClaim(k.kind, k.value, k.namespace or None, verified=True)
        for k in [visitor_key(visitor, inbox.settings)]
    ]
    if visitor.claimed_user_id is not None:
        claims.append(
            IdentityClaim(
                "app_user", visitor.claimed_user_id, inbox.settings.user_namespace, verified=False
            )
        )
    if profile is not None:
        claims += check_profile(profile)
    result = await resolve(
        session,
        inbox.tenant_id,
        claims,
        verified=False,
        source="web_chat",
        name=profile.name if profile else None,
        actor=actor(visitor),
    )
    return result.customer
