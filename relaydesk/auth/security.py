"""Passwords (argon2id), access tokens (JWT, HS256), refresh tokens and API keys.

Refresh tokens and API keys are 256-bit random secrets, so a SHA-256 digest is a safe and
fast way to store them (argon2 is for low-entropy passwords only).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
# a real hash to verify against when the user does not exist (equal timing either way)
_DUMMY_HASH = _hasher.hash("relaydesk-timing-equaliser")


def use_password_hasher(hasher: PasswordHasher) -> None:
    """Swap the argon2 parameters (the test suite uses cheap ones)."""
    global _hasher, _DUMMY_HASH
    _hasher = hasher
    _DUMMY_HASH = hasher.hash("relaydesk-timing-equaliser")

API_KEY_PREFIX = "rdk_"
JWT_ALGORITHM = "HS256"
JWT_AUDIENCE = "relaydesk-api"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class NewApiKey:
    key: str
    prefix: str
    key_hash: str


def new_api_key() -> NewApiKey:
    prefix = secrets.token_hex(4)
    key = f"{API_KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    return NewApiKey(key=key, prefix=prefix, key_hash=sha256_hex(key))


def split_api_key(key: str) -> str | None:
    """The lookup prefix of a well-formed key, else None."""
    if not key.startswith(API_KEY_PREFIX):
        return None
    prefix, sep, rest = key[len(API_KEY_PREFIX) :].partition("_")
    if not sep or len(prefix) != 8 or len(rest) < 20:
        return None
    return prefix


def api_key_matches(key: str, key_hash: str) -> bool:
    return hmac.compare_digest(sha256_hex(key), key_hash)


@dataclass(frozen=True)
class AccessClaims:
    user_id: uuid.UUID
    tenant_id: uuid.UUID
    session_id: uuid.UUID
    expires_at: dt.datetime


def issue_access_token(
    secret: str, *, user_id: uuid.UUID, tenant_id: uuid.UUID, session_id: uuid.UUID, ttl: int
) -> tuple[str, dt.datetime]:
    now = dt.datetime.now(dt.UTC)
    expires = now + dt.timedelta(seconds=ttl)
    payload: dict[str, Any] = {
        "sub": str(user_id),
        "tid": str(tenant_id),
        "sid": str(session_id),
        "iat": int(now.timestamp()),
        "exp": int(expires.timestamp()),
        "aud": JWT_AUDIENCE,
    }
    return jwt.encode(payload, secret, algorithm=JWT_ALGORITHM), expires


def decode_access_token(secret: str, token: str) -> AccessClaims | None:
    """The claims of a valid, unexpired token; None for anything else."""
    try:
        data = jwt.decode(
            token,
            secret,
            algorithms=[JWT_ALGORITHM],
            audience=JWT_AUDIENCE,
            options={"require": ["exp", "sub", "tid", "sid", "aud"]},
        )
        return AccessClaims(
            user_id=uuid.UUID(data["sub"]),
            tenant_id=uuid.UUID(data["tid"]),
            session_id=uuid.UUID(data["sid"]),
            expires_at=dt.datetime.fromtimestamp(data["exp"], dt.UTC),
        )
    except (jwt.PyJWTError, ValueError, KeyError, TypeError):
        return None
