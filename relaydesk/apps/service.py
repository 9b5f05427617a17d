"""Embedded apps: registration (audited) and signed context tokens.

A context token is an ES256 JWT, valid for at most five minutes, whose audience is the app's
id. Claims: ``iss`` (this Relaydesk's origin), ``aud``, ``sub`` and ``agent_id`` (the agent's
user id), ``tenant_id``, ``tenant`` (slug), ``app_id``, ``customer_id`` and
``conversation_id`` when given, ``iat``/``nbf``/``exp``, ``jti``. The customer must be one the
agent can see; a conversation id is accepted only once a conversations domain registers a
lookup (:func:`register_context_lookup`) or the conversations domain is installed; then the
agent must be able to see it (tenant and department guards).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import jwt
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.apps.keys import ALGORITHM, SigningKeys
from relaydesk.apps.models import EmbeddedApp
from relaydesk.apps.repository import EmbeddedAppRepository
from relaydesk.apps.schemas import AppIn, AppOut, AppPatch, ContextIn, ContextOut
from relaydesk.apps.urls import origin_of, with_token
from relaydesk.audit import service as audit
from relaydesk.auth.principal import Principal
from relaydesk.errors import Conflict, Forbidden, NotFound, ValidationFailed
from relaydesk.kit.commit_hooks import poke_after_commit
from relaydesk.kit.db import utcnow
from relaydesk.kit.ids import uuid7

__all__ = [
    "CHANGED_CHANNEL",
    "TOKEN_LIFETIME",
    "AppService",
    "app_out",
    "register_context_lookup",
]

TOKEN_LIFETIME = dt.timedelta(minutes=5)
#: commit-hook channel poked when apps change (the CSP's frame-src cache listens)
CHANGED_CHANNEL = "embedded-apps"

#: ``kind -> async (session, id) -> None`` raising NotFound; e.g. "conversation"
ContextLookup = Callable[[AsyncSession, uuid.UUID], Awaitable[None]]
_LOOKUPS: dict[str, ContextLookup] = {}


def register_context_lookup(kind: str, lookup: ContextLookup) -> None:
    """Let context tokens carry ``<kind>_id`` once that domain can check the id exists."""
    _LOOKUPS[kind] = lookup


def app_out(app: EmbeddedApp) -> AppOut:
    origin = origin_of(app.url)
    return AppOut(
        id=app.id, name=app.name, description=app.description, url=app.url, origin=origin,
        origins=list(dict.fromkeys([origin, *(app.origins or [])])), placement=app.placement,
        height=app.height, enabled=app.enabled, created_at=app.created_at,
        updated_at=app.updated_at,
    )  # fmt: skip


def _taken(name: str) -> Conflict:
    return Conflict(
        f"an embedded app named {name!r} already exists",
        details=[{"loc": ["body", "name"], "msg": "already taken", "type": "value_error"}],
    )


class AppService:
    def __init__(self, session: AsyncSession, principal: Principal) -> None:
        self.session = session
        self.principal = principal
        self.repo = EmbeddedAppRepository(session)

    async def get(self, app_id: uuid.UUID) -> EmbeddedApp:
        return await self.repo.get_or_404(app_id)

    async def listed(self, *, placement: str | None, enabled: bool | None) -> list[EmbeddedApp]:
        return list(await self.repo.listed(placement=placement, enabled=enabled))

    async def create(self, data: AppIn) -> EmbeddedApp:
        if await self.repo.by_name(data.name) is not None:
            raise _taken(data.name)
        app = EmbeddedApp(
            id=uuid7(), tenant_id=self.repo.tenant_id, name=data.name,
            description=data.description, url=data.url, origins=self._origins(data.url,
            data.origins), placement=data.placement, height=data.height, enabled=data.enabled,
        )  # fmt: skip
        try:
            await self.repo.create(app)
        except IntegrityError:
            raise _taken(data.name) from None
        await self._audit("app.created", app, {"name": app.name, "url": app.url,
                          "origins": app.origins, "placement": app.placement,
                          "enabled": app.enabled})  # fmt: skip
        return app

    async def update(self, app_id: uuid.UUID, patch: AppPatch) -> EmbeddedApp:
        app = await self.get(app_id)
        changes = patch.model_dump(exclude_unset=True)
        for field in ("name", "url", "placement", "height", "enabled"):
            if changes.get(field, ...) is None:
                raise ValidationFailed(
                    f"{field}: may not be null",
                    details=[{"loc": ["body", field], "msg": "may not be null",
                              "type": "value_error"}],
                )  # fmt: skip
        new_name = changes.get("name", app.name)
        if new_name != app.name and await self.repo.by_name(new_name) is not None:
            raise _taken(new_name)
        url = changes.get("url", app.url)
        if "url" in changes or "origins" in changes:
            extra = changes.get("origins")
            if extra is None:
                extra = [o for o in app.origins if o != origin_of(app.url)]
            changes["origins"] = self._origins(url, extra)
        changed = sorted(k for k, v in changes.items() if getattr(app, k) != v)
        for key, value in changes.items():
            setattr(app, key, value)
        try:
            await self.session.flush()
        except IntegrityError:
            raise _taken(str(changes.get("name"))) from None
        if changed:
            await self._audit("app.updated", app, {"changed": changed, "url": app.url,
                              "origins": app.origins, "enabled": app.enabled})  # fmt: skip
        return app

    async def delete(self, app_id: uuid.UUID) -> None:
        app = await self.get(app_id)
        await self.repo.delete(app)
        await self._audit("app.deleted", app, {"name": app.name})

    @staticmethod
    def _origins(url: str, extra: list[str]) -> list[str]:
        return list(dict.fromkeys([origin_of(url), *extra]))

    async def _audit(self, action: str, app: EmbeddedApp, details: dict[str, Any]) -> None:
        poke_after_commit(self.session, CHANGED_CHANNEL)
        await audit.record(
            self.session, tenant_id=app.tenant_id, action=action, actor=self.principal.actor,
            target_type="embedded_app", target_id=app.id, details=details,
        )  # fmt: skip

    async def _check_conversation(self, conversation_id: uuid.UUID) -> None:
        lookup = _LOOKUPS.get("conversation")
        if lookup is not None:
            await lookup(self.session, conversation_id)
            return
        if not self.principal.has("conversations.read"):
            raise Forbidden("showing a conversation to an app needs conversations.read")
        exists = await self.repo.conversation_exists(conversation_id)
        if exists is None:
            raise ValidationFailed(
                "conversation_id: conversations are not available in this version",
                details=[{"loc": ["body", "conversation_id"], "type": "value_error",
                          "msg": "conversations are not available in this version"}],
            )  # fmt: skip
        if not exists:
            raise NotFound(f"conversation {conversation_id} not found")

    # --- context tokens ------------------------------------------------------------------

    async def context(
        self, app_id: uuid.UUID, data: ContextIn, *, issuer: str, keys: SigningKeys
    ) -> ContextOut:
        app = await self.get(app_id)
        principal = self.principal
        if principal.user_id is None:
            raise Forbidden("context tokens are issued to signed-in agents, not to API keys")
        if not app.enabled:
            raise Conflict(f"the app {app.name!r} is disabled")
        if data.customer_id is not None:
            if not principal.has("customers.read"):
                raise Forbidden("showing a customer to an app needs customers.read")
            if not await self.repo.customer_exists(data.customer_id):
                raise NotFound(f"customer {data.customer_id} not found")
        if data.conversation_id is not None:
            await self._check_conversation(data.conversation_id)
        now = utcnow().replace(microsecond=0)
        expires = now + TOKEN_LIFETIME
        claims: dict[str, Any] = {
            "iss": issuer, "aud": str(app.id), "sub": str(principal.user_id),
            "iat": int(now.timestamp()), "nbf": int(now.timestamp()),
            "exp": int(expires.timestamp()), "jti": uuid.uuid4().hex,
            "tenant_id": str(principal.tenant_id), "tenant": principal.tenant_slug,
            "agent_id": str(principal.user_id), "app_id": str(app.id),
        }  # fmt: skip
        if data.customer_id is not None:
            claims["customer_id"] = str(data.customer_id)
        if data.conversation_id is not None:
            claims["conversation_id"] = str(data.conversation_id)
        key = await keys.signing_key(self.session)
        token = jwt.encode(claims, key.private, algorithm=ALGORITHM,
                           headers={"kid": key.kid, "typ": "JWT"})  # fmt: skip
        return ContextOut(
            token=token,
            expires_at=expires,
            expires_in=int(TOKEN_LIFETIME.total_seconds()),
            url=with_token(app.url, token),
            origin=origin_of(app.url),
            claims=claims,
        )
