"""Identity bodies: input checked by :func:`normalise_identity`, output masked by role."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Final, Literal

from pydantic import Field, ValidationInfo, field_validator

from relaydesk.auth.principal import Principal
from relaydesk.customers.identities import (
    IdentityError,
    IdentityKey,
    IdentityKind,
    identity_pii_kind,
    normalise_identity,
)
from relaydesk.customers.models import CustomerIdentity
from relaydesk.kit.masking import mask
from relaydesk.kit.schemas import RequestModel, ResponseModel

#: permission that lifts masking in every customer response
PII_VIEW: Final = "customers.pii.view"

KindName = Literal["phone", "email", "visitor", "openid", "unionid", "app_user", "external"]


class IdentityIn(RequestModel):
    """An identity to attach; errors name the field (``value``, ``namespace``)."""

    kind: KindName
    namespace: str | None = Field(
        default=None,
        max_length=100,
        validate_default=True,
        description="openid/app_user: the app id; unionid: the open-platform account "
        "(optional); external: the connector instance name, optionally ':' and an id type",
    )
    value: str = Field(min_length=1, max_length=320, description="Normalised on the way in")
    verified: bool = Field(
        default=False,
        description="The customer proved they control it (identity resolution joins inbound "
        "contacts on verified identities only)",
    )

    @field_validator("namespace")
    @classmethod
    def _check_namespace(cls, value: str | None, info: ValidationInfo) -> str:
        kind = info.data.get("kind")
        if kind is None:
            return value or ""
        return _check(kind, "1", value, "namespace").namespace

    @field_validator("value")
    @classmethod
    def _check_value(cls, value: str, info: ValidationInfo) -> str:
        kind = info.data.get("kind")
        if kind is None or "namespace" not in info.data:
            return value
        return _check(kind, value, info.data["namespace"], "value").value

    @property
    def key(self) -> IdentityKey:
        return IdentityKey(self.kind, self.namespace or "", self.value)


def _check(kind: str, value: str, namespace: str | None, field: str) -> IdentityKey:
    """Validate one field of an identity (the other part is taken as valid)."""
    try:
        if field == "namespace":
            # check the namespace rules with a value every kind accepts
            placeholder = {"phone": "13912345678", "email": "a@example.com"}.get(kind, value)
            return normalise_identity(kind, placeholder, namespace)
        return normalise_identity(kind, value, namespace)
    except IdentityError as exc:
        if exc.field != field:
            raise ValueError(f"{exc.field}: {exc.message}") from None
        raise ValueError(exc.message) from None


class IdentityOut(ResponseModel):
    id: uuid.UUID
    customer_id: uuid.UUID
    kind: IdentityKind
    namespace: str
    value: str = Field(description="Masked unless the caller holds customers.pii.view")
    verified: bool
    verified_at: dt.datetime | None
    source: str
    origin: Literal["staff", "contact"]
    created_at: dt.datetime
    masked: bool

    @classmethod
    def from_model(cls, identity: CustomerIdentity, principal: Principal) -> IdentityOut:
        clear = principal.has(PII_VIEW)
        value = identity.value if clear else mask(identity.value, identity_pii_kind(identity.kind))
        return cls(
            id=identity.id,
            customer_id=identity.customer_id,
            kind=IdentityKind(identity.kind),
            namespace=identity.namespace,
            value=value or "",
            verified=identity.verified,
            verified_at=identity.verified_at,
            source=identity.source,
            origin="contact" if identity.origin == "contact" else "staff",
            created_at=identity.created_at,
            masked=not clear,
        )


class IdentityList(ResponseModel):
    items: list[IdentityOut]


class IdentityRevealOut(ResponseModel):
    identity_id: uuid.UUID
    kind: IdentityKind
    value: str
