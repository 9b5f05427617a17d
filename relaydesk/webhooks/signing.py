"""Standard Webhooks signatures (https://www.standardwebhooks.com).

A secret is ``whsec_`` + base64 of 24-64 random bytes. The signature of a message is
``v1,`` + base64(HMAC-SHA256(secret bytes, "{webhook-id}.{webhook-timestamp}.{body}")); the
``webhook-signature`` header carries one or more of them separated by spaces (both the new
and the previous secret's during a rotation's overlap period).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Sequence

__all__ = [
    "SECRET_PREFIX",
    "InvalidSecret",
    "generate_secret",
    "headers",
    "parse_secret",
    "sign",
]

SECRET_PREFIX = "whsec_"  # noqa: S105 - a format prefix, not a secret
SECRET_BYTES = 32
MIN_SECRET_BYTES, MAX_SECRET_BYTES = 24, 64


class InvalidSecret(ValueError):
    pass


def generate_secret() -> str:
    """A new ``whsec_`` secret (32 random bytes)."""
    return SECRET_PREFIX + base64.b64encode(os.urandom(SECRET_BYTES)).decode("ascii")


def parse_secret(secret: str) -> bytes:
    """The key bytes of a ``whsec_`` secret; :class:`InvalidSecret` says what is wrong."""
    if not secret.startswith(SECRET_PREFIX):
        raise InvalidSecret(f"must start with {SECRET_PREFIX}")
    text = secret[len(SECRET_PREFIX) :]
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidSecret(f"must be {SECRET_PREFIX} followed by base64") from None
    if not MIN_SECRET_BYTES <= len(raw) <= MAX_SECRET_BYTES:
        raise InvalidSecret(
            f"must hold {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} random bytes (got {len(raw)})"
        )
    return raw


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<base64>`` signature."""
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def headers(keys: Sequence[bytes], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers, signed with every key (newest first)."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(sign(key, msg_id, timestamp, body) for key in keys),
    }
