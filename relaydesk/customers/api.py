"""``/api/v1/customers``: JSON, and XML on request (see relaydesk.kit.xml_negotiation).

Every customer in a response is built by ``CustomerOut.from_model`` (through
``CustomerViews.out``), which masks personal fields, personal attributes and identities unless
the caller holds ``customers.pii.view``. A merged customer answers 404 ``customer_merged``
with ``details.merged_into`` (the survivor's id).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from relaydesk.auth.deps import Require
from relaydesk.auth.principal import Principal
from relaydesk.customers.attributes_api import router as attributes_router
from relaydesk.customers.identities_api import router as identities_router
from relaydesk.customers.merge_api import router as merge_router
from relaydesk.customers.merge_api import suggestions_router
from relaydesk.customers.openapi import responses, xml_body
from relaydesk.customers.schemas import (
    PII_VIEW,
    CustomerFilters,
    CustomerIn,
    CustomerOut,
    CustomerPatch,
    RevealIn,
    RevealOut,
)
from relaydesk.customers.service import CustomerService, search_filters
from relaydesk.kit.db import DbSession
from relaydesk.kit.pagination import Page, PageParams, page_params

router = APIRouter(prefix="/customers", tags=["customers"])
# fixed paths first: /customers/attribute-definitions is not a customer id
router.include_router(attributes_router)
router.include_router(suggestions_router)

Reader = Annotated[Principal, Depends(Require("customers.read"))]
Writer = Annotated[Principal, Depends(Require("customers.write"))]
Revealer = Annotated[Principal, Depends(Require("customers.pii.reveal"))]
Paging = Annotated[PageParams, Depends(page_params)]


def _filters(
    q: Annotated[
        str | None, Query(max_length=200, description="Part of the name or company")
    ] = None,
    phone: Annotated[
        str | None, Query(max_length=40, description="Exact number, in any common format")
    ] = None,
    email: Annotated[str | None, Query(max_length=320, description="Exact e-mail")] = None,
    tag: Annotated[str | None, Query(max_length=50, description="Has this tag")] = None,
    identity: Annotated[
        str | None,
        Query(
            max_length=320,
            description="Holds this identity: a phone in any common format "
            "(139-1234-5678 finds +8613912345678), an e-mail, or any id",
        ),
    ] = None,
    identity_kind: Annotated[
        str | None,
        Query(
            max_length=16,
            description="Match `identity` as this kind only (phone, email, "
            "visitor, openid, unionid, app_user, external)",
        ),
    ] = None,
    namespace: Annotated[
        str | None,
        Query(max_length=100, description="With identity_kind: the app id or connector instance"),
    ] = None,
) -> CustomerFilters:
    return search_filters(q=q, phone=phone, email=email, tag=tag, identity=identity,
                          identity_kind=identity_kind, namespace=namespace)  # fmt: skip


@router.get("", response_model=Page[CustomerOut], responses=responses(200, "Page_CustomerOut_"))
async def list_customers(
    principal: Reader,
    session: DbSession,
    filters: Annotated[CustomerFilters, Depends(_filters)],
    paging: Paging,
) -> Page[CustomerOut]:
    """Customers, newest first, filtered by name/company text, phone, e-mail, tag or identity.

    Merged customers are not listed (their survivor is).
    """
    service = CustomerService(session, principal.actor)
    rows, cursor = await service.list(filters, paging)
    views = await service.views(rows)
    return Page[CustomerOut](items=[views.out(c, principal) for c in rows], next_cursor=cursor)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=CustomerOut,
    responses=responses(201, "CustomerOut", conflict=True),
    openapi_extra=xml_body("CustomerIn"),
)
async def create_customer(body: CustomerIn, principal: Writer, session: DbSession) -> CustomerOut:
    """Create a customer; phone, ID number, e-mail and bank card are validated and normalised.

    Defined attributes are type-checked (422 at ``attributes.<key>``); ``identities`` are
    attached (409 when another customer holds one). Emits ``customer.created``.
    """
    service = CustomerService(session, principal.actor)
    customer = await service.create(body)
    return (await service.views([customer])).out(customer, principal)


@router.get("/{customer_id}", response_model=CustomerOut, responses=responses(200, "CustomerOut"))
async def get_customer(
    customer_id: uuid.UUID, principal: Reader, session: DbSession
) -> CustomerOut:
    """One customer with its identities; a merged one is 404 ``customer_merged``."""
    service = CustomerService(session, principal.actor)
    customer = await service.get(customer_id)
    return (await service.views([customer])).out(customer, principal)


@router.patch(
    "/{customer_id}",
    response_model=CustomerOut,
    responses=responses(200, "CustomerOut"),
    openapi_extra=xml_body("CustomerPatch"),
)
async def update_customer(
    customer_id: uuid.UUID, body: CustomerPatch, principal: Writer, session: DbSession
) -> CustomerOut:
    """Change the fields sent; ``null`` clears an optional field. Emits ``customer.updated``.

    ``attributes`` replaces the whole map (required attributes must be in it).
    """
    service = CustomerService(session, principal.actor)
    customer = await service.update(customer_id, body, masked=not principal.has(PII_VIEW))
    return (await service.views([customer])).out(customer, principal)


@router.delete("/{customer_id}", status_code=status.HTTP_204_NO_CONTENT, responses=responses(None))
async def delete_customer(customer_id: uuid.UUID, principal: Writer, session: DbSession) -> None:
    """Delete a customer, its identities and the customers merged into it (audited)."""
    await CustomerService(session, principal.actor).delete(customer_id)


@router.post(
    "/{customer_id}/reveal",
    response_model=RevealOut,
    responses=responses(200, "RevealOut"),
    openapi_extra=xml_body("RevealIn"),
)
async def reveal_field(
    customer_id: uuid.UUID,
    body: RevealIn,
    principal: Revealer,
    session: DbSession,
    response: Response,
) -> RevealOut:
    """The clear value of one personal field or attribute, audited as ``customer.pii_revealed``."""
    value = await CustomerService(session, principal.actor).reveal(customer_id, body.field)
    response.headers["Cache-Control"] = "no-store"
    return RevealOut(field=body.field, value=value)


router.include_router(identities_router)
router.include_router(merge_router)
