"""The demo organisation's example rules (issue 4, "Done when").

1. **Keyword → order lookup**: a customer writes 查订单 / "where is my order"; the rule looks up
   the customer's orders in the order system and replies with the status
   (``conversation.reply``). Without the conversations domain the trigger is
   ``custom.message_received`` (``{text, customer_phone, channel}``) and the reply is the
   event ``custom.order_status_reply`` (see :func:`keyword_rule`; docs/automation.md says how
   to switch an existing rule).
2. **order.shipped → message to the customer**: the order system's shipping callback emits
   ``custom.customer_message_requested`` with the SMS text (a channel or webhook delivers it)
   and tags the customer 已发货.
3. **High-value refund → saga + supervisor**: ``custom.refund_requested`` with an amount of at
   least 1000 starts the ``refund`` saga (when ``saga.start`` is registered and the
   organisation defines that saga: seed sagas first) and notifies the supervisors.

Seeding is idempotent: a rule whose name exists is left alone.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.auth.permissions import WILDCARD
from relaydesk.auth.principal import Principal
from relaydesk.automation.actions import action_type
from relaydesk.automation.models import Rule
from relaydesk.automation.schemas import RuleIn
from relaydesk.automation.service import RuleService
from relaydesk.conversations.models import Inbox
from relaydesk.errors import ValidationFailed
from relaydesk.events.catalogue import catalogue
from relaydesk.kit.db import scope_session
from relaydesk.tenancy.models import Tenant

__all__ = ["HIGH_VALUE_REFUND", "ORDER_KEYWORDS", "demo_rules", "seed_rules"]

ORDER_KEYWORDS = ["查订单", "查询订单", "我的订单", "订单到哪了", "where is my order",
                  "order status", "track my order"]  # fmt: skip
HIGH_VALUE_REFUND = 1000
ORDERS = "orders"  # the demo order system's connector instance


def keyword_rule() -> dict[str, Any]:
    conversations = "message.received" in catalogue()
    trigger = "message.received" if conversations else "custom.message_received"
    reply_text = (
        "您好，您最近的订单 {{ lookup.orders[0].order_no }} "
        "状态：{{ lookup.orders[0].status_text }}"
        "{{ lookup.orders[0].waybill_no && join('', ['，运单号 ', lookup.orders[0].waybill_no]) "
        "|| '' }}。 Your latest order {{ lookup.orders[0].order_no }}: "
        "{{ lookup.orders[0].status }}."
    )
    run_as = {f"connector_action:{ORDERS}.list_orders_by_mobile", "customers.pii.view"}
    if action_type("conversation.reply") is not None:
        reply: dict[str, Any] = {
            "id": "reply",
            "type": "conversation.reply",
            "params": {
                "conversation_id": "{{ event.payload.conversation_id }}",
                "text": reply_text,
            },
        }
        run_as.add("conversations.write")
    else:  # what is missing until conversations exist: the reply is an event for now
        reply = {"id": "reply", "type": "event.emit", "params": {
            "type": "custom.order_status_reply",
            "payload": {"text": reply_text, "order_no": "{{ lookup.orders[0].order_no }}",
                        "channel": "{{ event.payload.channel }}",
                        "conversation_id": "{{ event.payload.conversation_id }}"}}}  # fmt: skip
    return {
        "name": "查订单 / where is my order",
        "description": "A customer asks for their order: look it up and answer with its status.",
        "trigger": {"type": "event", "event": trigger},
        "conditions": {"all": [
            {"path": "event.payload.text", "op": "keywords", "value": ORDER_KEYWORDS},
            {"path": "lookup.orders[0].order_no", "op": "exists"},
        ]},
        "lookups": [{"name": "orders", "instance": ORDERS, "action": "list_orders_by_mobile",
                     "params": {"mobile": "{{ event.payload.customer_phone || "
                                          "customer.phone_national }}", "page_size": 3}}],
        "actions": [reply],
        "on_error": {"policy": "retry", "max_attempts": 3, "then": "stop"},
        "run_as": sorted(run_as),
    }  # fmt: skip


SHIPPED_TEXT = ("您的订单 {{ event.payload.order_no }} 已由 {{ event.payload.carrier }} 发出，"
                "运单号 {{ event.payload.tracking_no }}。")


def shipped_rule(sms_inbox: uuid.UUID | None = None) -> dict[str, Any]:
    if sms_inbox is not None:  # a text through the SMS channel, as a bot conversation
        message: dict[str, Any] = {"id": "message", "type": "conversation.start", "params": {
            "inbox_id": str(sms_inbox), "subject": "发货通知 {{ event.payload.order_no }}",
            "text": SHIPPED_TEXT}}  # fmt: skip
        run_as = ["conversations.write", "customers.write"]
    else:  # no SMS inbox: the request is an event a webhook or another rule can deliver
        message = {"id": "message", "type": "event.emit", "params": {
            "type": "custom.customer_message_requested", "key": "{{ event.payload.order_no }}",
            "payload": {"channel": "sms", "to": "{{ event.payload.customer_phone }}",
                        "order_no": "{{ event.payload.order_no }}",
                        "text": "【演示电商】" + SHIPPED_TEXT}}}  # fmt: skip
        run_as = ["customers.write"]
    return {
        "name": "发货通知 / order shipped",
        "description": "The order system shipped an order: tell the customer (SMS text) and tag "
                       "the customer.",
        "trigger": {"type": "event", "event": "order.shipped"},
        "actions": [
            message,
            {"id": "tag", "type": "set_tags", "params": {"add": ["已发货"]},
             "on_error": "continue"},
        ],
        "on_error": "stop",
        "run_as": run_as,
    }  # fmt: skip


def refund_rule() -> dict[str, Any]:
    actions: list[dict[str, Any]] = []
    if action_type("saga.start") is not None:
        actions.append({"id": "refund", "type": "saga.start", "params": {
            "definition": "refund",
            "input": {"order_no": "{{ event.payload.order_no }}",
                      "amount": "{{ event.payload.amount }}",
                      "reason": "{{ event.payload.reason }}"}},
            # the supervisors hear of it even when the saga could not start
            "on_error": "continue"})  # fmt: skip
    actions.append({"id": "supervisor", "type": "notify", "params": {
        "role": "supervisor",
        "title": "大额退款 {{ event.payload.amount }} 元：订单 {{ event.payload.order_no }}",
        "body": "退款原因：{{ event.payload.reason }}。High-value refund: please review.",
        "link": "/orders/{{ event.payload.order_no }}"}})  # fmt: skip
    return {
        "name": "大额退款 / high-value refund",
        "description": f"A refund of at least {HIGH_VALUE_REFUND} starts the refund saga and "
                       "tells the supervisors.",
        "trigger": {"type": "event", "event": "custom.refund_requested"},
        "conditions": {"path": "event.payload.amount", "op": "gte",
                       "value": HIGH_VALUE_REFUND},
        "actions": actions,
        "on_error": "stop",
        "run_as": ["sagas.run"] if len(actions) > 1 else [],
    }  # fmt: skip


def demo_rules(sms_inbox: uuid.UUID | None = None) -> list[dict[str, Any]]:
    from relaydesk.channels.voice.demo import FOLLOW_UP_RULE

    return [keyword_rule(), shipped_rule(sms_inbox), refund_rule(), dict(FOLLOW_UP_RULE)]


async def seed_rules(
    session: AsyncSession, tenant_id: uuid.UUID, *, author: Principal | None = None
) -> list[str]:
    """Create the demo rules that do not exist yet in the tenant; returns their names."""
    scope_session(session, tenant_id)
    tenant = await session.get(Tenant, tenant_id)
    assert tenant is not None
    author = author or Principal(
        kind="system", id=uuid.UUID(int=0), tenant_id=tenant_id, tenant_slug=tenant.slug,
        label="demo seed", permissions=frozenset({WILDCARD}),
    )  # fmt: skip
    existing = set((await session.execute(select(Rule.name))).scalars())
    service = RuleService(session, author)
    created = []
    sms_inbox = await session.scalar(select(Inbox.id).where(Inbox.channel == "sms").limit(1))
    for body in demo_rules(sms_inbox):
        if body["name"] in existing:
            continue
        await _create(session, service, body)
        created.append(body["name"])
    return created


_NEEDS = re.compile(r"needs (\S+): add it to run_as")


async def _create(session: AsyncSession, service: RuleService, body: dict[str, Any]) -> None:
    """Create ``body``. A saga step gets exactly the permissions its saga needs (least
    privilege); when it cannot be used at all (no ``refund`` saga defined in the
    organisation) it is left out, and the supervisors are still told."""
    has_saga = any(a["type"] == "saga.start" for a in body["actions"])
    for _ in range(2):
        try:
            async with session.begin_nested():
                await service.create(RuleIn.model_validate(body))
            return
        except ValidationFailed as exc:
            if not has_saga:
                raise
            details = exc.details if isinstance(exc.details, list) else []
            needed = {m.group(1) for d in details if (m := _NEEDS.search(str(d.get("msg"))))}
            if not needed:
                break
            body = {**body, "run_as": sorted({*body["run_as"], *needed})}
    actions = [a for a in body["actions"] if a["type"] != "saga.start"]
    await service.create(RuleIn.model_validate({**body, "actions": actions, "run_as": []}))
