"""``/api/v1/customers/{id}/timeline``, ``/api/v1/customers/{id}/panels`` and the panels'
administration ``/api/v1/customer-panels``.

Reading a customer's timeline or panels needs ``customers.read``; each panel also needs the
permission of its connector action (a panel the caller may not run is ``forbidden``, not
fetched). Administering panels needs ``connectors.manage`` or ``tenant.manage``; listing them
also ``connectors.read``.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, status

from relaydesk.auth.deps import CurrentPrincipal, Require
from relaydesk.auth.principal import Principal
from relaydesk.customer360 import links as _links  # noqa: F401 - registers the merge hook
from relaydesk.customer360.cache import PanelCache
from relaydesk.customer360.panels import PanelRunner
from relaydesk.customer360.schemas import (
    KEY_PATTERN,
    PanelIn,
    PanelOut,
    PanelPatch,
    PanelsView,
    TimelineItem,
    TimelineKind,
)
from relaydesk.customer360.service import PanelService
from relaydesk.customer360.timeline import ALL_KINDS, TimelineService
from relaydesk.customers.openapi import responses as xml_responses
from relaydesk.errors import Forbidden
from relaydesk.integrations.api import get_keyring, get_registry
from relaydesk.integrations.registry import RuntimeRegistry
from relaydesk.kit.crypto import Keyring
from relaydesk.kit.db import Database, DbSession
from relaydesk.kit.pagination import Page, PageParams, page_params
from relaydesk.kit.schemas import COMMON_ERRORS, error_responses

__all__ = ["RequireAny", "get_panel_cache", "router"]

router = APIRouter(tags=["customer 360"])


class RequireAny:
    """Passes principals holding at least one of the listed permissions."""

    def __init__(self, *permissions: str) -> None:
        self.permissions = permissions

    async def __call__(self, principal: CurrentPrincipal) -> Principal:
        if not any(principal.has(p) for p in self.permissions):
            wanted = " or ".join(self.permissions)
            raise Forbidden(
                f"Missing permission: {wanted}",
                details={"missing": list(self.permissions), "any_of": True},
            )
        return principal


def get_panel_cache(request: Request) -> PanelCache:
    """``app.state.customer360_cache`` (in Redis when the app has Redis)."""
    state = request.app.state
    cache: PanelCache | None = getattr(state, "customer360_cache", None)
    if cache is None:
        cache = state.customer360_cache = PanelCache(getattr(state, "redis", None))
    return cache


Reader = Annotated[Principal, Depends(Require("customers.read"))]
Admin = Annotated[Principal, Depends(RequireAny("connectors.manage", "tenant.manage"))]
AdminReader = Annotated[
    Principal, Depends(RequireAny("connectors.read", "connectors.manage", "tenant.manage"))
]
Keys = Annotated[Keyring, Depends(get_keyring)]
Registry = Annotated[RuntimeRegistry, Depends(get_registry)]
Cache = Annotated[PanelCache, Depends(get_panel_cache)]
Paging = Annotated[PageParams, Depends(page_params)]
CustomerId = Annotated[uuid.UUID, Path(description="The customer's id")]
PanelKey = Annotated[str, Path(pattern=KEY_PATTERN, description="The panel's key")]
ERRORS = {**COMMON_ERRORS, **error_responses(409)}


def _kinds(
    kind: Annotated[
        list[TimelineKind] | None,
        Query(description="Only these kinds (repeat): message, note, call, event"),
    ] = None,
) -> set[TimelineKind]:
    return set(kind) if kind else set(ALL_KINDS)


# --- a customer's timeline and panels --------------------------------------------------------


@router.get("/customers/{customer_id}/timeline", response_model=Page[TimelineItem],
            responses=xml_responses(200, "Page_TimelineItem_"))  # fmt: skip
async def timeline(
    customer_id: CustomerId,
    principal: Reader,
    session: DbSession,
    paging: Paging,
    kinds: Annotated[set[TimelineKind], Depends(_kinds)],
) -> Page[TimelineItem]:
    """The customer's messages on every channel, call records, internal notes (with
    conversations.read) and linked external events such as order.shipped, newest first;
    a merged customer's items included. Personal data masked without customers.pii.view."""
    items, cursor = await TimelineService(session, principal).page(customer_id, paging, kinds)
    return Page[TimelineItem](items=items, next_cursor=cursor)


