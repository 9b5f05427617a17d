"""Instance config at rest: AES-GCM bound to (tenant, instance), secrets never shown."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any

from relaydesk.integrations.models import ConnectorInstance
from relaydesk.integrations.spec import ConnectorSpec
from relaydesk.kit.crypto import Keyring, bind

PURPOSE = "connector-config"
SECRET_PLACEHOLDER = "********"  # noqa: S105 - a mask, not a secret


def _aad(instance: ConnectorInstance) -> bytes:
    return bind(PURPOSE, instance.tenant_id, instance.id)


def encrypt_config(
    keyring: Keyring, instance: ConnectorInstance, config: Mapping[str, Any]
) -> None:
    """Store ``config`` on the row (the row's id and tenant must be set)."""
    instance.config_encrypted = keyring.encrypt_json(dict(config), _aad(instance))


def decrypt_config(keyring: Keyring, instance: ConnectorInstance) -> dict[str, Any]:
    value = keyring.decrypt_json(instance.config_encrypted, _aad(instance))
    return dict(value) if isinstance(value, Mapping) else {}


@functools.lru_cache(maxsize=512)
def _spec_cached(key: tuple[str, int], document: str) -> ConnectorSpec:
    return ConnectorSpec.model_validate(json.loads(document))


def instance_spec(instance: ConnectorInstance) -> ConnectorSpec:
    """The instance's validated spec, parsed once per (instance, version)."""
    document = json.dumps(instance.spec, ensure_ascii=False)
    return _spec_cached((str(instance.id), instance.version), document)


def secret_fields(spec: ConnectorSpec) -> set[str]:
    return {name for name, field in spec.config.items() if getattr(field, "secret", False)}


def public_config(spec: ConnectorSpec, config: Mapping[str, Any]) -> dict[str, Any]:
    """The config as an API may show it: secret values replaced by a placeholder."""
    hidden = secret_fields(spec)
    return {
        k: (SECRET_PLACEHOLDER if k in hidden and v not in (None, "") else v)
        for k, v in config.items()
    }


def rotate_config(keyring: Keyring, instance: ConnectorInstance) -> bool:
    """Re-encrypt the instance's config with the newest key; True if it changed."""
    if not keyring.needs_rotation(instance.config_encrypted):
        return False
    instance.config_encrypted = keyring.rotate(instance.config_encrypted, _aad(instance))
    return True
