"""``/api/v1/customers``: JSON, and XML on request (see relaydesk.kit.xml_negotiation).

Every customer in a response is built by ``CustomerOut.from_model``, which masks personal
fields unless the caller holds ``customers.pii.view``.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response, status

from relaydesk.auth.deps import Require
from relaydesk.auth.principal import Principal
from relaydesk.customers.schemas import (
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
from relaydesk.kit.schemas import COMMON_ERRORS
from relaydesk.kit.xmlio import XML_MEDIA_TYPE

router = APIRouter(prefix="/customers", tags=["customers"])

Reader = Annotated[Principal, Depends(Require("customers.read"))]
Writer = Annotated[Principal, Depends(Require("customers.write"))]
Revealer = Annotated[Principal, Depends(Require("customers.pii.reveal"))]
Paging = Annotated[PageParams, Depends(page_params)]

# --- OpenAPI: the same schemas as XML (root <response> or <error>; lists as <item>) ---------

_XML_TYPES = (XML_MEDIA_TYPE, "text/xml")


def _xml_content(component: str, root: str) -> dict[str, Any]:
    schema = {"$ref": f"#/components/schemas/{component}", "xml": {"name": root}}
    return {media: {"schema": schema} for media in _XML_TYPES}


def _responses(success: int | None, component: str | None = None) -> dict[int | str, Any]:
    out: dict[int | str, Any] = {
        code: {**spec, "content": _xml_content("ErrorBody", "error")}
        for code, spec in COMMON_ERRORS.items()
    }
    if success is not None and component is not None:
        out[success] = {"content": _xml_content(component, "response")}
    return out


def _xml_body(component: str) -> dict[str, Any]:
    return {"requestBody": {"content": _xml_content(component, "request")}}


# --- routes ------------------------------------------------------------------------------


def _filters(
    q: Annotated[str | None, Query(max_length=200, description="Part of the name or company")]
    = None,
    phone: Annotated[
        str | None, Query(max_length=40, description="Exact number, in any common format")
    ] = None,
    email: Annotated[str | None, Query(max_length=320, description="Exact e-mail")] = None,
    tag: Annotated[str | None, Query(max_length=50, description="Has this tag")] = None,
) -> CustomerFilters:
    return search_filters(q=q, phone=phone, email=email, tag=tag)


@router.get(
    "", response_model=Page[CustomerOut], responses=_responses(200, "Page_CustomerOut_")
)
async def list_customers(
    principal: Reader,
    session: DbSession,
    filters: Annotated[CustomerFilters, Depends(_filters)],
    paging: Paging,
) -> Page[CustomerOut]:
    """Customers, newest first, filtered by name/company text, phone, e-mail or tag."""
    rows, cursor = await CustomerService(session, principal.actor).list(filters, paging)
    return Page[CustomerOut](
        items=[CustomerOut.from_model(c, principal) for c in rows], next_cursor=cursor
    )


@router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=CustomerOut,
    responses=_responses(201, "CustomerOut"), openapi_extra=_xml_body("CustomerIn"),
)
async def create_customer(body: CustomerIn, principal: Writer, session: DbSession) -> CustomerOut:
    """Create a customer; phone, ID number, e-mail and bank card are validated and normalised."""
    customer = await CustomerService(session, principal.actor).create(body)
    return CustomerOut.from_model(customer, principal)


@router.get("/{customer_id}", response_model=CustomerOut, responses=_responses(200, "CustomerOut"))
async def get_customer(
    customer_id: uuid.UUID, principal: Reader, session: DbSession
) -> CustomerOut:
    customer = await CustomerService(session, principal.actor).get(customer_id)
    return CustomerOut.from_model(customer, principal)


@router.patch(
    "/{customer_id}", response_model=CustomerOut, responses=_responses(200, "CustomerOut"),
    openapi_extra=_xml_body("CustomerPatch"),
)
async def update_customer(
    customer_id: uuid.UUID, body: CustomerPatch, principal: Writer, session: DbSession
) -> CustomerOut:
    """Change the fields sent; ``null`` clears an optional field."""
    customer = await CustomerService(session, principal.actor).update(customer_id, body)
    return CustomerOut.from_model(customer, principal)


@router.delete(
    "/{customer_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_responses(None)
)
async def delete_customer(customer_id: uuid.UUID, principal: Writer, session: DbSession) -> None:
    """Delete a customer (audited as ``customer.deleted``)."""
    await CustomerService(session, principal.actor).delete(customer_id)


@router.post(
    "/{customer_id}/reveal", response_model=RevealOut, responses=_responses(200, "RevealOut"),
    openapi_extra=_xml_body("RevealIn"),
)
async def reveal_field(
    customer_id: uuid.UUID, body: RevealIn, principal: Revealer, session: DbSession,
    response: Response,
) -> RevealOut:
    """The clear value of one personal field, audited as ``customer.pii_revealed``."""
    value = await CustomerService(session, principal.actor).reveal(customer_id, body.field)
    response.headers["Cache-Control"] = "no-store"
    return RevealOut(field=body.field, value=value)