def _runner(
    request: Request, session: DbSession, principal: Principal, registry: RuntimeRegistry,
    keyring: Keyring, cache: PanelCache,
) -> PanelRunner:  # fmt: skip
    db: Database = request.app.state.db
    return PanelRunner(session, principal, registry, keyring, cache, db)


@router.get("/customers/{customer_id}/panels", response_model=PanelsView,
            responses=xml_responses(200, "PanelsView"))  # fmt: skip
async def panels(
    customer_id: CustomerId, request: Request, principal: Reader, session: DbSession,
    registry: Registry, keyring: Keys, cache: Cache,
) -> PanelsView:  # fmt: skip
    """Every enabled panel of the organisation for this customer, fetched concurrently from
    the connected systems (each within its timeout, cached with fetched_at/cached/stale),
    masked by role. A broken or slow system gives its panel `unavailable` (or `stale` data),
    never an error for the whole answer."""
    runner = _runner(request, session, principal, registry, keyring, cache)
    return await runner.run(customer_id)


@router.get("/customers/{customer_id}/panels/{panel_key}", response_model=PanelsView,
            responses=xml_responses(200, "PanelsView"))  # fmt: skip
async def panel(
    customer_id: CustomerId, panel_key: PanelKey, request: Request, principal: Reader,
    session: DbSession, registry: Registry, keyring: Keys, cache: Cache,
    refresh: Annotated[bool, Query(description="Bypass the cache: ask the system now")] = False,
) -> PanelsView:  # fmt: skip
    """One panel (e.g. after the agent clicks refresh: `refresh=true` asks the system now)."""
    runner = _runner(request, session, principal, registry, keyring, cache)
    return await runner.run(customer_id, key=panel_key, refresh=refresh)


# --- administration ----------------------------------------------------------------------------


@router.get("/customer-panels", response_model=Page[PanelOut], responses=COMMON_ERRORS)
async def list_panels(principal: AdminReader, session: DbSession, keyring: Keys) -> Page[PanelOut]:
    """The organisation's panels in display order (one page: at most 12)."""
    service = PanelService(session, principal, keyring)
    return Page[PanelOut](items=await service.out(await service.list()), next_cursor=None)


@router.post("/customer-panels", status_code=status.HTTP_201_CREATED, response_model=PanelOut,
             responses=ERRORS)  # fmt: skip
async def create_panel(
    body: PanelIn, principal: Admin, session: DbSession, keyring: Keys
) -> PanelOut:
    """Add a panel: a read action of a connector instance with parameters templated from the
    customer (e.g. `{"mobile": "{{ customer.phone_national }}"}`)."""
    service = PanelService(session, principal, keyring)
    return (await service.out([await service.create(body)]))[0]


@router.get("/customer-panels/{panel_key}", response_model=PanelOut, responses=COMMON_ERRORS)
async def get_panel(panel_key: PanelKey, principal: AdminReader, session: DbSession,
                    keyring: Keys) -> PanelOut:  # fmt: skip
    service = PanelService(session, principal, keyring)
    return (await service.out([await service.get(panel_key)]))[0]


@router.patch("/customer-panels/{panel_key}", response_model=PanelOut, responses=ERRORS)
async def update_panel(
    panel_key: PanelKey, body: PanelPatch, principal: Admin, session: DbSession, keyring: Keys
) -> PanelOut:
    service = PanelService(session, principal, keyring)
    return (await service.out([await service.update(panel_key, body)]))[0]


@router.delete("/customer-panels/{panel_key}", status_code=status.HTTP_204_NO_CONTENT,
               responses=ERRORS)  # fmt: skip
async def delete_panel(panel_key: PanelKey, principal: Admin, session: DbSession,
                       keyring: Keys) -> None:  # fmt: skip
    """Remove a panel (409 while another panel uses it as its source)."""
    await PanelService(session, principal, keyring).delete(panel_key)
