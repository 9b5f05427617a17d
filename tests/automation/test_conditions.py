"""Condition trees: operators, three-valued evaluation, and problems named by field path."""

from __future__ import annotations

import time
from typing import Any

import pytest

from relaydesk.automation.conditions import CONDITION_ROOTS, parse_condition
from relaydesk.automation.problems import Problems

EVENT = {
    "event": {
        "type": "order.paid",
        "payload": {"order_no": "YQ20261118001234", "total": "1299.00", "status": "paid",
                    "tags": ["vip", "回头客"], "text": "你好，帮我查订单", "items": [{"sku": "A1"}],
                    "paid_at": "2026-11-18T10:00:00+08:00", "zero": 0},
    },
    "customer": {"tags": ["金卡"], "attributes": {"tier": "gold"}},
    "lookup": {"order": {"status": "shipped"}},
}  # fmt: skip


def check(node: Any, ctx: dict[str, Any] = EVENT, known: frozenset[str] = CONDITION_ROOTS
          ) -> bool | None:  # fmt: skip
    problems = Problems()
    condition = parse_condition(node, ("conditions",), problems)
    assert not problems, problems.items
    assert condition is not None
    return condition.evaluate(ctx, known, None)


def leaf(path: str, op: str, value: Any = None, **extra: Any) -> dict[str, Any]:
    node = {"path": path, "op": op, **extra}
    if value is not None:
        node["value"] = value
    return node


@pytest.mark.parametrize(("node", "expected"), [
    (leaf("event.payload.total", "equals", 1299), True),  # numeric text equals the number
    (leaf("event.payload.total", "gte", 1000), True),
    (leaf("event.payload.total", "lt", "1000.5"), False),
    (leaf("event.payload.status", "in", ["paid", "shipped"]), True),
    (leaf("event.payload.status", "not_in", ["paid"]), False),
    (leaf("event.payload.status", "equals", "PAID", ignore_case=True), True),
    (leaf("event.payload.status", "not_equals", "PAID"), True),
    (leaf("event.payload.tags", "contains", "vip"), True),
    (leaf("event.payload.text", "contains", "查订单"), True),
    (leaf("event.payload.order_no", "regex", r"^YQ\d{14}$"), True),
    (leaf("event.payload.order_no", "regex", r"^yq", ignore_case=True), True),
    (leaf("event.payload.missing", "exists"), False),
    (leaf("event.payload.zero", "exists"), True),
    (leaf("event.payload.missing", "exists", False), True),
    (leaf("event.payload.paid_at", "gt", "2026-11-01"), True),  # ISO dates compare as text
    (leaf("event.payload.text", "keywords", ["查订单", "where is my order"]), True),
    (leaf("event.payload.items[0].sku", "equals", "A1"), True),  # a JMESPath path
    (leaf("customer.attributes.tier", "equals", "gold"), True),
    (leaf("lookup.order.status", "equals", "shipped"), True),
    (leaf("event.payload.missing", "gt", 1), False),  # nothing to compare: false, no error
    (leaf("event.payload.tags", "gt", 1), False),  # a list is not comparable: false
])  # fmt: skip
def test_operators(node: dict[str, Any], expected: bool) -> None:
    assert check(node) is expected


def test_groups() -> None:
    paid = leaf("event.payload.status", "equals", "paid")
    cheap = leaf("event.payload.total", "lt", 100)
    assert check({"all": [paid, {"not": cheap}]}) is True
    assert check({"any": [cheap, {"all": [paid]}]}) is True
    assert check({"all": [paid, cheap]}) is False


def test_three_valued_evaluation_with_only_the_event_known() -> None:
    event_only = frozenset({"event"})
    gold = leaf("customer.attributes.tier", "equals", "gold")
    paid = leaf("event.payload.status", "equals", "paid")
    cheap = leaf("event.payload.total", "lt", 100)
    assert check({"all": [cheap, gold]}, known=event_only) is False  # decided by the event
    assert check({"all": [paid, gold]}, known=event_only) is None  # needs the customer
    assert check({"any": [paid, gold]}, known=event_only) is True
    assert check({"not": gold}, known=event_only) is None


def problems_of(node: Any) -> list[tuple[str, str]]:
    problems = Problems(("body",))
    parse_condition(node, ("conditions",), problems)
    return [(".".join(str(p) for p in item["loc"]), str(item["msg"])) for item in problems.items]


def test_problems_name_the_field_path() -> None:
    found = problems_of({"all": [
        leaf("event.payload.a", "equals", 1),
        leaf("event.payload.b", "in", "not a list"),
        {"path": "event.payload.c", "op": "greater"},
        leaf("order.total", "gt", 1),
        leaf("event.payload.d", "regex", "(unclosed"),
        {"any": []},
        {"not": {"path": "event.payload.e", "op": "keywords", "value": [], "mode": "most"}},
        {"path": "event.payload.f", "op": "equals", "value": 1, "flavour": "x"},
    ]})  # fmt: skip
    locs = [loc for loc, _ in found]
    assert locs == [
        "body.conditions.all.1.value",
        "body.conditions.all.2.op",
        "body.conditions.all.3.path",
        "body.conditions.all.4.value",
        "body.conditions.all.5.any",
        "body.conditions.all.6.not.value",
        "body.conditions.all.6.not.mode",
        "body.conditions.all.7.flavour",
    ]
    assert "unknown operator 'greater'" in found[1][1]
    assert "must start with one of customer, event, lookup" in found[2][1]


def test_limits_on_size_and_depth() -> None:
    deep: Any = leaf("event.payload.a", "exists")
    for _ in range(12):
        deep = {"not": deep}
    assert any("nest at most" in msg for _, msg in problems_of(deep))
    wide = {"any": [leaf("event.payload.a", "exists")] * 300}
    assert any("at most 200 nodes" in msg for _, msg in problems_of(wide))


def test_regex_is_linear_time() -> None:
    """A pattern that backtracks exponentially in Python's re is harmless in RE2."""
    node = leaf("event.payload.text", "regex", r"^(a+)+$")
    ctx = {"event": {"payload": {"text": "a" * 15_000 + "b"}}}
    started = time.perf_counter()
    assert check(node, ctx) is False
    assert time.perf_counter() - started < 0.5
    assert problems_of(leaf("event.payload.text", "regex", r"(a)\1")) != []  # no backrefs
