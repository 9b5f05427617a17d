"""``/api/v1/webhooks``: endpoints, messages, deliveries with their attempts, test, replay and
recover. Reading needs ``webhooks.read``, everything else ``webhooks.manage`` (and
``webhooks.pii`` to let an endpoint receive personal data unmasked)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, status

from relaydesk.auth.deps import Require
from relaydesk.auth.principal import Principal
from relaydesk.integrations.api import get_keyring
from relaydesk.kit.crypto import Keyring
from relaydesk.kit.db import DbSession
from relaydesk.kit.pagination import Page, PageParams, page_params
from relaydesk.kit.schemas import COMMON_ERRORS, error_responses
from relaydesk.webhooks import delivery as _delivery  # noqa: F401 - registers the attempt job
from relaydesk.webhooks.messages import MessageService
from relaydesk.webhooks.models import WebhookDelivery, WebhookEndpoint
from relaydesk.webhooks.schemas import (
    AttemptOut,
    DeliveryDetail,
    DeliveryOut,
    EndpointCreated,
    EndpointHealth,
    EndpointIn,
    EndpointOut,
    EndpointPatch,
    MessageDetail,
    RecoverIn,
    RecoverOut,
    RotateIn,
    SecretOut,
    TestIn,
    WebhookMessageOut,
    WebhookReplayIn,
    WebhookReplayOut,
)
from relaydesk.webhooks.service import EndpointService

__all__ = ["endpoint_out", "router"]

router = APIRouter(prefix="/webhooks", tags=["webhooks"])

Reader = Annotated[Principal, Depends(Require("webhooks.read"))]
Manager = Annotated[Principal, Depends(Require("webhooks.manage"))]
Keys = Annotated[Keyring, Depends(get_keyring)]
Paging = Annotated[PageParams, Depends(page_params)]
EndpointId = Annotated[uuid.UUID, Path(description="The webhook endpoint's id")]
MessageId = Annotated[uuid.UUID, Path(description="The message's id (its webhook-id header)")]
DeliveryId = Annotated[uuid.UUID, Path(description="The delivery's id")]
CONFLICT = {**COMMON_ERRORS, **error_responses(409)}


def endpoint_out(endpoint: WebhookEndpoint) -> EndpointOut:
    return EndpointOut(
        id=endpoint.id, url=endpoint.url, description=endpoint.description or "",
        event_types=list(endpoint.event_types or []), enabled=endpoint.enabled,
        disabled_reason=endpoint.disabled_reason, disabled_at=endpoint.disabled_at,
        rate_limit=endpoint.rate_limit, include_pii=endpoint.include_pii,
        allow_network=list(endpoint.allow_network or []),
        previous_secret_expires_at=endpoint.previous_expires_at,
        health=EndpointHealth.model_validate(endpoint), version=endpoint.version,
        created_at=endpoint.created_at, updated_at=endpoint.updated_at,
    )  # fmt: skip


def _delivery_out(row: WebhookDelivery) -> DeliveryOut:
    return DeliveryOut.model_validate(row)


# --- endpoints -------------------------------------------------------------------------


@router.get("/endpoints", response_model=Page[EndpointOut], responses=COMMON_ERRORS)
async def list_endpoints(
    principal: Reader,
    session: DbSession,
    keyring: Keys,
    paging: Paging,
    enabled: Annotated[bool | None, Query()] = None,
) -> Page[EndpointOut]:
    rows, cursor = await EndpointService(session, principal, keyring).list(paging, enabled=enabled)
    return Page[EndpointOut](items=[endpoint_out(r) for r in rows], next_cursor=cursor)


@router.post("/endpoints", status_code=status.HTTP_201_CREATED, response_model=EndpointCreated,
             responses=COMMON_ERRORS)  # fmt: skip
async def create_endpoint(
    body: EndpointIn, principal: Manager, session: DbSession, keyring: Keys
) -> EndpointCreated:
    """Create an endpoint; the answer holds its signing secret, shown only this once."""
    endpoint, secret = await EndpointService(session, principal, keyring).create(body)
    return EndpointCreated(**endpoint_out(endpoint).model_dump(), secret=secret)


@router.get("/endpoints/{webhook_endpoint_id}", response_model=EndpointOut, responses=COMMON_ERRORS)
async def get_endpoint(
    webhook_endpoint_id: EndpointId, principal: Reader, session: DbSession, keyring: Keys
) -> EndpointOut:
    return endpoint_out(await EndpointService(session, principal, keyring).get(webhook_endpoint_id))


@router.patch(
    "/endpoints/{webhook_endpoint_id}", response_model=EndpointOut, responses=COMMON_ERRORS
)
async def update_endpoint(
    webhook_endpoint_id: EndpointId, body: EndpointPatch, principal: Manager, session: DbSession,
    keyring: Keys,
) -> EndpointOut:  # fmt: skip
    """Change the fields sent. ``enabled: true`` re-enables and resets the endpoint's health."""
    service = EndpointService(session, principal, keyring)
    return endpoint_out(await service.update(webhook_endpoint_id, body))


@router.delete("/endpoints/{webhook_endpoint_id}", status_code=status.HTTP_204_NO_CONTENT,
               responses=COMMON_ERRORS)  # fmt: skip
