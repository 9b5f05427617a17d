"""Webhook endpoints: create, change, rotate the secret, delete (audited).

The URL is checked when saved: http(s) only, no credentials in it, and (pre-flight) none of
the addresses its host resolves to may be blocked by the outbound policy (link-local and
metadata always; loopback and private networks unless ``allow_network`` opens them). The
same check runs again at connect time on every delivery. Turning ``include_pii`` on needs
``webhooks.pii`` and is audited.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import httpcore
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.audit import service as audit
from relaydesk.auth.principal import Principal
from relaydesk.errors import Forbidden, ValidationFailed
from relaydesk.events.catalogue import UnknownEventType, event_spec
from relaydesk.integrations.instances import check_allow_network
from relaydesk.integrations.runtime.base import outbound_policy
from relaydesk.kit.crypto import Keyring
from relaydesk.kit.ids import uuid7
from relaydesk.kit.pagination import PageParams
from relaydesk.kit.safehttp import BlockedDestination, check_destination
from relaydesk.webhooks import events as _events  # noqa: F401 - registers endpoint.disabled
from relaydesk.webhooks import health
from relaydesk.webhooks.dispatch import current_secret, encrypt_secret
from relaydesk.webhooks.models import WebhookEndpoint
from relaydesk.webhooks.payloads import FAMILY
from relaydesk.webhooks.repository import EndpointRepository
from relaydesk.webhooks.runtime import runtime
from relaydesk.webhooks.schemas import EndpointIn, EndpointPatch, RotateIn
from relaydesk.webhooks.signing import InvalidSecret, generate_secret, parse_secret

__all__ = ["EndpointService", "check_event_types", "check_url"]

PII_PERMISSION = "webhooks.pii"
#: how long the pre-flight DNS lookup may take (an unresolvable host is checked again later)
RESOLVE_TIMEOUT = 2.0


def _problem(loc: Sequence[str | int], msg: str, kind: str = "value_error") -> dict[str, Any]:
    return {"loc": ["body", *loc], "msg": msg, "type": kind}


def _fail(details: list[dict[str, Any]]) -> None:
    if details:
        first = details[0]
        where = ".".join(str(p) for p in first["loc"][1:])
        more = f" (and {len(details) - 1} more)" if len(details) > 1 else ""
        raise ValidationFailed(f"{where}: {first['msg']}{more}", details=details)


def check_event_types(patterns: Sequence[str], loc: str = "event_types") -> list[str]:
    """``*``, families (``order.*``) or known types (catalogue or ``custom.*``)."""
    details: list[dict[str, Any]] = []
    for index, pattern in enumerate(patterns):
        if pattern == "*" or FAMILY.match(pattern):
            continue
        try:
            event_spec(pattern)
        except UnknownEventType as exc:
            details.append(_problem((loc, index), exc.message, "unknown_event_type"))
    _fail(details)
    return list(dict.fromkeys(patterns))


async def check_url(url: str, allow_network: Sequence[str], loc: str = "url") -> str:
    """The URL if it may be used (422 at ``["body", loc]`` otherwise)."""
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError as exc:
        _fail([_problem((loc,), f"not a valid URL: {exc}")])
        raise AssertionError from None  # unreachable: _fail raised
    if parts.scheme not in ("http", "https"):
        _fail([_problem((loc,), "must be an http:// or https:// URL")])
    if not parts.hostname:
        _fail([_problem((loc,), "has no host")])
    if parts.username is not None or parts.password is not None:
        _fail([_problem((loc,), "must not hold credentials (user:password@)")])
    if parts.fragment:
        _fail([_problem((loc,), "must not have a #fragment")])
    if any(ch.isspace() for ch in url):
        _fail([_problem((loc,), "must not contain spaces")])
    policy = outbound_policy(allow_network)
    try:
        await asyncio.wait_for(check_destination(url, policy), RESOLVE_TIMEOUT)
    except BlockedDestination as exc:
        _fail([_problem((loc,), str(exc), "blocked_destination")])
    except (httpcore.ConnectError, httpcore.ConnectTimeout, TimeoutError, OSError):
        pass  # not resolvable from here now: the connect-time check decides on delivery
    return url


def _secret(value: str | None, loc: str = "secret") -> str:
    if value is None:
        return generate_secret()
    try:
        parse_secret(value)
    except InvalidSecret as exc:
        _fail([_problem((loc,), str(exc))])
    return value


class EndpointService:
    def __init__(self, session: AsyncSession, principal: Principal, keyring: Keyring) -> None:
        self.session = session
        self.principal = principal
        self.keyring = keyring
        self.repo = EndpointRepository(session)

    async def get(self, endpoint_id: uuid.UUID) -> WebhookEndpoint:
        return await self.repo.get_or_404(endpoint_id)

    async def list(
        self, params: PageParams, *, enabled: bool | None = None
    ) -> tuple[Sequence[WebhookEndpoint], str | None]:
        return await self.repo.list_page(params, enabled=enabled)

    def _need_pii(self) -> None:
        if not self.principal.has(PII_PERMISSION):
            raise Forbidden(
                "sending personal data unmasked needs the webhooks.pii permission",
                details=[_problem(("include_pii",), "needs webhooks.pii", "forbidden")],
            )

    async def _audit(self, endpoint: WebhookEndpoint, action: str, **details: Any) -> None:
        await audit.record(
            self.session, tenant_id=endpoint.tenant_id, action=action,
            actor=self.principal.actor, target_type="webhook_endpoint", target_id=endpoint.id,
            details=details,
        )  # fmt: skip

    async def create(self, data: EndpointIn) -> tuple[WebhookEndpoint, str]:
        if data.include_pii:
            self._need_pii()
        allow = check_allow_network(data.allow_network)
        event_types = check_event_types(data.event_types)
        secret = _secret(data.secret)
        url = await check_url(data.url, allow)
        endpoint = WebhookEndpoint(
            id=uuid7(), tenant_id=self.repo.tenant_id, url=url, description=data.description,
            event_types=event_types, enabled=data.enabled, rate_limit=data.rate_limit,
            include_pii=data.include_pii, allow_network=allow, version=1,
            disabled_reason=None if data.enabled else "created disabled",
        )  # fmt: skip
        endpoint.secret_encrypted = encrypt_secret(self.keyring, endpoint, secret)
        await self.repo.create(endpoint)
        await self._audit(
            endpoint, "webhook_endpoint.created", url=health.safe_url(url),
            event_types=event_types, enabled=endpoint.enabled, include_pii=endpoint.include_pii,
            rate_limit=endpoint.rate_limit, allow_network=allow,
        )  # fmt: skip
        return endpoint, secret

    async def update(self, endpoint_id: uuid.UUID, patch: EndpointPatch) -> WebhookEndpoint:
        endpoint = await self.repo.get_or_404(endpoint_id)
        sent = patch.model_fields_set
        changed: dict[str, Any] = {}
        pii = patch.include_pii
        if "include_pii" in sent and pii is not None and pii != endpoint.include_pii:
            if pii:
                self._need_pii()
            endpoint.include_pii = pii
            changed["include_pii"] = pii
        allow = list(endpoint.allow_network or [])
        if "allow_network" in sent and patch.allow_network is not None:
            allow = check_allow_network(patch.allow_network)
            if allow != list(endpoint.allow_network or []):
                endpoint.allow_network = allow
                changed["allow_network"] = allow
        if ("url" in sent and patch.url is not None) or "allow_network" in changed:
            url = await check_url(patch.url or endpoint.url, allow)
            if url != endpoint.url:
                endpoint.url = url
                changed["url"] = health.safe_url(url)
        if "event_types" in sent and patch.event_types is not None:
            types = check_event_types(patch.event_types)
            if types != list(endpoint.event_types or []):
                endpoint.event_types = types
                changed["event_types"] = types
        text = patch.description
        if "description" in sent and text is not None and text != endpoint.description:
            endpoint.description = text
            changed["description"] = True
        if "rate_limit" in sent and patch.rate_limit != endpoint.rate_limit:
            endpoint.rate_limit = patch.rate_limit
            changed["rate_limit"] = patch.rate_limit
        if "enabled" in sent and patch.enabled is not None and patch.enabled != endpoint.enabled:
            endpoint.enabled = patch.enabled
            changed["enabled"] = patch.enabled
            if patch.enabled:
                health.reset(endpoint)
            else:
                endpoint.disabled_reason = patch.disabled_reason or "disabled by a user"
                endpoint.disabled_at = runtime().clock()
                endpoint.circuit_open_until = None
        if changed:
            endpoint.version += 1
            await self.session.flush()
            await self._audit(endpoint, "webhook_endpoint.updated", changed=changed)
        return endpoint

    async def delete(self, endpoint_id: uuid.UUID) -> None:
        endpoint = await self.repo.get_or_404(endpoint_id)
        await self.repo.delete(endpoint)
        await self._audit(endpoint, "webhook_endpoint.deleted", url=health.safe_url(endpoint.url))

    async def rotate(self, endpoint_id: uuid.UUID, data: RotateIn) -> tuple[WebhookEndpoint, str]:
        """A new secret; the current one keeps signing too for the overlap period."""
        endpoint = await self.repo.get_or_404(endpoint_id)
        options = runtime().options
        secret = _secret(data.secret)
        overlap = (
            dt.timedelta(seconds=data.overlap_seconds)
            if data.overlap_seconds is not None
            else options.rotation_overlap
        )
        overlap = min(overlap, options.rotation_overlap_max)
        now = runtime().clock()
        current = current_secret(self.keyring, endpoint)
        if overlap > dt.timedelta(0):
            endpoint.previous_secret_encrypted = encrypt_secret(
                self.keyring, endpoint, current, previous=True
            )
            endpoint.previous_expires_at = now + overlap
        else:
            endpoint.previous_secret_encrypted = None
            endpoint.previous_expires_at = None
        endpoint.secret_encrypted = encrypt_secret(self.keyring, endpoint, secret)
        endpoint.version += 1
        await self.session.flush()
        seconds = int(overlap.total_seconds())
        await self._audit(endpoint, "webhook_endpoint.secret_rotated", overlap_seconds=seconds)
        return endpoint, secret
