"""Signed tokens of the web chat: visitor sessions, uploaded files, file links; ``user_hash``.

Every token is ``base64url(JSON claims) "." base64url(HMAC-SHA256)``, signed with a key
derived from the server secret and the token's purpose, so a token of one kind is never
accepted as another. Visitors keep their session token in the browser's localStorage; it
names the inbox and the visitor (and the site's user id once the site vouched for it).

``user_hash`` is how a site proves who its logged-in user is: ``hex(HMAC-SHA256(inbox secret,
user id))``, computed on the site's server with the inbox's identity-verification secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

__all__ = [
    "FileRef",
    "Signer",
    "TokenError",
    "VisitorSession",
    "new_identity_secret",
    "user_hash",
    "user_hash_valid",
]

#: how long a session bound to a verified user id lasts (the page signs again after that)
VERIFIED_TTL = 7 * 24 * 3600
FILE_LINK_TTL = 24 * 3600
UPLOAD_TTL = 3600


class TokenError(ValueError):
    """A token that is malformed, forged, expired or for another inbox."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_identity_secret() -> str:
    return secrets.token_urlsafe(32)


def user_hash(secret: str, user_id: str) -> str:
    """What the site's server computes: ``hex(HMAC-SHA256(secret, user_id))``."""
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def user_hash_valid(secret: str, user_id: str, given: str) -> bool:
    return hmac.compare_digest(user_hash(secret, user_id), given.strip().lower())


@dataclass(frozen=True)
class VisitorSession:
    inbox_id: uuid.UUID
    visitor_id: str
    #: the site's user id, when the site signed it (identity verification)
    user_id: str | None = None
    #: the user id without a valid signature (verification off): an unverified identity
    claimed_user_id: str | None = None


@dataclass(frozen=True)
class FileRef:
    storage_key: str
    sha256: str
    filename: str
    content_type: str
    size: int

    def entry(self) -> dict[str, Any]:
        """The attachment as stored on a message (the e-mail channel's shape)."""
        return {
            "filename": self.filename,
            "content_type": self.content_type,
            "size": self.size,
            "sha256": self.sha256,
            "storage_key": self.storage_key,
        }


class Signer:
    """Signs and checks the web chat's tokens with keys derived from the server secret."""

    def __init__(self, secret: str) -> None:
        self._root = hashlib.sha256(b"relaydesk.webchat\x00" + secret.encode()).digest()

    def _key(self, purpose: str) -> bytes:
        return hmac.new(self._root, purpose.encode(), hashlib.sha256).digest()

    def sign(self, purpose: str, claims: dict[str, Any]) -> str:
        body = _b64(json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode())
        mac = hmac.new(self._key(purpose), body.encode(), hashlib.sha256).digest()
        return f"{body}.{_b64(mac)}"

    def verify(self, purpose: str, token: str) -> dict[str, Any]:
        body, dot, mac = token.strip().partition(".")
        if not dot or len(token) > 4096:
            raise TokenError("malformed token")
        expected = hmac.new(self._key(purpose), body.encode(), hashlib.sha256).digest()
        try:
            valid = hmac.compare_digest(expected, _unb64(mac))
            claims = json.loads(_unb64(body)) if valid else None
        except (ValueError, UnicodeDecodeError):
            raise TokenError("malformed token") from None
        if not isinstance(claims, dict):
            raise TokenError("invalid token signature")
        expires = claims.get("exp")
        if isinstance(expires, int | float) and expires < time.time():
            raise TokenError("token expired")
        return claims

    # --- visitor sessions -------------------------------------------------------------------

    def visitor_token(self, session: VisitorSession) -> str:
        claims: dict[str, Any] = {"i": str(session.inbox_id), "v": session.visitor_id}
        if session.user_id is not None:
            claims.update(u=session.user_id, exp=int(time.time()) + VERIFIED_TTL)
        elif session.claimed_user_id is not None:
            claims["c"] = session.claimed_user_id
        return self.sign("visitor", claims)

    def visitor(self, token: str, inbox_id: uuid.UUID) -> VisitorSession:
        claims = self.verify("visitor", token)
        if claims.get("i") != str(inbox_id):
            raise TokenError("the token belongs to another inbox")
        visitor = claims.get("v")
        if not isinstance(visitor, str) or not visitor:
            raise TokenError("malformed token")
        user, claimed = claims.get("u"), claims.get("c")
        return VisitorSession(
            inbox_id,
            visitor,
            user if isinstance(user, str) else None,
            claimed if isinstance(claimed, str) else None,
        )

    # --- files ------------------------------------------------------------------------------

    def upload_token(self, inbox_id: uuid.UUID, visitor_id: str, ref: FileRef) -> str:
        return self.sign(
            "upload",
            {
                "i": str(inbox_id),
                "v": visitor_id,
                "k": ref.storage_key,
                "s": ref.sha256,
                "n": ref.filename,
                "c": ref.content_type,
                "z": ref.size,
                "exp": int(time.time()) + UPLOAD_TTL,
            },
        )

    def upload(self, token: str, inbox_id: uuid.UUID, visitor_id: str) -> FileRef:
        claims = self.verify("upload", token)
        if claims.get("i") != str(inbox_id) or claims.get("v") != visitor_id:
            raise TokenError("this upload belongs to another visitor")
        return FileRef(
            str(claims["k"]), str(claims["s"]), str(claims["n"]), str(claims["c"]), int(claims["z"])
        )

    def file_link(self, inbox_id: uuid.UUID, attachment: dict[str, Any]) -> str | None:
        key = attachment.get("storage_key")
        if not key:
            return None
        return self.sign(
            "file",
            {
                "i": str(inbox_id),
                "k": key,
                "n": str(attachment.get("filename") or "file"),
                "c": str(attachment.get("content_type") or "application/octet-stream"),
                "exp": int(time.time()) + FILE_LINK_TTL,
            },
        )

    def file(self, token: str) -> tuple[uuid.UUID, str, str, str]:
        """(inbox id, storage key, filename, content type) of a file link."""
        claims = self.verify("file", token)
        try:
            return uuid.UUID(str(claims["i"])), str(claims["k"]), str(claims["n"]), str(claims["c"])
        except (KeyError, ValueError):
            raise TokenError("malformed token") from None
