"""Webhook queries. The tenant guard scopes every statement."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import select

from relaydesk.kit.pagination import PageParams
from relaydesk.kit.repository import Repository
from relaydesk.webhooks.models import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookMessage,
)


class EndpointRepository(Repository[WebhookEndpoint]):
    model = WebhookEndpoint
    noun = "webhook endpoint"

    async def enabled(self) -> Sequence[WebhookEndpoint]:
        return await self.all(
            self.select().where(WebhookEndpoint.enabled.is_(True)).order_by(WebhookEndpoint.id)
        )

    async def list_page(
        self, params: PageParams, *, enabled: bool | None = None
    ) -> tuple[Sequence[WebhookEndpoint], str | None]:
        stmt = self.select()
        if enabled is not None:
            stmt = stmt.where(WebhookEndpoint.enabled.is_(enabled))
        return await self.page(stmt, params)

    async def locked(self, endpoint_id: uuid.UUID) -> WebhookEndpoint | None:
        """The row, locked until the transaction ends (PostgreSQL; SQLite locks the file)."""
        stmt = self.select().where(WebhookEndpoint.id == endpoint_id).with_for_update()
        return await self.one_or_none(stmt.execution_options(populate_existing=True))


class MessageRepository(Repository[WebhookMessage]):
    model = WebhookMessage
    noun = "webhook message"

    async def list_page(
        self, params: PageParams, *, event_type: str | None = None
    ) -> tuple[Sequence[WebhookMessage], str | None]:
        stmt = self.select()
        if event_type:
            stmt = stmt.where(WebhookMessage.event_type == event_type)
        return await self.page(stmt, params)


class DeliveryRepository(Repository[WebhookDelivery]):
    model = WebhookDelivery
    noun = "webhook delivery"

    async def list_page(
        self,
        params: PageParams,
        *,
        endpoint_id: uuid.UUID | None = None,
        message_id: uuid.UUID | None = None,
        status: str | None = None,
    ) -> tuple[Sequence[WebhookDelivery], str | None]:
        stmt = self.select()
        if endpoint_id is not None:
            stmt = stmt.where(WebhookDelivery.endpoint_id == endpoint_id)
        if message_id is not None:
            stmt = stmt.where(WebhookDelivery.message_id == message_id)
        if status:
            stmt = stmt.where(WebhookDelivery.status == status)
        return await self.page(stmt, params)

    async def of_message(self, message_id: uuid.UUID) -> Sequence[WebhookDelivery]:
        stmt = self.select().where(WebhookDelivery.message_id == message_id)
        return await self.all(stmt.order_by(WebhookDelivery.id))

    async def locked(self, delivery_id: uuid.UUID) -> WebhookDelivery | None:
        stmt = self.select().where(WebhookDelivery.id == delivery_id).with_for_update()
        return await self.one_or_none(stmt.execution_options(populate_existing=True))

    async def failed_since(
        self, endpoint_id: uuid.UUID, since: dt.datetime, until: dt.datetime, limit: int
    ) -> Sequence[WebhookDelivery]:
        """Failed, not yet re-sent deliveries of the endpoint created in [since, until)."""
        stmt = (
            self.select()
            .where(
                WebhookDelivery.endpoint_id == endpoint_id,
                WebhookDelivery.status == "failed",
                WebhookDelivery.superseded_by.is_(None),
                WebhookDelivery.created_at >= since,
                WebhookDelivery.created_at < until,
            )
            .order_by(WebhookDelivery.id)
            .limit(limit)
        )
        return await self.all(stmt)


class AttemptRepository(Repository[WebhookAttempt]):
    model = WebhookAttempt
    noun = "webhook attempt"

    async def of_delivery(self, delivery_id: uuid.UUID) -> Sequence[WebhookAttempt]:
        stmt = select(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery_id)
        return await self.all(stmt.order_by(WebhookAttempt.attempt, WebhookAttempt.id))
