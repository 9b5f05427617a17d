"""``{{ expr }}`` templates: raw values keep their type, text interpolates, paths are encoded."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest

from relaydesk.integrations.templating import (
    TemplateError,
    has_template,
    render,
    template_references,
)

CONTEXT: dict[str, Any] = {
    "params": {
        "order_no": "SO2024/05?01",
        "page": 2,
        "price": 12.5,
        "urgent": True,
        "remark": None,
        "tags": ["加急", "VIP"],
        "receiver": {"name": "张三", "address": "上海市浦东新区世纪大道100号"},
        "since": dt.date(2024, 5, 1),
        "at": dt.datetime(2024, 5, 1, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))),
        "amount": Decimal("12.30"),
    },
    "config": {"base_url": "https://orders.example.com", "shop": "旗舰店"},
    "result": {"refund_id": "RF001"},
    "now": "2024-05-01T10:00:00+08:00",
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ params.page }}", 2),
        ("{{params.page}}", 2),
        ("{{ params.price }}", 12.5),
        ("{{ params.urgent }}", True),
        ("{{ params.remark }}", None),
        ("{{ params.missing }}", None),
        ("{{ params.tags }}", ["加急", "VIP"]),
        ("{{ params.receiver }}", {"name": "张三", "address": "上海市浦东新区世纪大道100号"}),
        ("{{ params.receiver.name }}", "张三"),
        ("{{ params.since }}", "2024-05-01"),
        ("{{ params.at }}", "2024-05-01T10:00:00+08:00"),
        ("{{ params.amount }}", "12.30"),
        ("{{ length(params.tags) }}", 2),
        ("{{ params.remark || 'none' }}", "none"),
        ("{{ result.refund_id }}", "RF001"),
    ],
)
def test_a_lone_template_keeps_the_value_type(template: str, expected: Any) -> None:
    assert render(template, CONTEXT) == expected


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("第{{ params.page }}页", "第2页"),
        ("{{ params.page }}/{{ params.page }}", "2/2"),
        ("urgent={{ params.urgent }}", "urgent=true"),
        ("remark=[{{ params.remark }}]", "remark=[]"),
        ("tags={{ params.tags }}", 'tags=["加急","VIP"]'),
        ("店：{{ config.shop }}，收件人：{{ params.receiver.name }}", "店：旗舰店，收件人：张三"),
        (" {{ params.page }}", " 2"),  # surrounding text makes it a string
        ("{{ params.price }}元", "12.5元"),
        ("{{ params.since }}T00:00", "2024-05-01T00:00"),
        ("no templates here", "no templates here"),
    ],
)
def test_templates_inside_text_interpolate(template: str, expected: str) -> None:
    assert render(template, CONTEXT) == expected


def test_structures_are_rendered_recursively_and_types_survive() -> None:
    body = {
        "orderNo": "{{ params.order_no }}",
        "page": "{{ params.page }}",
        "receiver": {
            "name": "{{ params.receiver.name }}",
            "note": "寄往{{ params.receiver.address }}",
        },
        "tags": ["{{ params.tags[0] }}", "fixed", 7, None, False],
        "{{ keys.stay }}": 1,
    }
    rendered = render(body, CONTEXT)
    assert rendered == {
        "orderNo": "SO2024/05?01",
        "page": 2,
        "receiver": {"name": "张三", "note": "寄往上海市浦东新区世纪大道100号"},
        "tags": ["加急", "fixed", 7, None, False],
        "{{ keys.stay }}": 1,
    }
    # what a JSON body would carry: Chinese text unescaped and intact
    assert "张三" in json.dumps(rendered, ensure_ascii=False)
    assert body["page"] == "{{ params.page }}"  # the template is not modified


def test_url_encoding_protects_paths() -> None:
    path = render("/api/orders/{{ params.order_no }}/items", CONTEXT, url_encode=True)
    assert path == "/api/orders/SO2024%2F05%3F01/items"
    assert render("/c/{{ config.shop }}", CONTEXT, url_encode=True) == (
        "/c/%E6%97%97%E8%88%B0%E5%BA%97"
    )
    assert render("{{ params.page }}", CONTEXT, url_encode=True) == "2"  # always text


def test_invalid_expressions_raise_template_error() -> None:
    with pytest.raises(TemplateError, match=r"\{\{ params\.\[ \}\}"):
        render("{{ params.[ }}", CONTEXT)
    with pytest.raises(TemplateError, match="length"):
        render("{{ length(params.page) }}", CONTEXT)  # wrong type at evaluation


@pytest.mark.parametrize(
    ("template", "references"),
    [
        ("/orders/{{ params.order_no }}", {"params.order_no"}),
        ({"a": "{{ params.a }}", "b": ["{{ config.b }}", 1]}, {"params.a", "config.b"}),
        ("{{ params.items[*].sku }}", {"params.items"}),
        ("{{ params.items[0].sku }}", {"params.items"}),
        ("{{ join(',', params.tags) }}", {"params.tags"}),
        ("{{ sort_by(params.rows, &created) }}", {"params.rows"}),
        ("{{ params.a || config.default_a }}", {"params.a", "config.default_a"}),
        ("{{ params.rows[?status == 'x'].id }}", {"params.rows"}),
        ("{{ params.rows | [0] }}", {"params.rows"}),
        ("{{ {id: result.refund_id, at: now} }}", {"result.refund_id", "now"}),
        ("{{ params }}", {"params"}),
        ("plain", set()),
        (42, set()),
    ],
)
def test_template_references(template: Any, references: set[str]) -> None:
    assert template_references(template) == references


def test_template_references_rejects_bad_expressions() -> None:
    with pytest.raises(TemplateError):
        template_references({"x": ["{{ a[ }}"]})


def test_has_template() -> None:
    assert has_template({"a": ["x", "{{ params.a }}"]})
    assert not has_template({"a": ["x", 1, None]})
