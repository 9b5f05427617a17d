"""Signing keys of the context tokens: ES256 (P-256), published as a JWKS, private keys
encrypted at rest with the keyring (AES-GCM bound to the key's id).

One key set per deployment (not per tenant): a token names its tenant and its audience is one
app's id, so a token issued for one app never verifies as another's. Rotation: ``relaydesk apps
keys rotate`` adds a key that is published at once and signs only from ``activates_at`` on
(default: in 10 minutes, so verifiers that cache the JWKS see it first); ``relaydesk apps keys
retire`` then stops publishing keys superseded for longer than a token lives.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.apps.models import AppSigningKey
from relaydesk.kit.crypto import Keyring, bind
from relaydesk.kit.db import utcnow

__all__ = [
    "ALGORITHM",
    "SigningKey",
    "SigningKeys",
    "new_key",
    "published_keys",
    "reencrypt_keys",
    "retire_superseded",
    "rotate",
]

ALGORITHM = "ES256"
PURPOSE = "app-signing-key"
#: how long a rotated-in key is published before it signs (verifiers refresh their JWKS)
DEFAULT_ACTIVATE_IN = dt.timedelta(minutes=10)


def _aad(kid: str) -> bytes:
    return bind(PURPOSE, "system", kid)


def _thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638: SHA-256 of the required members in lexicographic order."""
    members = {k: jwk[k] for k in ("crv", "kty", "x", "y")}
    digest = hashlib.sha256(json.dumps(members, separators=(",", ":")).encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def new_key(keyring: Keyring, activates_at: dt.datetime | None = None) -> AppSigningKey:
    """A fresh P-256 key pair as a row (not added to any session)."""
    private = ec.generate_private_key(ec.SECP256R1())
    jwk = ECAlgorithm.to_jwk(private.public_key(), as_dict=True)
    kid = _thumbprint(jwk)
    public = {"kty": "EC", "crv": "P-256", "x": jwk["x"], "y": jwk["y"],
              "kid": kid, "use": "sig", "alg": ALGORITHM}  # fmt: skip
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    now = utcnow()
    return AppSigningKey(
        kid=kid, algorithm=ALGORITHM, public_jwk=public,
        private_key_encrypted=keyring.encrypt(pem, _aad(kid)),
        created_at=now, activates_at=activates_at or now, retired_at=None,
    )  # fmt: skip


async def published_keys(session: AsyncSession) -> Sequence[AppSigningKey]:
    """Keys in the JWKS (not retired), newest activation first."""
    stmt = (
        select(AppSigningKey)
        .where(AppSigningKey.retired_at.is_(None))
        .order_by(AppSigningKey.activates_at.desc(), AppSigningKey.created_at.desc())
    )
    return (await session.execute(stmt)).scalars().all()


async def rotate(
    session: AsyncSession, keyring: Keyring, activate_in: dt.timedelta = DEFAULT_ACTIVATE_IN
) -> AppSigningKey:
    key = new_key(keyring, utcnow() + activate_in)
    session.add(key)
    await session.flush()
    return key


async def retire_superseded(session: AsyncSession, token_lifetime: dt.timedelta) -> list[str]:
    """Stop publishing keys replaced by a key that has signed for longer than a token lives
    (every token they signed has expired). Returns the retired key ids."""
    now = utcnow()
    keys = list(await published_keys(session))
    active = [k for k in keys if k.activates_at <= now]
    if not active:
        return []
    current = active[0]
    if current.activates_at > now - token_lifetime:
        return []  # tokens of the previous key may still be valid
    retired = []
    for key in active[1:]:
        key.retired_at = now
        retired.append(key.kid)
    await session.flush()
    return retired


async def reencrypt_keys(session: AsyncSession, keyring: Keyring) -> int:
    """Re-encrypt the private keys with the keyring's newest key (after ``keys rotate``)."""
    changed = 0
    for key in (await session.execute(select(AppSigningKey))).scalars():
        if keyring.needs_rotation(key.private_key_encrypted):
            key.private_key_encrypted = keyring.rotate(key.private_key_encrypted, _aad(key.kid))
            changed += 1
    await session.flush()
    return changed


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private: ec.EllipticCurvePrivateKey


class SigningKeys:
    """The published keys, cached in the process for ``cache_seconds`` (a key rotated in by
    another process is seen within that time; it is published long before it signs)."""

    def __init__(self, keyring: Keyring, *, cache_seconds: float = 30.0) -> None:
        self.keyring = keyring
        self.cache_seconds = cache_seconds
        self._loaded_at = -1e9
        self._rows: list[tuple[str, dict[str, Any], dt.datetime, bytes]] = []
        self._private: dict[str, ec.EllipticCurvePrivateKey] = {}

    def invalidate(self) -> None:
        self._loaded_at = -1e9

    async def _load(self, session: AsyncSession) -> None:
        if time.monotonic() - self._loaded_at < self.cache_seconds:
            return
        rows = await published_keys(session)
        self._rows = [
            (k.kid, dict(k.public_jwk), k.activates_at, k.private_key_encrypted) for k in rows
        ]
        self._loaded_at = time.monotonic()

    async def jwks(self, session: AsyncSession) -> list[dict[str, Any]]:
        await self._load(session)
        return [jwk for _, jwk, _, _ in self._rows]

    async def signing_key(self, session: AsyncSession) -> SigningKey:
        """The newest active key; the first key is made (in the caller's transaction) when
        there is none. A key made here is not cached until a later read sees it committed."""
        await self._load(session)
        now = utcnow()
        for kid, _, activates_at, blob in self._rows:
            if activates_at <= now:
                return SigningKey(kid, self._decrypt(kid, blob))
        self.invalidate()
        await self._load(session)  # maybe another process made one meanwhile
        for kid, _, activates_at, blob in self._rows:
            if activates_at <= now:
                return SigningKey(kid, self._decrypt(kid, blob))
        key = new_key(self.keyring, now)
        session.add(key)
        await session.flush()
        self.invalidate()
        return SigningKey(key.kid, self._decrypt(key.kid, key.private_key_encrypted))

    def _decrypt(self, kid: str, blob: bytes) -> ec.EllipticCurvePrivateKey:
        private = self._private.get(kid)
        if private is None:
            loaded = serialization.load_pem_private_key(
                self.keyring.decrypt(blob, _aad(kid)), password=None
            )
            if not isinstance(loaded, ec.EllipticCurvePrivateKey):
                raise TypeError("app signing key is not an EC key")
            private = self._private[kid] = loaded
        return private
