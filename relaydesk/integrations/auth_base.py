"""What every auth kind shares: the handler interface and the token error (see auth.py)."""

from __future__ import annotations

from typing import Any, Protocol

import httpx

__all__ = ["AuthHandler", "AuthSpecLike", "TokenRequestFailed", "spec_value"]


class AuthSpecLike(Protocol):
    """What this module needs of an auth spec: its ``type``; the rest is read per kind."""

    @property
    def type(self) -> str: ...


class TokenRequestFailed(Exception):
    """The OAuth 2.0 token endpoint refused or answered garbage (never includes secrets)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def spec_value(spec: object, name: str, default: Any = None) -> Any:
    """``spec.name``, or ``default`` when it is missing or None."""
    value = getattr(spec, name, None)
    return default if value is None else value


class AuthHandler:
    """Adds credentials to outgoing requests. The base class sends requests unchanged."""

    async def apply(self, request: httpx.Request) -> httpx.Request:
        return request

    def invalidate(self, request: httpx.Request | None = None) -> None:
        """Forget cached credentials (after a 401). Static credentials have nothing to forget."""
