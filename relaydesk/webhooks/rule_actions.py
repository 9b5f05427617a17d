"""The ``webhook.send`` rule action: an ad-hoc signed message to one endpoint.

Transactional: it only writes the message, the delivery and the first attempt's job in the
unit of work that records the rule step, so it happens once however often the step is
re-run; the attempt job sends it with the usual retries. The payload is masked like every
message (clear only for an include_pii endpoint).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.automation.actions import ActionContext, ActionFailed, ActionType, register_action
from relaydesk.events.catalogue import EVENT_NAME
from relaydesk.webhooks import delivery as _delivery  # noqa: F401 - registers the attempt job
from relaydesk.webhooks.dispatch import create_message, dispatch
from relaydesk.webhooks.repository import EndpointRepository

__all__ = ["WebhookSendParams"]


class WebhookSendParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    endpoint_id: uuid.UUID = Field(description="The webhook endpoint to send to")
    event_type: str = Field(
        pattern=EVENT_NAME.pattern, max_length=100, description="The `type` of the message"
    )
    payload: dict[str, Any] = Field(default_factory=dict, description="The message's `data`")


async def _send(ctx: ActionContext, params: WebhookSendParams) -> dict[str, Any]:
    assert ctx.session is not None
    endpoint = await EndpointRepository(ctx.session).get(params.endpoint_id)
    if endpoint is None:
        raise ActionFailed(f"webhook endpoint {params.endpoint_id} not found", code="not_found")
    if not endpoint.enabled:
        raise ActionFailed(
            f"webhook endpoint {endpoint.id} is disabled ({endpoint.disabled_reason})",
            code="endpoint_disabled",
        )
    message = await create_message(
        ctx.session, tenant_id=ctx.tenant_id, event_type=params.event_type,
        payload=params.payload, origin="rule", keep_clear=endpoint.include_pii,
    )  # fmt: skip
    delivery = await dispatch(ctx.session, message, endpoint, "rule")
    await ctx.session.flush()
    return {"message_id": str(message.id), "delivery_id": str(delivery.id),
            "endpoint_id": str(endpoint.id)}  # fmt: skip


async def _check(
    session: AsyncSession, params: Mapping[str, Any], run_as: frozenset[str]
) -> list[tuple[tuple[str | int, ...], str]]:
    """When a rule is saved: the endpoint exists in this organisation."""
    try:
        endpoint_id = uuid.UUID(str(params.get("endpoint_id")))
    except ValueError:
        return []  # the params model reports it
    if await EndpointRepository(session).get(endpoint_id) is None:
        return [(("endpoint_id",), "no such webhook endpoint in this organisation")]
    return []


WEBHOOK_SEND = register_action(ActionType(
    "webhook.send", WebhookSendParams, _send,
    "Send a signed webhook message to one endpoint (retried like every delivery)",
    permission="webhooks.manage", transactional=True, check=_check,
    describe=lambda p: f"send {p.event_type} to webhook endpoint {p.endpoint_id}",
))  # fmt: skip
