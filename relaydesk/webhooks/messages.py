"""Messages and deliveries: read them, send a test, replay one message, recover failures.

Replay and recover create new deliveries of the stored message (same ``webhook-id``, so a
receiver can deduplicate); a recovered failed delivery points at its replacement
(``superseded_by``) and is not recovered twice.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.audit import service as audit
from relaydesk.auth.principal import Principal
from relaydesk.errors import Conflict, ValidationFailed
from relaydesk.events.catalogue import EVENT_NAME
from relaydesk.kit.pagination import PageParams
from relaydesk.webhooks.dispatch import create_message, dispatch
from relaydesk.webhooks.models import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookMessage,
)
from relaydesk.webhooks.payloads import matches
from relaydesk.webhooks.repository import (
    AttemptRepository,
    DeliveryRepository,
    EndpointRepository,
    MessageRepository,
)
from relaydesk.webhooks.schemas import RecoverIn, TestIn

__all__ = ["RECOVER_BATCH", "MessageService"]

#: deliveries re-sent per recover call (the answer says when more remain)
RECOVER_BATCH = 1000
TEST_TYPE = "webhook.test"


class MessageService:
    def __init__(self, session: AsyncSession, principal: Principal) -> None:
        self.session = session
        self.principal = principal
        self.endpoints = EndpointRepository(session)
        self.messages = MessageRepository(session)
        self.deliveries = DeliveryRepository(session)
        self.attempts = AttemptRepository(session)

    # --- reading ----------------------------------------------------------------------

    async def messages_page(
        self, params: PageParams, *, event_type: str | None = None
    ) -> tuple[Sequence[WebhookMessage], str | None]:
        return await self.messages.list_page(params, event_type=event_type)

    async def message(
        self, message_id: uuid.UUID
    ) -> tuple[WebhookMessage, Sequence[WebhookDelivery]]:
        message = await self.messages.get_or_404(message_id)
        return message, await self.deliveries.of_message(message.id)

    async def deliveries_page(
        self,
        params: PageParams,
        *,
        endpoint_id: uuid.UUID | None = None,
        message_id: uuid.UUID | None = None,
        status: str | None = None,
    ) -> tuple[Sequence[WebhookDelivery], str | None]:
        return await self.deliveries.list_page(
            params, endpoint_id=endpoint_id, message_id=message_id, status=status
        )

    async def delivery(
        self, delivery_id: uuid.UUID
    ) -> tuple[WebhookDelivery, Sequence[WebhookAttempt]]:
        delivery = await self.deliveries.get_or_404(delivery_id)
        return delivery, await self.attempts.of_delivery(delivery.id)

    # --- sending ----------------------------------------------------------------------

    async def _audit(self, action: str, target_type: str, target_id: Any, **details: Any) -> None:
        await audit.record(
            self.session, tenant_id=self.endpoints.tenant_id, action=action,
            actor=self.principal.actor, target_type=target_type, target_id=target_id,
            details=details,
        )  # fmt: skip

    async def send_test(self, endpoint_id: uuid.UUID, data: TestIn) -> WebhookDelivery:
        """One signed test message to the endpoint (even when disabled; one attempt only)."""
        endpoint = await self.endpoints.get_or_404(endpoint_id)
        if not EVENT_NAME.match(data.event_type):
            raise ValidationFailed(
                "event_type: must be a dotted lower-case name such as webhook.test",
                details=[{"loc": ["body", "event_type"], "msg": "invalid event type",
                          "type": "value_error"}],
            )  # fmt: skip
        payload = data.payload or {"message": "Relaydesk webhook test", "endpoint_id": str(
            endpoint.id)}  # fmt: skip
        message = await create_message(
            self.session, tenant_id=endpoint.tenant_id, event_type=data.event_type,
            payload=payload, origin="test",
        )  # fmt: skip
        delivery = await dispatch(self.session, message, endpoint, "test")
        await self.session.flush()
        return delivery

    async def replay(
        self, message_id: uuid.UUID, endpoint_id: uuid.UUID | None
    ) -> list[WebhookDelivery]:
        """Send the message again: to one endpoint, or to every enabled one it matches."""
        message = await self.messages.get_or_404(message_id)
        targets: list[WebhookEndpoint]
        if endpoint_id is not None:
            endpoint = await self.endpoints.get(endpoint_id)
            if endpoint is None:
                raise ValidationFailed(
                    f"endpoint_id: no webhook endpoint {endpoint_id}",
                    details=[{"loc": ["body", "endpoint_id"], "msg": "unknown endpoint",
                              "type": "value_error"}],
                )  # fmt: skip
            _need_enabled(endpoint)
            targets = [endpoint]
        else:
            enabled = await self.endpoints.enabled()
            targets = [e for e in enabled if matches(e.event_types, message.event_type)]
        deliveries = [await dispatch(self.session, message, e, "replay") for e in targets]
        await self.session.flush()
        await self._audit(
            "webhook_message.replayed", "webhook_message", message.id,
            endpoints=[str(e.id) for e in targets],
            clear_pii=[str(d.endpoint_id) for d in deliveries if d.clear_pii],
        )  # fmt: skip
        return deliveries

    async def recover(self, endpoint_id: uuid.UUID, data: RecoverIn) -> tuple[int, bool]:
        """Re-send the endpoint's failed deliveries created in [since, until)."""
        endpoint = await self.endpoints.get_or_404(endpoint_id)
        _need_enabled(endpoint)
        until = data.until or dt.datetime.now(dt.UTC)
        if until <= data.since:
            raise ValidationFailed(
                "until: must be later than since",
                details=[{"loc": ["body", "until"], "msg": "must be later than since",
                          "type": "value_error"}],
            )  # fmt: skip
        failed = await self.deliveries.failed_since(
            endpoint.id, data.since, until, RECOVER_BATCH + 1
        )
        more = len(failed) > RECOVER_BATCH
        failed = failed[:RECOVER_BATCH]
        messages = {m.id: m for m in await self._messages({d.message_id for d in failed})}
        sent = 0
        for old in failed:
            message = messages.get(old.message_id)
            if message is None:
                continue
            new = await dispatch(self.session, message, endpoint, "recover")
            old.superseded_by = new.id
            sent += 1
        await self.session.flush()
        await self._audit(
            "webhook_endpoint.recovered", "webhook_endpoint", endpoint.id,
            since=data.since.isoformat(), until=until.isoformat(), recovered=sent,
        )  # fmt: skip
        return sent, more

    async def _messages(self, ids: set[uuid.UUID]) -> Sequence[WebhookMessage]:
        if not ids:
            return []
        stmt = self.messages.select().where(WebhookMessage.id.in_(ids))
        return await self.messages.all(stmt)


def _need_enabled(endpoint: WebhookEndpoint) -> None:
    if not endpoint.enabled:
        raise Conflict(
            f"the webhook endpoint is disabled ({endpoint.disabled_reason or 'by a user'}): "
            "enable it first",
            code="endpoint_disabled",
        )
