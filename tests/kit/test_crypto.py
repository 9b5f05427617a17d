"""Encryption at rest: AES-GCM blobs bound to their row, with key rotation."""

from __future__ import annotations

import base64
import os
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import SecretStr

from relaydesk.config import SecuritySettings, Settings
from relaydesk.kit.crypto import (
    DecryptionFailed,
    Keyring,
    UnknownKey,
    bind,
    generate_key,
    key_id,
    parse_key,
)

TENANT, OTHER_TENANT = uuid.uuid4(), uuid.uuid4()
INSTANCE, OTHER_INSTANCE = uuid.uuid4(), uuid.uuid4()
AAD = bind("connector-config", TENANT, INSTANCE)
CONFIG = {"base_url": "http://erp.intranet:8080", "app_key": "AK1", "app_secret": "秘密-s3cr3t"}


def test_round_trip_and_layout() -> None:
    key = os.urandom(32)
    ring = Keyring([key])
    blob = ring.encrypt_json(CONFIG, AAD)
    assert ring.decrypt_json(blob, AAD) == CONFIG
    assert blob[0] == 1 and blob[1:5] == key_id(key)
    assert b"s3cr3t" not in blob and "秘密".encode() not in blob
    # the blob is standard AES-GCM: the key, the nonce and the bound data open it
    header = blob[:5]
    plain = AESGCM(key).decrypt(blob[5:17], blob[17:], header + AAD)
    assert (
        plain.decode()
        == '{"base_url":"http://erp.intranet:8080","app_key":"AK1","app_secret":"秘密-s3cr3t"}'
    )
    # a fresh nonce every time
    assert ring.encrypt(b"same", AAD) != ring.encrypt(b"same", AAD)


@pytest.mark.parametrize("position", [0, 1, 6, 20, -1])
def test_tampering_is_detected(position: int) -> None:
    ring = Keyring([os.urandom(32)])
    blob = bytearray(ring.encrypt(b"secret config", AAD))
    blob[position] ^= 0x01
    with pytest.raises(DecryptionFailed):
        ring.decrypt(bytes(blob), AAD)


def test_truncated_blob_is_rejected() -> None:
    ring = Keyring([os.urandom(32)])
    with pytest.raises(DecryptionFailed, match="truncated"):
        ring.decrypt(ring.encrypt(b"x", AAD)[:20], AAD)


def test_a_blob_cannot_move_to_another_row() -> None:
    ring = Keyring([os.urandom(32)])
    blob = ring.encrypt_json(CONFIG, AAD)
    for aad in (
        bind("connector-config", OTHER_TENANT, INSTANCE),
        bind("connector-config", TENANT, OTHER_INSTANCE),
        bind("webhook-secret", TENANT, INSTANCE),
    ):
        with pytest.raises(DecryptionFailed, match="another row"):
            ring.decrypt_json(blob, aad)


def test_rotation() -> None:
    old, new = os.urandom(32), os.urandom(32)
    old_blob = Keyring([old]).encrypt_json(CONFIG, AAD)

    both = Keyring([new, old])  # newest first
    assert both.decrypt_json(old_blob, AAD) == CONFIG
    assert both.needs_rotation(old_blob)
    rotated = both.rotate(old_blob, AAD)
    assert rotated[1:5] == key_id(new) != old_blob[1:5]
    assert not both.needs_rotation(rotated)
    assert both.rotate(rotated, AAD) == rotated  # already current: nothing to rewrite
    assert both.decrypt_json(both.encrypt_json(CONFIG, AAD), AAD) == CONFIG

    only_new = Keyring([new])
    assert only_new.decrypt_json(rotated, AAD) == CONFIG
    with pytest.raises(UnknownKey, match=key_id(old).hex()) as excinfo:
        only_new.decrypt_json(old_blob, AAD)
    assert "ENCRYPTION_KEYS" in str(excinfo.value)


def _settings(tmp_path: Path, secret: str) -> Settings:
    return Settings(data_dir=tmp_path, security=SecuritySettings(secret_key=SecretStr(secret)))


def test_default_key_is_derived_from_the_secret_key(tmp_path: Path) -> None:
    blob = Keyring.from_settings(_settings(tmp_path, "a" * 48)).encrypt_json(CONFIG, AAD)
    assert Keyring.from_settings(_settings(tmp_path, "a" * 48)).decrypt_json(blob, AAD) == CONFIG
    with pytest.raises(UnknownKey):
        Keyring.from_settings(_settings(tmp_path, "b" * 48)).decrypt_json(blob, AAD)


def _with_keys(secret: str, keys: list[str]) -> Any:
    """Settings as they will be once SecuritySettings has ``encryption_keys``."""
    security = SimpleNamespace(encryption_keys=[SecretStr(k) for k in keys])
    return SimpleNamespace(security=security, secret_key=lambda: secret)


def test_configured_keys_encrypt_and_the_derived_key_still_reads(tmp_path: Path) -> None:
    legacy = Keyring.from_settings(_settings(tmp_path, "a" * 48)).encrypt_json(CONFIG, AAD)
    newest, older = generate_key(), generate_key()
    ring = Keyring.from_settings(_with_keys("a" * 48, [newest, older]))
    assert ring.current_key_id == key_id(base64.b64decode(newest))
    assert ring.decrypt_json(legacy, AAD) == CONFIG
    assert ring.rotate(legacy, AAD)[1:5] == key_id(base64.b64decode(newest))
    old_blob = Keyring([base64.b64decode(older)]).encrypt(b"x", AAD)
    assert ring.decrypt(old_blob, AAD) == b"x"


def test_bad_keys_are_rejected_with_the_setting_name() -> None:
    with pytest.raises(ValueError, match=r"ENCRYPTION_KEYS\[1\]: must be base64 of 32"):
        Keyring.from_settings(_with_keys("s", [generate_key(), "dG9vIHNob3J0"]))
    with pytest.raises(ValueError, match="base64"):
        parse_key("not base64 at all!")
    urlsafe = base64.urlsafe_b64encode(b"\xfb" * 32).decode()
    assert parse_key(urlsafe) == b"\xfb" * 32
    with pytest.raises(ValueError, match="at least one key"):
        Keyring([])
