"""``/api/v1/customers/{customer_id}/identities``: add, remove, verify, reveal."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from relaydesk.auth.deps import Require
from relaydesk.auth.principal import Principal
from relaydesk.customers.identities import IdentityKind
from relaydesk.customers.identity_schemas import (
    IdentityIn,
    IdentityList,
    IdentityOut,
    IdentityRevealOut,
)
from relaydesk.customers.identity_service import IdentityService
from relaydesk.customers.openapi import responses, xml_body
from relaydesk.kit.db import DbSession

router = APIRouter(prefix="/{customer_id}/identities", tags=["customers"])

Reader = Annotated[Principal, Depends(Require("customers.read"))]
Writer = Annotated[Principal, Depends(Require("customers.write"))]
Revealer = Annotated[Principal, Depends(Require("customers.pii.reveal"))]


@router.get("", response_model=IdentityList, responses=responses(200, "IdentityList"))
async def list_identities(
    customer_id: uuid.UUID, principal: Reader, session: DbSession
) -> IdentityList:
    """The customer's identities, oldest first; values masked by role."""
    rows = await IdentityService(session, principal.actor).list(customer_id)
    return IdentityList(items=[IdentityOut.from_model(r, principal) for r in rows])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=IdentityOut,
    responses=responses(201, "IdentityOut", conflict=True),
    openapi_extra=xml_body("IdentityIn"),
)
async def add_identity(
    customer_id: uuid.UUID, body: IdentityIn, principal: Writer, session: DbSession
) -> IdentityOut:
    """Attach an identity (normalised); 409 when another customer holds it. Audited."""
    row = await IdentityService(session, principal.actor).add(customer_id, body)
    return IdentityOut.from_model(row, principal)


@router.delete("/{identity_id}", status_code=status.HTTP_204_NO_CONTENT,
               responses=responses(None))  # fmt: skip
async def remove_identity(
    customer_id: uuid.UUID, identity_id: uuid.UUID, principal: Writer, session: DbSession
) -> None:
    """Detach an identity; the profile phone/e-mail moves to another one of its kind. Audited."""
    await IdentityService(session, principal.actor).remove(customer_id, identity_id)


@router.post("/{identity_id}/verify", response_model=IdentityOut,
             responses=responses(200, "IdentityOut"))  # fmt: skip
async def verify_identity(
    customer_id: uuid.UUID, identity_id: uuid.UUID, principal: Writer, session: DbSession
) -> IdentityOut:
    """Mark an identity as proven (inbound contacts presenting it verified then join). Audited."""
    row = await IdentityService(session, principal.actor).verify(customer_id, identity_id)
    return IdentityOut.from_model(row, principal)


@router.post("/{identity_id}/reveal", response_model=IdentityRevealOut,
             responses=responses(200, "IdentityRevealOut"))  # fmt: skip
async def reveal_identity(
    customer_id: uuid.UUID,
    identity_id: uuid.UUID,
    principal: Revealer,
    session: DbSession,
    response: Response,
) -> IdentityRevealOut:
    """The clear value of one identity, audited as ``customer.pii_revealed``."""
    row = await IdentityService(session, principal.actor).reveal(customer_id, identity_id)
    response.headers["Cache-Control"] = "no-store"
    return IdentityRevealOut(identity_id=row.id, kind=IdentityKind(row.kind), value=row.value)
