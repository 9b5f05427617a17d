"""Merge, split (``/customers/{id}/merge``, ``/split``) and ``/customers/merge-suggestions``."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, status
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.auth.deps import Require
from relaydesk.auth.principal import Principal
from relaydesk.customers.identities import IdentityKind, identity_pii_kind
from relaydesk.customers.identity_schemas import PII_VIEW
from relaydesk.customers.merge import MergeService
from relaydesk.customers.merge_schemas import (
    MergeIn,
    SplitIn,
    SuggestionOut,
    SuggestionReason,
)
from relaydesk.customers.models import MergeSuggestion
from relaydesk.customers.openapi import responses, xml_body
from relaydesk.customers.repository import CustomerRepository, IdentityRepository
from relaydesk.customers.schemas import CustomerOut
from relaydesk.customers.service import CustomerService
from relaydesk.customers.suggestions import SuggestionService
from relaydesk.kit.db import DbSession
from relaydesk.kit.masking import mask
from relaydesk.kit.pagination import Page, PageParams, page_params

router = APIRouter(tags=["customers"])
suggestions_router = APIRouter(prefix="/merge-suggestions", tags=["customers"])

Reader = Annotated[Principal, Depends(Require("customers.read"))]
Merger = Annotated[Principal, Depends(Require("customers.merge"))]
Paging = Annotated[PageParams, Depends(page_params)]


@router.post(
    "/{customer_id}/merge",
    response_model=CustomerOut,
    responses=responses(200, "CustomerOut", conflict=True),
    openapi_extra=xml_body("MergeIn"),
)
async def merge_customers(
    customer_id: uuid.UUID, body: MergeIn, principal: Merger, session: DbSession
) -> CustomerOut:
    """Merge ``merge_ids`` into this customer (it survives); audited, emits ``customer.merged``.

    The merged customers then answer 404 ``customer_merged`` with ``details.merged_into``.
    """
    survivor = await MergeService(session, principal.actor).merge(customer_id, body.merge_ids)
    return (await CustomerService(session, principal.actor).views([survivor])).out(
        survivor, principal
    )


@router.post(
    "/{customer_id}/split",
    status_code=status.HTTP_201_CREATED,
    response_model=CustomerOut,
    responses=responses(201, "CustomerOut"),
    openapi_extra=xml_body("SplitIn"),
)
async def split_customer(
    customer_id: uuid.UUID, body: SplitIn, principal: Merger, session: DbSession
) -> CustomerOut:
    """Move identities of this customer to a new customer (answered); audited, emits
    ``customer.created`` and ``customer.split``."""
    new = await MergeService(session, principal.actor).split(
        customer_id, body.identity_ids, body.name
    )
    return (await CustomerService(session, principal.actor).views([new])).out(new, principal)


async def _outs(
    session: AsyncSession, rows: Sequence[MergeSuggestion], principal: Principal
) -> list[SuggestionOut]:
    customers = await CustomerRepository(session).by_ids(
        {r.customer_id for r in rows} | {r.candidate_id for r in rows}
    )
    views = await CustomerService(session, principal.actor).views(list(customers.values()))
    identity_ids = {uuid.UUID(x["identity_id"]) for r in rows for x in r.reasons
                    if x.get("identity_id")}  # fmt: skip
    identities = await IdentityRepository(session).by_ids(identity_ids)
    clear = principal.has(PII_VIEW)
    out = []
    for row in rows:
        if row.customer_id not in customers or row.candidate_id not in customers:
            continue  # pragma: no cover - deleting a customer deletes its pairs
        reasons = []
        for reason in row.reasons:
            found = identities.get(uuid.UUID(reason["identity_id"]))
            value = None
            if found is not None:
                value = found.value if clear else mask(found.value, identity_pii_kind(found.kind))
            reasons.append(SuggestionReason(
                why=reason["why"], kind=IdentityKind(reason["kind"]),
                identity_id=found.id if found else None, value=value,
            ))  # fmt: skip
        out.append(SuggestionOut(
            id=row.id, status=row.status,
            customer=views.out(customers[row.customer_id], principal),
            candidate=views.out(customers[row.candidate_id], principal),
            reasons=reasons, created_at=row.created_at, updated_at=row.updated_at,
        ))  # fmt: skip
    return out


@suggestions_router.get("", response_model=Page[SuggestionOut],
                        responses=responses(200, "Page_SuggestionOut_"))  # fmt: skip
async def list_suggestions(
    principal: Reader,
    session: DbSession,
    paging: Paging,
    status_: Annotated[
        Literal["open", "dismissed", "merged", "all"],
        Query(alias="status", description="Only this status (default: open)"),
    ] = "open",
) -> Page[SuggestionOut]:
    """Pairs of customers that look like one person, newest first; merge or dismiss them."""
    service = SuggestionService(session, principal.actor)
    rows, cursor = await service.list(None if status_ == "all" else status_, paging)
    return Page[SuggestionOut](items=await _outs(session, rows, principal), next_cursor=cursor)


@suggestions_router.post("/{suggestion_id}/dismiss", response_model=SuggestionOut,
                         responses=responses(200, "SuggestionOut", conflict=True))  # fmt: skip
async def dismiss_suggestion(
    suggestion_id: uuid.UUID, principal: Merger, session: DbSession
) -> SuggestionOut:
    """Not the same person: the pair leaves the open list (new evidence reopens it). Audited."""
    row = await SuggestionService(session, principal.actor).dismiss(suggestion_id)
    return (await _outs(session, [row], principal))[0]
