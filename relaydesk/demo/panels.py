"""The demo organisation's Customer 360 panels, over its connectors to the demo systems
(:mod:`relaydesk.demo.connectors`): latest orders, the latest shipment's tracking, member
tier and points, CRM tags.

``await seed_panels(db)`` after ``seed_connectors``: creates each panel that does not exist
yet (by key), through the same validation as ``POST /api/v1/customer-panels``. The demo
grants agents and supervisors these read actions (``_grant_agents``), so an agent sees all
four panels, personal fields masked; the owner sees them in clear.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from relaydesk.auth.permissions import WILDCARD
from relaydesk.auth.principal import Principal
from relaydesk.config import Settings
from relaydesk.customer360.schemas import PanelIn
from relaydesk.customer360.service import PanelService
from relaydesk.kit.crypto import Keyring
from relaydesk.kit.db import Database, scope_session
from relaydesk.tenancy.models import Tenant

__all__ = ["DEMO_PANELS", "seed_panels"]

DEMO_SLUG = "demo"

#: the bodies of ``POST /api/v1/customer-panels``, in display order
DEMO_PANELS: tuple[dict[str, Any], ...] = (
    {
        "key": "orders", "title_zh": "最近订单", "title_en": "Latest orders",
        "instance": "orders", "action": "list_orders_by_mobile",
        "params": {"mobile": "{{ customer.phone_national }}", "page_size": 5},
        "fields": [
            {"path": "order_no", "label_zh": "订单号", "label_en": "Order"},
            {"path": "status_text", "label_zh": "状态", "label_en": "Status"},
            {"path": "total", "label_zh": "实付", "label_en": "Paid"},
            {"path": "created_at", "label_zh": "下单时间", "label_en": "Ordered"},
            {"path": "carrier", "label_zh": "快递", "label_en": "Carrier"},
            {"path": "waybill_no", "label_zh": "运单号", "label_en": "Waybill"},
            {"path": "receiver_phone", "label_zh": "收货电话", "label_en": "Receiver phone"},
        ],
        "max_items": 5, "timeout_seconds": 3, "cache_ttl_seconds": 60, "position": 10,
    },
    {
        "key": "logistics", "title_zh": "最新物流", "title_en": "Latest shipment",
        "instance": "logistics", "action": "track_shipment", "source_panel": "orders",
        # orders are newest first: the latest one that has a waybill number
        "params": {"waybill_no": "{{ source[?waybill_no] | [0].waybill_no }}"},
        "fields": [
            {"path": "tracking_no", "label_zh": "运单号", "label_en": "Waybill"},
            {"path": "carrier", "label_zh": "快递", "label_en": "Carrier"},
            {"path": "status_text", "label_zh": "状态", "label_en": "Status"},
            {"path": "shipped_at", "label_zh": "揽收", "label_en": "Picked up"},
            {"path": "delivered_at", "label_zh": "签收", "label_en": "Delivered"},
            {"path": "events", "label_zh": "轨迹", "label_en": "Scans"},
        ],
        "timeout_seconds": 3, "cache_ttl_seconds": 120, "position": 20,
    },
    {
        "key": "membership", "title_zh": "会员等级与积分", "title_en": "Membership",
        "instance": "membership", "action": "get_member_by_mobile",
        "params": {"mobile": "{{ customer.phone_national }}"},
        "fields": [
            {"path": "tier", "label_zh": "等级", "label_en": "Tier"},
            {"path": "points", "label_zh": "积分", "label_en": "Points"},
            {"path": "joined_at", "label_zh": "入会", "label_en": "Member since"},
            {"path": "member_id", "label_zh": "会员号", "label_en": "Member id"},
        ],
        "timeout_seconds": 3, "cache_ttl_seconds": 60, "position": 30,
    },
    {
        "key": "crm", "title_zh": "CRM 标签", "title_en": "CRM tags",
        "instance": "crm", "action": "find_contact_by_mobile",
        "params": {"mobile": "{{ customer.phone_national }}"},
        "fields": [
            {"path": "tags", "label_zh": "标签", "label_en": "Tags"},
            {"path": "tier_label", "label_zh": "会员等级", "label_en": "Tier"},
            {"path": "owner", "label_zh": "客户经理", "label_en": "Account manager"},
            {"path": "last_contact_at", "label_zh": "最近联系", "label_en": "Last contact"},
        ],
        "max_items": 1, "timeout_seconds": 3, "cache_ttl_seconds": 60, "position": 40,
    },
)  # fmt: skip


async def seed_panels(
    db: Database, settings: Settings, panels: tuple[dict[str, Any], ...] = DEMO_PANELS
) -> list[str]:
    """Create the demo panels that do not exist yet; return the keys created."""
    keyring = Keyring.from_settings(settings)
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
        service = PanelService(session, principal, keyring)
        existing = {panel.key for panel in await service.list()}
        for body in panels:  # in order: a source panel before the panels that read it
            if body["key"] in existing:
                continue
            await service.create(PanelIn.model_validate(body))
            created.append(body["key"])
    return created
