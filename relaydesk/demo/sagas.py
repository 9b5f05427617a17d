"""The demo organisation's saga definitions: "refund" across the ticket system, the order
system and the CRM (docs/sagas.md walks through it).

1. ``tickets.create_ticket``: a 退款售后 ticket (not idempotent: an unknown outcome is checked
   with ``list_tickets_by_mobile``, looking for the saga's reference in the ticket text);
   undone by closing it with the reason the saga rolled back;
2. ``orders.request_refund`` with ``out_refund_no = saga.step_key`` (idempotent: safe to
   send again); above 5000.00 the order system refuses it (``refund_needs_review``), so a
   high-value refund closes the ticket again and ends ``compensated``; undone by the spec's
   own ``cancel_refund``;
3. ``crm.find_contact_by_mobile``, then 4. ``crm.add_note`` when the customer is in the CRM
   (undone by the spec's ``delete_note``).

Needs the demo connector instances (``seed_connectors``) first.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from relaydesk.auth.permissions import WILDCARD
from relaydesk.auth.principal import Principal
from relaydesk.kit.db import Database, scope_session
from relaydesk.sagas.models import SagaDefinition
from relaydesk.sagas.schemas import DefinitionIn
from relaydesk.sagas.service import SagaService
from relaydesk.tenancy.models import Tenant

__all__ = ["DEMO_SAGAS", "REFUND", "seed_sagas"]

DEMO_SLUG = "demo"

REFUND: dict[str, Any] = {
    "name": "refund",
    "title": "退款：建工单 → 申请退款 → CRM 备注",
    "description": "Opens a refund ticket, asks the order system for the refund and notes it "
    "in the CRM. If the refund is refused (e.g. above 5000.00 it needs a manual review), the "
    "ticket is closed with the reason.",
    "input": {
        "order_no": {"type": "string", "required": True, "pattern": "^YQ[0-9]{14}$",
                     "description": "订单号"},
        "amount": {"type": "string", "required": True,
                   "pattern": "^[0-9]{1,8}(\\.[0-9]{1,2})?$", "description": "退款金额（元）"},
        "reason": {"type": "string", "required": True, "min_length": 1, "max_length": 120,
                   "description": "退款原因"},
        "customer_mobile": {"type": "string", "required": True, "pattern": "^1[3-9][0-9]{9}$",
                            "pii": "phone", "description": "客户手机号"},
        "customer_name": {"type": "string", "max_length": 32, "pii": "name"},
    },
    "steps": [
        {
            "name": "ticket",
            "title": "在工单系统创建退款工单",
            "instance": "tickets",
            "action": "create_ticket",
            "params": {
                "customer_mobile": "{{ input.customer_mobile }}",
                "customer_name": "{{ input.customer_name }}",
                "title": "退款申请 {{ input.order_no }}",
                "content": "申请退款 {{ input.amount }} 元：{{ input.reason }}"
                "（Relaydesk 退款流程 {{ saga.ref }}）",
                "category": "退款售后",
                "priority": 3,
                "order_no": "{{ input.order_no }}",
                "operator": "Relaydesk",
            },
            "verify": {
                "action": "list_tickets_by_mobile",
                "params": {"mobile": "{{ input.customer_mobile }}"},
                "match": {"content": "{{ saga.ref }}"},
            },
            "compensate": {
                "action": "close_ticket",
                "params": {
                    "ticket_no": "{{ result.ticket_no }}",
                    "reason": "退款未完成：{{ failure.message }}",
                    "operator": "Relaydesk",
                },
                "done_codes": ["ticket_closed"],
            },
        },
        {
            "name": "refund",
            "title": "在订单系统申请退款",
            "instance": "orders",
            "action": "request_refund",
            "params": {
                "order_no": "{{ input.order_no }}",
                "amount": "{{ input.amount }}",
                "reason": "{{ input.reason }}",
                "out_refund_no": "{{ saga.step_key }}",
            },
        },
        {
            "name": "contact",
            "title": "在 CRM 查找客户",
            "instance": "crm",
            "action": "find_contact_by_mobile",
            "params": {"mobile": "{{ input.customer_mobile }}"},
        },
        {
            "name": "note",
            "title": "在 CRM 记录退款备注",
            "instance": "crm",
            "action": "add_note",
            "when": "steps.contact.output[0].id",
            "params": {
                "contact_id": "{{ steps.contact.output[0].id }}",
                "content": "订单 {{ input.order_no }} 已申请退款 {{ input.amount }} 元（退款单 "
                "{{ steps.refund.output.refund_id }}，工单 {{ steps.ticket.output.ticket_no }}）",
                "author": "Relaydesk",
            },
        },
    ],
}  # fmt: skip

DEMO_SAGAS: tuple[dict[str, Any], ...] = (REFUND,)


async def seed_sagas(db: Database) -> list[str]:
    """Create each demo saga definition that does not exist yet; return the names created."""
    created: list[str] = []
    async with db.job(system=True) as session:
        tenant = (
            await session.execute(select(Tenant).where(Tenant.slug == DEMO_SLUG))
        ).scalar_one()
        scope_session(session, tenant.id)
        principal = Principal(
            kind="system", id=tenant.id, tenant_id=tenant.id, tenant_slug=tenant.slug,
            label="demo seed", permissions=frozenset({WILDCARD}),
        )  # fmt: skip
        existing = set((await session.execute(select(SagaDefinition.name))).scalars().all())
        service = SagaService(session, principal)
        for document in DEMO_SAGAS:
            if document["name"] in existing:
                continue
            await service.create_definition(DefinitionIn(definition=document))
            created.append(document["name"])
    return created
