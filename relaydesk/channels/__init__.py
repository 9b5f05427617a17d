"""Channels: the adapters that bring customers' messages in and send agents' replies out.

Each channel lives in its own package (``relaydesk.channels.email``, ...) and normalises what
it receives into :meth:`ConversationService.receive` calls and registers a delivery adapter
(:mod:`relaydesk.conversations.delivery`). This module holds the one thing they share: the
registry of **inbox settings models**. A channel registers a pydantic model for its inboxes'
``settings`` and names the fields that are secrets; :func:`apply_settings` validates what an
admin sends, moves the secrets into ``Inbox.secrets_encrypted`` (AES-GCM bound to the tenant
and the inbox, like connector config) and keeps the runtime keys the channel writes itself
(e.g. the e-mail poller's ``state``). Channels without a registered model keep their settings
as given.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, SecretStr
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.conversations.models import Inbox
from relaydesk.errors import ValidationFailed
from relaydesk.kit.crypto import Keyring, bind
from relaydesk.kit.ids import uuid7

__all__ = [
    "SECRET_PLACEHOLDER",
    "ChannelSpec",
    "apply_settings",
    "inbox_saved",
    "inbox_secrets",
    "load_channels",
    "register_settings_model",
    "settings_spec",
]

PURPOSE = "inbox-secrets"
SECRET_PLACEHOLDER = "********"  # noqa: S105 - a mask, not a secret
#: the channel packages that register settings models and adapters when imported
CHANNEL_MODULES = (
    "relaydesk.channels.email",
    "relaydesk.channels.webchat",
    "relaydesk.channels.sms",
    "relaydesk.channels.api_channel",
    "relaydesk.channels.voice",
)

SavedHook = Callable[[AsyncSession, Inbox], Awaitable[None]]


@dataclass(frozen=True)
class ChannelSpec:
    channel: str
    model: type[BaseModel]
    #: dotted paths of secret fields in the settings ("imap.password")
    secrets: tuple[str, ...] = ()
    #: secrets that must be known (given now or stored before)
    required_secrets: tuple[str, ...] = ()
    #: top-level keys the channel itself writes (kept when an admin replaces the settings)
    runtime_keys: tuple[str, ...] = ()
    #: called after an inbox of this channel was created or updated (same transaction)
    on_saved: SavedHook | None = None
    #: empty settings are accepted: the inbox exists but is not configured yet
    optional: bool = False


_SPECS: dict[str, ChannelSpec] = {}


def register_settings_model(channel: str, model: type[BaseModel], **options: Any) -> ChannelSpec:
    spec = _SPECS[channel] = ChannelSpec(channel, model, **options)
    return spec


def settings_spec(channel: str) -> ChannelSpec | None:
    return _SPECS.get(channel)


def load_channels() -> None:
    for name in CHANNEL_MODULES:
        importlib.import_module(name)


def _aad(inbox: Inbox) -> bytes:
    return bind(PURPOSE, inbox.tenant_id, inbox.id)


def inbox_secrets(
    keyring: Keyring,
    inbox: Inbox | None = None,
    *,
    blob: bytes | None = None,
    tenant_id: Any = None,
    inbox_id: Any = None,
) -> dict[str, Any]:
    """The inbox's decrypted secrets ({} when none); give the row, or the blob and its ids."""
    if inbox is not None:
        blob, tenant_id, inbox_id = inbox.secrets_encrypted, inbox.tenant_id, inbox.id
    if not blob:
        return {}
    value = keyring.decrypt_json(blob, bind(PURPOSE, tenant_id, inbox_id))
    return dict(value) if isinstance(value, Mapping) else {}


def _pop_path(data: dict[str, Any], path: str) -> tuple[bool, Any]:
    *parents, leaf = path.split(".")
    node: Any = data
    for part in parents:
        node = node.get(part) if isinstance(node, dict) else None
    if not isinstance(node, dict) or leaf not in node:
        return False, None
    return True, node.pop(leaf)


def _invalid(loc: Sequence[str | int], message: str, kind: str = "value_error") -> dict[str, Any]:
    return {"loc": ["body", "settings", *loc], "msg": message, "type": kind}


def apply_settings(inbox: Inbox, settings: Mapping[str, Any], keyring: Keyring) -> None:
    """Validate ``settings`` for the inbox's channel and store them (the row needs its tenant).

    A secret that is omitted, null or the placeholder keeps its stored value. Errors raise
    :class:`ValidationFailed` with ``body.settings.<field>`` locations; nothing is changed then.
    """
    spec = _SPECS.get(inbox.channel)
    if spec is None:
        inbox.settings = dict(settings)
        return
    if inbox.id is None:
        inbox.id = uuid7()
    stored = inbox_secrets(keyring, inbox) if inbox.secrets_encrypted else {}
    given = {k: v for k, v in settings.items() if k not in spec.runtime_keys}
    if not given and spec.optional:
        kept = inbox.settings or {}
        inbox.settings = {k: kept[k] for k in spec.runtime_keys if k in kept}
        return
    try:
        model = spec.model.model_validate(given)
    except PydanticValidationError as exc:
        details = [_invalid(list(e["loc"]), e["msg"], e["type"]) for e in exc.errors()]
        where = ".".join(str(p) for p in details[0]["loc"][1:])
        raise ValidationFailed(f"{where}: {details[0]['msg']}", details=details) from None
    public = model.model_dump(mode="json")
    secrets = dict(stored)
    for path in spec.secrets:
        _pop_path(public, path)
        raw = _raw(model, path)
        if raw not in (None, "", SECRET_PLACEHOLDER):
            secrets[path] = raw
    missing = [p for p in spec.required_secrets if not secrets.get(p)]
    if missing:
        details = [
            _invalid(p.split("."), "required (a secret: give it once)", "missing") for p in missing
        ]
        raise ValidationFailed(f"settings.{missing[0]}: required", details=details)
    for key in spec.runtime_keys:
        if key in (inbox.settings or {}):
            public[key] = inbox.settings[key]
    inbox.settings = public
    inbox.secrets_encrypted = keyring.encrypt_json(secrets, _aad(inbox)) if secrets else None


def _raw(model: BaseModel, path: str) -> Any:
    node: Any = model
    for part in path.split("."):
        node = getattr(node, part, None)
        if node is None:
            return None
    return node.get_secret_value() if isinstance(node, SecretStr) else node


async def inbox_saved(session: AsyncSession, inbox: Inbox) -> None:
    """Run the channel's after-save hook (e.g. start polling a mailbox)."""
    spec = _SPECS.get(inbox.channel)
    if spec is not None and spec.on_saved is not None:
        await spec.on_saved(session, inbox)
