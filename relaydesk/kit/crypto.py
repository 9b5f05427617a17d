"""Encryption at rest (AES-256-GCM) with key rotation, for per-tenant connector config.

Blob layout: ``version (1 byte) | key id (4 bytes) | nonce (12 bytes) | ciphertext + tag``.
The key id is derived from the key itself, so the order of the keyring does not matter for
reading; the first (newest) key encrypts. The associated data binds a blob to its row
(:func:`bind`: purpose, tenant id, row id), so a blob copied into another row does not decrypt.

Keys come from ``RELAYDESK_SECURITY__ENCRYPTION_KEYS`` (base64 of 32 random bytes each, newest
first; :func:`generate_key` makes one). Without it, one key is derived from the secret key with
HKDF-SHA256; that derived key also stays in the keyring as the oldest key when explicit keys are
configured, so moving from the default to explicit keys needs no migration, only
:meth:`Keyring.rotate`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

if TYPE_CHECKING:
    from relaydesk.config import Settings

__all__ = [
    "DecryptionFailed",
    "Keyring",
    "UnknownKey",
    "bind",
    "derive_key",
    "generate_key",
    "key_id",
    "parse_key",
]

VERSION = 1
KEY_BYTES = 32
NONCE_BYTES = 12
_HEADER = 1 + 4 + NONCE_BYTES
HKDF_INFO = b"relaydesk-config-v1"


class DecryptionFailed(Exception):
    """The blob cannot be decrypted: tampered, bound to another row, or an unknown format."""


class UnknownKey(DecryptionFailed):
    """The blob was encrypted with a key that is no longer in the keyring."""


def key_id(key: bytes) -> bytes:
    """A 4-byte identifier of a key (not secret: a truncated hash, not the key)."""
    return hashlib.sha256(b"relaydesk-key-id:" + key).digest()[:4]


def generate_key() -> str:
    """A new key in the settings format (base64 of 32 random bytes)."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode("ascii")


def derive_key(secret: str) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=HKDF_INFO)
    return hkdf.derive(secret.encode("utf-8"))


def parse_key(text: str, *, name: str = "key") -> bytes:
    try:
        raw = base64.b64decode(text.strip().replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != KEY_BYTES:
        raise ValueError(f"{name}: must be base64 of {KEY_BYTES} random bytes")
    return raw


def bind(purpose: str, tenant_id: uuid.UUID | str, row_id: uuid.UUID | str) -> bytes:
    """Associated data that ties a blob to one row, e.g. ``bind("connector-config", t, i)``."""
    return f"relaydesk|{purpose}|{tenant_id}|{row_id}".encode()


class Keyring:
    """AES-GCM keys, newest first: the newest encrypts, any of them decrypts."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise ValueError("a keyring needs at least one key")
        for key in keys:
            if len(key) != KEY_BYTES:
                raise ValueError(f"keys must be {KEY_BYTES} bytes")
        self._keys = [(key_id(k), AESGCM(k)) for k in dict.fromkeys(keys)]

    @classmethod
    def from_settings(cls, settings: Settings) -> Keyring:
        configured = getattr(settings.security, "encryption_keys", None) or []
        keys = [
            parse_key(
                k.get_secret_value() if hasattr(k, "get_secret_value") else str(k),
                name=f"RELAYDESK_SECURITY__ENCRYPTION_KEYS[{i}]",
            )
            for i, k in enumerate(configured)
        ]
        keys.append(derive_key(settings.secret_key()))
        return cls(keys)

    @property
    def current_key_id(self) -> bytes:
        return self._keys[0][0]

    def encrypt(self, plaintext: bytes, aad: bytes) -> bytes:
        kid, aead = self._keys[0]
        nonce = os.urandom(NONCE_BYTES)
        header = bytes([VERSION]) + kid + nonce
        return header + aead.encrypt(nonce, plaintext, header[:5] + aad)

    def decrypt(self, blob: bytes, aad: bytes) -> bytes:
        if len(blob) < _HEADER + 16:
            raise DecryptionFailed("encrypted value is truncated")
        if blob[0] != VERSION:
            raise DecryptionFailed(f"encrypted value has unknown format version {blob[0]}")
        kid, nonce = blob[1:5], blob[5:_HEADER]
        candidates = [aead for k, aead in self._keys if k == kid]
        if not candidates:
            raise UnknownKey(
                f"encrypted value uses key {kid.hex()}, which is not in the keyring: add it back "
                "to RELAYDESK_SECURITY__ENCRYPTION_KEYS (keys that still encrypt data must stay "
                "until every value has been rotated)"
            )
        for aead in candidates:
            try:
                return aead.decrypt(nonce, blob[_HEADER:], blob[:5] + aad)
            except InvalidTag:
                continue
        raise DecryptionFailed(
            "encrypted value failed authentication: it was altered or belongs to another row"
        )

    def needs_rotation(self, blob: bytes) -> bool:
        return blob[1:5] != self.current_key_id

    def rotate(self, blob: bytes, aad: bytes) -> bytes:
        """The blob re-encrypted with the newest key (unchanged if it already uses it)."""
        plaintext = self.decrypt(blob, aad)
        return self.encrypt(plaintext, aad) if self.needs_rotation(blob) else blob

    def encrypt_json(self, value: Any, aad: bytes) -> bytes:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        return self.encrypt(text.encode("utf-8"), aad)

    def decrypt_json(self, blob: bytes, aad: bytes) -> Any:
        return json.loads(self.decrypt(blob, aad).decode("utf-8"))
