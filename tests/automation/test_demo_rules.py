"""The demo organisation's example rules: they are valid, seeded once, and do what the issue
asks (keyword → order lookup and reply, shipped → message, high-value refund → supervisors)."""

from __future__ import annotations

import uuid

from conftest import Org
from rules_support import (  # noqa: F401 - the *_fixture names are fixtures
    Bus,
    bus_fixture,
    executions,
    notifications,
    outbox,
    runtime_fixture,
)
from sqlalchemy import select

from relaydesk.automation.definition import compile_definition
from relaydesk.automation.models import Rule
from relaydesk.demo.rules import demo_rules, seed_rules
from relaydesk.kit.db import Database

KEYS = ("trigger", "conditions", "lookups", "actions", "on_error", "run_as")


def test_every_demo_rule_is_valid() -> None:
    names = []
    for body in demo_rules():
        compile_definition({key: body.get(key) for key in KEYS})
        names.append(body["name"])
    assert len(names) == len(set(names)) == 4  # + the voice channel's missed-call follow-up


async def test_seed_is_idempotent_and_the_rules_run(db: Database, org_a: Org, bus: Bus) -> None:
    async with db.job(org_a.id) as session:
        first = await seed_rules(session, org_a.id)
    async with db.job(org_a.id) as session:
        again = await seed_rules(session, org_a.id)
        rules = {r.name: r for r in await session.scalars(select(Rule))}
    assert len(first) == 4 and again == []

    await bus.emit("order.shipped", {"order_no": "YQ20261118001234", "status": "shipped",
                                     "carrier": "顺丰速运", "tracking_no": "SF1234567890",
                                     "customer_phone": "13912345678"})  # fmt: skip
    await bus.emit("custom.refund_requested", {"order_no": "YQ2", "amount": "3000.00",
                                               "reason": "质量问题"})  # fmt: skip
    await bus.emit("custom.refund_requested", {"order_no": "YQ3", "amount": "20.00",
                                               "reason": "不想要了"})  # fmt: skip
    await bus.settle()

    (message,) = await outbox(db, org_a.id, "custom.customer_message_requested")
    assert message.payload["text"] == ("【演示电商】您的订单 YQ20261118001234 已由 顺丰速运 发出，"
                                       "运单号 SF1234567890。")  # fmt: skip
    assert message.payload["to"] == "13912345678"
    shipped = await executions(db, org_a.id, rules["发货通知 / order shipped"].id)
    assert shipped[0].status == "partial"  # nobody with that phone to tag: recorded, went on
    refunds = await executions(db, org_a.id, rules["大额退款 / high-value refund"].id)
    # the 20.00 refund does not qualify; "partial" when a saga.start step could not start
    assert [e.status in ("succeeded", "partial") for e in refunds] == [True]
    (note,) = await notifications(db, org_a.id)
    assert (
        note.title == "大额退款 3000.00 元：订单 YQ2" and note.user_id == org_a.users["supervisor"]
    )
    assert isinstance(rules["查订单 / where is my order"].id, uuid.UUID)
