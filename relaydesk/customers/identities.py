"""Identity kinds and their normalisation: the stored form is the matching form.

Two identities are the same when their (kind, namespace, normalised value) are equal, so
every way in (the API, identity resolution, search) goes through :func:`normalise_identity`.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from relaydesk.customers.normalise import normalise_email, normalise_phone
from relaydesk.kit.masking import PiiKind

__all__ = [
    "NAMESPACE_RE",
    "IdentityError",
    "IdentityKey",
    "IdentityKind",
    "identity_pii_kind",
    "normalise_identity",
]


class IdentityKind(StrEnum):
    """What an identity is; the namespace rules differ by kind."""

    PHONE = "phone"  #: E.164; numbers without ``+`` are read as mainland Chinese
    EMAIL = "email"  #: lower-cased
    VISITOR = "visitor"  #: a web-chat visitor id
    OPENID = "openid"  #: WeChat-style per-app user id; namespace = the app id (required)
    UNIONID = "unionid"  #: WeChat-style cross-app id; namespace = the open-platform account
    APP_USER = "app_user"  #: any app's own user id; namespace = the app (required)
    EXTERNAL = "external"  #: an existing system's id; namespace = connector instance (required)


#: kinds whose namespace must be given
NAMESPACE_REQUIRED: Final = frozenset(
    {IdentityKind.OPENID, IdentityKind.APP_USER, IdentityKind.EXTERNAL}
)
#: kinds that have no namespace
NO_NAMESPACE: Final = frozenset({IdentityKind.PHONE, IdentityKind.EMAIL, IdentityKind.VISITOR})

#: an app id or a connector instance name, optionally ``:`` and an id type (``crm:contact``)
NAMESPACE_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,62}(:[A-Za-z0-9_.\-]{1,36})?$")
#: opaque ids: printable ASCII without spaces
_OPAQUE_RE: Final = re.compile(r"^[\x21-\x7e]{1,200}$")


class IdentityError(ValueError):
    """An identity that cannot be stored; ``field`` is "kind", "namespace" or "value"."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True, order=True)
class IdentityKey:
    """The normalised, matching form of an identity."""

    kind: str
    namespace: str
    value: str


def normalise_identity(kind: str, value: str, namespace: str | None = None) -> IdentityKey:
    """The stored form of an identity; raises :class:`IdentityError` naming the bad field."""
    try:
        k = IdentityKind(kind)
    except ValueError:
        allowed = ", ".join(k.value for k in IdentityKind)
        raise IdentityError("kind", f"unknown identity kind {kind!r} (one of {allowed})") from None
    ns = (namespace or "").strip()
    if k in NO_NAMESPACE and ns:
        raise IdentityError("namespace", f"a {k.value} identity has no namespace")
    if k in NAMESPACE_REQUIRED and not ns:
        what = "the connector instance name" if k is IdentityKind.EXTERNAL else "the app id"
        raise IdentityError("namespace", f"a {k.value} identity needs a namespace ({what})")
    if ns and not NAMESPACE_RE.match(ns):
        raise IdentityError(
            "namespace", "1-100 letters, digits, '_', '.', '-', optionally ':' and an id type"
        )
    v = value.strip()
    try:
        if k is IdentityKind.PHONE:
            v = normalise_phone(v)
        elif k is IdentityKind.EMAIL:
            v = normalise_email(v)
        elif not _OPAQUE_RE.match(v):
            raise ValueError("1-200 printable ASCII characters without spaces")
    except ValueError as exc:
        raise IdentityError("value", str(exc)) from None
    return IdentityKey(k.value, ns, v)


def identity_pii_kind(kind: str) -> PiiKind:
    """The masking rule of an identity's value."""
    if kind == IdentityKind.PHONE:
        return PiiKind.PHONE
    if kind == IdentityKind.EMAIL:
        return PiiKind.EMAIL
    return PiiKind.GENERIC


def guess_keys(text: str) -> list[IdentityKey]:
    """Search: every identity a free-text value could be (phone, e-mail or an opaque id).

    Opaque kinds are matched on the value alone (any namespace), so the keys returned for them
    carry ``namespace="*"``.
    """
    text = text.strip()
    keys: list[IdentityKey] = []
    kind, normalise = (
        (IdentityKind.EMAIL, normalise_email)
        if "@" in text
        else (IdentityKind.PHONE, normalise_phone)
    )
    with contextlib.suppress(ValueError):
        keys.append(IdentityKey(kind, "", normalise(text)))
    if _OPAQUE_RE.match(text):
        keys.append(IdentityKey("*", "*", text))
    return keys
