"""``/api/v1/customers/attribute-definitions``: the tenant's typed custom attributes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, status

from relaydesk.auth.deps import Require
from relaydesk.auth.principal import Principal
from relaydesk.customers.attribute_schemas import (
    AttributeDefinitionIn,
    AttributeDefinitionList,
    AttributeDefinitionOut,
    AttributeDefinitionPatch,
)
from relaydesk.customers.attribute_service import AttributeDefinitionService
from relaydesk.customers.openapi import responses, xml_body
from relaydesk.kit.db import DbSession

router = APIRouter(prefix="/attribute-definitions", tags=["customers"])

Reader = Annotated[Principal, Depends(Require("customers.read"))]
Manager = Annotated[Principal, Depends(Require("tenant.manage"))]
Key = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]{0,63}$", description="The attribute key")]
_OUT = "AttributeDefinitionOut"


@router.get("", response_model=AttributeDefinitionList,
            responses=responses(200, "AttributeDefinitionList"))  # fmt: skip
async def list_definitions(principal: Reader, session: DbSession) -> AttributeDefinitionList:
    """Every attribute definition of the organisation, by key."""
    rows = await AttributeDefinitionService(session, principal.actor).list()
    return AttributeDefinitionList(items=[AttributeDefinitionOut.model_validate(r) for r in rows])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=AttributeDefinitionOut,
    responses=responses(201, _OUT, conflict=True),
    openapi_extra=xml_body("AttributeDefinitionIn"),
)
async def create_definition(
    body: AttributeDefinitionIn, principal: Manager, session: DbSession
) -> AttributeDefinitionOut:
    """Define a typed attribute (string, number, boolean, date, enum); audited."""
    row = await AttributeDefinitionService(session, principal.actor).create(body)
    return AttributeDefinitionOut.model_validate(row)


@router.get("/{attribute_key}", response_model=AttributeDefinitionOut,
            responses=responses(200, _OUT))  # fmt: skip
async def get_definition(
    attribute_key: Key, principal: Reader, session: DbSession
) -> AttributeDefinitionOut:
    row = await AttributeDefinitionService(session, principal.actor).get(attribute_key)
    return AttributeDefinitionOut.model_validate(row)


@router.patch(
    "/{attribute_key}",
    response_model=AttributeDefinitionOut,
    responses=responses(200, _OUT, conflict=True),
    openapi_extra=xml_body("AttributeDefinitionPatch"),
)
async def update_definition(
    attribute_key: Key, body: AttributeDefinitionPatch, principal: Manager, session: DbSession
) -> AttributeDefinitionOut:
    """Change labels, options, required or pii; the key and type are fixed."""
    service = AttributeDefinitionService(session, principal.actor)
    return AttributeDefinitionOut.model_validate(await service.update(attribute_key, body))


@router.delete("/{attribute_key}", status_code=status.HTTP_204_NO_CONTENT,
               responses=responses(None))  # fmt: skip
async def delete_definition(attribute_key: Key, principal: Manager, session: DbSession) -> None:
    """Remove the definition; existing values stay as untyped, unmasked attributes."""
    await AttributeDefinitionService(session, principal.actor).delete(attribute_key)