async def delete_endpoint(
    webhook_endpoint_id: EndpointId, principal: Manager, session: DbSession, keyring: Keys
) -> None:
    """Delete the endpoint with its deliveries and attempts."""
    await EndpointService(session, principal, keyring).delete(webhook_endpoint_id)


@router.post("/endpoints/{webhook_endpoint_id}/rotate-secret", response_model=SecretOut,
             responses=COMMON_ERRORS)  # fmt: skip
async def rotate_secret(
    webhook_endpoint_id: EndpointId,
    principal: Manager,
    session: DbSession,
    keyring: Keys,
    body: Annotated[RotateIn | None, Body()] = None,
) -> SecretOut:
    """A new secret (shown only now); the old one keeps signing during the overlap period, so
    ``webhook-signature`` then carries both signatures."""
    service = EndpointService(session, principal, keyring)
    endpoint, secret = await service.rotate(webhook_endpoint_id, body or RotateIn())
    return SecretOut(secret=secret, previous_secret_expires_at=endpoint.previous_expires_at)


@router.post("/endpoints/{webhook_endpoint_id}/test", status_code=status.HTTP_202_ACCEPTED,
             response_model=DeliveryOut, responses=COMMON_ERRORS)  # fmt: skip
async def send_test(
    webhook_endpoint_id: EndpointId,
    principal: Manager,
    session: DbSession,
    body: Annotated[TestIn | None, Body()] = None,
) -> DeliveryOut:
    """Send a signed test message (one attempt, even to a disabled endpoint)."""
    delivery = await MessageService(session, principal).send_test(
        webhook_endpoint_id, body or TestIn()
    )
    return _delivery_out(delivery)


@router.post("/endpoints/{webhook_endpoint_id}/recover", response_model=RecoverOut,
             responses=CONFLICT)  # fmt: skip
async def recover(
    webhook_endpoint_id: EndpointId, body: RecoverIn, principal: Manager, session: DbSession
) -> RecoverOut:
    """Re-send every failed delivery of this endpoint created since ``since`` (409 while the
    endpoint is disabled)."""
    sent, more = await MessageService(session, principal).recover(webhook_endpoint_id, body)
    return RecoverOut(recovered=sent, more=more)


# --- messages and deliveries ----------------------------------------------------------


@router.get("/messages", response_model=Page[WebhookMessageOut], responses=COMMON_ERRORS)
async def list_messages(
    principal: Reader,
    session: DbSession,
    paging: Paging,
    event_type: Annotated[str | None, Query(max_length=100)] = None,
) -> Page[WebhookMessageOut]:
    """Messages newest first; payloads with personal data masked."""
    rows, cursor = await MessageService(session, principal).messages_page(
        paging, event_type=event_type
    )
    items = [WebhookMessageOut.model_validate(r) for r in rows]
    return Page[WebhookMessageOut](items=items, next_cursor=cursor)


@router.get("/messages/{webhook_message_id}", response_model=MessageDetail, responses=COMMON_ERRORS)
async def get_message(
    webhook_message_id: MessageId, principal: Reader, session: DbSession
) -> MessageDetail:
    message, deliveries = await MessageService(session, principal).message(webhook_message_id)
    return MessageDetail(
        **WebhookMessageOut.model_validate(message).model_dump(),
        deliveries=[_delivery_out(d) for d in deliveries],
    )


@router.post("/messages/{webhook_message_id}/replay", status_code=status.HTTP_202_ACCEPTED,
             response_model=WebhookReplayOut, responses=CONFLICT)  # fmt: skip
async def replay_message(
    webhook_message_id: MessageId,
    principal: Manager,
    session: DbSession,
    body: Annotated[WebhookReplayIn | None, Body()] = None,
) -> WebhookReplayOut:
    """Send the message again (same ``webhook-id``): to ``endpoint_id``, or to every enabled
    endpoint whose filters match it."""
    endpoint_id = body.endpoint_id if body is not None else None
    deliveries = await MessageService(session, principal).replay(webhook_message_id, endpoint_id)
    return WebhookReplayOut(deliveries=[_delivery_out(d) for d in deliveries])


@router.get("/deliveries", response_model=Page[DeliveryOut], responses=COMMON_ERRORS)
async def list_deliveries(
    principal: Reader,
    session: DbSession,
    paging: Paging,
    endpoint_id: Annotated[uuid.UUID | None, Query()] = None,
    message_id: Annotated[uuid.UUID | None, Query()] = None,
    status_: Annotated[
        Literal["pending", "succeeded", "failed"] | None, Query(alias="status")
    ] = None,
) -> Page[DeliveryOut]:
    rows, cursor = await MessageService(session, principal).deliveries_page(
        paging, endpoint_id=endpoint_id, message_id=message_id, status=status_
    )
    return Page[DeliveryOut](items=[_delivery_out(r) for r in rows], next_cursor=cursor)


@router.get(
    "/deliveries/{webhook_delivery_id}", response_model=DeliveryDetail, responses=COMMON_ERRORS
)
async def get_delivery(
    webhook_delivery_id: DeliveryId, principal: Reader, session: DbSession
) -> DeliveryDetail:
    """A delivery with every attempt (status, latency, the first 1 KB of the answer, error)."""
    delivery, attempts = await MessageService(session, principal).delivery(webhook_delivery_id)
    return DeliveryDetail(
        **_delivery_out(delivery).model_dump(),
        attempts_log=[AttemptOut.model_validate(a) for a in attempts],
    )
