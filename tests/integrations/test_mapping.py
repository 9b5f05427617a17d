"""Field mapping: JMESPath + declared coercions; every error located by output field path."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relaydesk.integrations.canonical import validate_shape
from relaydesk.integrations.mapping import (
    BodyDecodeError,
    MappingError,
    apply_mapping,
    apply_response,
    decode_body,
)
from relaydesk.integrations.spec import ActionSpec, MappingSpec


def mapping(fields: dict[str, Any], timezone: str = "Asia/Shanghai") -> MappingSpec:
    return MappingSpec.model_validate({"timezone": timezone, "fields": fields})


def one(field: dict[str, Any], value: Any, timezone: str = "Asia/Shanghai") -> tuple[Any, list]:
    """Map ``{"v": value}`` through a single field ``out``: (output, error messages)."""
    spec = mapping({"out": {"expr": "v", **field}}, timezone)
    result = apply_mapping(spec, {"v": value}, many=False)
    assert all(error.path == "out" for error in result.errors)
    return result.value["out"], [error.message for error in result.errors]


# --------------------------------------------------------------------------------------
# Coercions, table-driven
# --------------------------------------------------------------------------------------

DATETIMES: list[tuple[dict[str, Any], Any, str]] = [
    # naive text is read in the mapping's time zone (Asia/Shanghai by default)
    ({"format": "%Y-%m-%d %H:%M:%S"}, "2024-05-01 10:00:00", "2024-05-01T10:00:00+08:00"),
    ({"format": "%Y/%m/%d %H:%M"}, "2024/05/01 10:00", "2024-05-01T10:00:00+08:00"),
    ({"format": "%Y年%m月%d日 %H时%M分"}, "2024年05月01日 10时30分", "2024-05-01T10:30:00+08:00"),
    ({"format": "%Y%m%d%H%M%S"}, "20240501100000", "2024-05-01T10:00:00+08:00"),
    # several formats: the first that matches wins
    ({"format": ["%Y-%m-%d %H:%M:%S", "%Y/%m/%d"]}, "2024/05/01", "2024-05-01T00:00:00+08:00"),
    # ISO 8601 without format; offsets are converted to the mapping's zone
    ({}, "2024-05-01T10:00:00", "2024-05-01T10:00:00+08:00"),
    ({}, "2024-05-01T02:00:00Z", "2024-05-01T10:00:00+08:00"),
    ({}, "2024-05-01T10:00:00+09:00", "2024-05-01T09:00:00+08:00"),
    ({}, "2024-05-01 10:00:00.250", "2024-05-01T10:00:00.250000+08:00"),
    ({"format": "%Y-%m-%dT%H:%M:%S%z"}, "2024-05-01T10:00:00-0400", "2024-05-01T22:00:00+08:00"),
    # epochs: seconds or milliseconds, as numbers or text
    ({"format": "epoch_s"}, 1714528800, "2024-05-01T10:00:00+08:00"),
    ({"format": "epoch_ms"}, 1714528800000, "2024-05-01T10:00:00+08:00"),
    ({"format": "epoch_ms"}, "1714528800123", "2024-05-01T10:00:00.123000+08:00"),
    ({"format": "epoch_s"}, 1714528800.5, "2024-05-01T10:00:00.500000+08:00"),
    # a field's own time zone
    (
        {"format": "%Y-%m-%d %H:%M", "timezone": "America/New_York"},
        "2024-01-15 09:00",
        "2024-01-15T09:00:00-05:00",
    ),
    (
        {"format": "%Y-%m-%d %H:%M", "timezone": "America/New_York"},
        "2024-07-15 09:00",
        "2024-07-15T09:00:00-04:00",  # daylight saving time
    ),
    ({"format": "epoch_s", "timezone": "UTC"}, 0, "1970-01-01T00:00:00+00:00"),
]


@pytest.mark.parametrize(("field", "value", "expected"), DATETIMES)
def test_datetimes(field: dict[str, Any], value: Any, expected: str) -> None:
    assert one({"type": "datetime", **field}, value) == (expected, [])


def test_the_mapping_time_zone_applies_to_every_field() -> None:
    assert one({"type": "datetime"}, "2024-05-01T10:00:00", "Europe/Berlin") == (
        "2024-05-01T10:00:00+02:00",
        [],
    )
    assert one({"type": "datetime", "format": "epoch_s"}, 1714528800, "UTC") == (
        "2024-05-01T02:00:00+00:00",
        [],
    )


DATES: list[tuple[dict[str, Any], Any, str]] = [
    ({}, "2024-05-01", "2024-05-01"),
    ({"format": "%Y/%m/%d"}, "2024/5/1", "2024-05-01"),
    ({"format": "%Y年%m月%d日"}, "2024年5月1日", "2024-05-01"),
    ({"format": "%d.%m.%Y"}, "01.05.2024", "2024-05-01"),
    # a timestamp's date is its date in the time zone: 20:00 UTC is the next day in Shanghai
    ({}, "2024-04-30T20:00:00Z", "2024-05-01"),
    ({"format": "epoch_ms"}, 1714500000000, "2024-05-01"),
]


@pytest.mark.parametrize(("field", "value", "expected"), DATES)
def test_dates(field: dict[str, Any], value: Any, expected: str) -> None:
    assert one({"type": "date", **field}, value) == (expected, [])


BAD_DATES: list[tuple[str, dict[str, Any], Any, str]] = [
    ("datetime", {"format": "%Y-%m-%d %H:%M:%S"}, "2024-13-01 10:00:00", "does not match format"),
    ("datetime", {}, "yesterday", "does not match format iso"),
    ("datetime", {}, 1714528800, "declare format epoch_s or epoch_ms"),
    ("datetime", {"format": "epoch_ms"}, "soon", "does not match format epoch_ms"),
    ("datetime", {"format": "epoch_s"}, 10**40, "out of range"),
    ("datetime", {}, True, "expected a date/time"),
    ("date", {"format": "%Y/%m/%d"}, "2024-05-01", "does not match format %Y/%m/%d"),
    ("date", {}, {"y": 2024}, "expected a date/time, got an object"),
]


@pytest.mark.parametrize(("type_", "field", "value", "fragment"), BAD_DATES)
def test_bad_dates_are_errors(type_: str, field: dict[str, Any], value: Any, fragment: str) -> None:
    output, errors = one({"type": type_, **field}, value)
    assert output is None
    assert len(errors) == 1 and fragment in errors[0]


SCALARS: list[tuple[str, Any, Any]] = [
    ("decimal", "12.30", "12.30"),
    ("decimal", "0.10", "0.10"),
    ("decimal", 12.3, "12.3"),
    ("decimal", 0.1, "0.1"),  # not 0.1000000000000000055511151231257827
    ("decimal", 12, "12"),
    ("decimal", "1,234.50", "1234.50"),
    ("decimal", " -7.5 ", "-7.5"),
    ("decimal", "1E+3", "1000"),
    ("integer", "42", 42),
    ("integer", 42.0, 42),
    ("integer", "42.00", 42),
    ("integer", "-3", -3),
    ("integer", "1,000", 1000),
    ("number", "3.5", 3.5),
    ("number", 2, 2.0),
    ("boolean", "是", True),
    ("boolean", "否", False),
    ("boolean", "真", True),
    ("boolean", "假", False),
    ("boolean", "TRUE", True),
    ("boolean", "no", False),
    ("boolean", 1, True),
    ("boolean", "0", False),
    ("boolean", " Y ", True),
    ("boolean", False, False),
    ("string", "张三", "张三"),
    ("string", 13812345678, "13812345678"),
    ("string", 13812345678.0, "13812345678"),
    ("string", True, "true"),
    ("string", "", ""),
    ("object", {"a": 1}, {"a": 1}),
    ("array", [1, 2], [1, 2]),
    ("array", {"sku": "A"}, [{"sku": "A"}]),  # XML: one repeated element is not a list
    ("array", "", []),
    ("any", {"x": [1, "二"]}, {"x": [1, "二"]}),
]


@pytest.mark.parametrize(("type_", "value", "expected"), SCALARS)
def test_scalar_coercions(type_: str, value: Any, expected: Any) -> None:
    output, errors = one({"type": type_}, value)
    assert errors == []
    assert output == expected and type(output) is type(expected)


BAD_SCALARS: list[tuple[str, Any, str]] = [
    ("decimal", "12,30", "expected a decimal number, got '12,30'"),
    ("decimal", "abc", "expected a decimal number"),
    ("decimal", "NaN", "expected a decimal number"),
    ("decimal", True, "got a boolean"),
    ("decimal", "1e999999999", "out of range"),
    ("integer", "12.5", "expected an integer, got '12.5'"),
    ("integer", "9" * 500, "longer than 100 characters"),
    ("integer", [1], "expected an integer, got a list"),
    ("number", "inf", "expected a number"),
    ("number", 10**400, "out of range"),
    ("boolean", "也许", "expected a boolean"),
    ("boolean", 2, "expected a boolean"),
    ("string", {"a": 1}, "expected text, got an object"),
    ("object", "x", "expected an object, got 'x'"),
]


@pytest.mark.parametrize(("type_", "value", "fragment"), BAD_SCALARS)
def test_bad_scalars_are_errors(type_: str, value: Any, fragment: str) -> None:
    output, errors = one({"type": type_}, value)
    assert output is None
    assert len(errors) == 1 and fragment in errors[0], errors


# --------------------------------------------------------------------------------------
# Value maps, defaults, required
# --------------------------------------------------------------------------------------

STATUS = {"type": "string", "values": {"1": "pending", "2": "paid", "3": "shipped"}}


@pytest.mark.parametrize(
    ("field", "value", "expected", "errors"),
    [
        (STATUS, 2, "paid", []),
        (STATUS, "3", "shipped", []),
        (STATUS, 2.0, "paid", []),
        (STATUS, 9, None, ["unmapped value 9 (expected one of '1', '2', '3')"]),
        (STATUS, "已取消", None, ["unmapped value '已取消' (expected one of '1', '2', '3')"]),
        ({**STATUS, "default": "unknown"}, 9, "unknown", []),
        (STATUS, None, None, []),
        ({**STATUS, "required": True}, None, None, ["required, but 'v' gave no value"]),
        ({"type": "boolean", "values": {"Y": True, "N": False}}, "N", False, []),
        ({"type": "integer", "values": {"高": "3", "中": "2", "低": "1"}}, "高", 3, []),
        ({"type": "string", "values": {"true": "yes"}}, True, "yes", []),
    ],
)
def test_value_maps(field: dict[str, Any], value: Any, expected: Any, errors: list[str]) -> None:
    assert one(field, value) == (expected, errors)


@pytest.mark.parametrize(
    ("field", "value", "expected", "errors"),
    [
        ({"type": "string", "default": ""}, None, "", []),
        ({"type": "integer", "default": 0}, None, 0, []),
        ({"type": "integer", "default": 0}, "", 0, []),  # XML's empty element
        ({"type": "decimal", "default": "0.00"}, None, "0.00", []),
        ({"type": "string", "required": True}, None, None, ["required, but 'v' gave no value"]),
        ({"type": "datetime", "required": True}, "", None, ["required, but 'v' gave no value"]),
        ({"type": "string", "required": True}, "", "", []),  # empty text is a value
        ({"type": "string"}, None, None, []),
    ],
)
def test_defaults_and_required(
    field: dict[str, Any], value: Any, expected: Any, errors: list[str]
) -> None:
    assert one(field, value) == (expected, errors)


# --------------------------------------------------------------------------------------
# Records, lists, paths
# --------------------------------------------------------------------------------------

ORDER_MAPPING = mapping(
    {
        "order_no": {"expr": "orderNo", "type": "string", "required": True},
        "status": {"expr": "status", **STATUS},
        "paid_at": {"expr": "payTime", "type": "datetime", "format": "%Y-%m-%d %H:%M:%S"},
        "total": {"expr": "amount", "type": "decimal"},
        "receiver_name": {"expr": "receiver.name", "type": "string"},
        "items": {
            "expr": "items",
            "type": "array",
            "fields": {
                "sku": {"expr": "sku", "type": "string", "required": True},
                "qty": {"expr": "quantity", "type": "integer"},
                "price": {"expr": "price", "type": "decimal"},
            },
        },
    }
)


def order(n: int, **changes: Any) -> dict[str, Any]:
    record = {
        "orderNo": f"SO{n:04d}",
        "status": 2,
        "payTime": "2024-05-01 10:00:00",
        "amount": "99.90",
        "receiver": {"name": "李四"},
        "items": [{"sku": "A1", "quantity": "1", "price": "99.90"}],
    }
    record.update(changes)
    return record


def test_one_record_maps_with_chinese_text_intact() -> None:
    result = apply_mapping(ORDER_MAPPING, order(1), many=False)
    assert result.ok
    assert result.value == {
        "order_no": "SO0001",
        "status": "paid",
        "paid_at": "2024-05-01T10:00:00+08:00",
        "total": "99.90",
        "receiver_name": "李四",
        "items": [{"sku": "A1", "qty": 1, "price": "99.90"}],
    }
    assert validate_shape("order", result.value) == []


def test_every_error_is_located_by_path_including_inside_lists() -> None:
    records = [
        order(1),
        order(2, status=7),
        order(3, payTime="2024-05-01", items=[{"sku": "A"}, {"sku": "B", "quantity": "x"}]),
        order(4, orderNo=None, amount="十二"),
    ]
    result = apply_mapping(ORDER_MAPPING, records, many=True)
    assert [(e.path, e.message) for e in result.errors] == [
        ("[1].status", "unmapped value 7 (expected one of '1', '2', '3')"),
        ("[2].paid_at", "'2024-05-01' does not match format %Y-%m-%d %H:%M:%S"),
        ("[2].items[1].qty", "expected an integer, got 'x'"),
        ("[3].order_no", "required, but 'orderNo' gave no value"),
        ("[3].total", "expected a decimal number, got '十二'"),
    ]
    # fields in error are null; the rest of each record is still there
    assert result.value[2]["paid_at"] is None and result.value[2]["status"] == "paid"
    assert result.value[2]["items"] == [
        {"sku": "A", "qty": None, "price": None},
        {"sku": "B", "qty": None, "price": None},
    ]
    assert str(result.errors[0]) == "[1].status: unmapped value 7 (expected one of '1', '2', '3')"


def test_many_accepts_null_and_a_single_object() -> None:
    assert apply_mapping(ORDER_MAPPING, None, many=True).value == []
    single = apply_mapping(ORDER_MAPPING, order(5), many=True)
    assert single.ok and single.value[0]["order_no"] == "SO0005"
    wrong = apply_mapping(ORDER_MAPPING, "orders", many=True)
    assert wrong.errors == [MappingError("", "expected a list of records, got 'orders'")]


def test_one_record_refuses_a_list_and_maps_null_to_null() -> None:
    result = apply_mapping(ORDER_MAPPING, [order(1)], many=False)
    assert result.value is None
    assert result.errors[0].path == "" and "declare many: true" in result.errors[0].message
    assert apply_mapping(ORDER_MAPPING, None, many=False).value is None


def test_expressions_failing_at_runtime_are_errors() -> None:
    spec = mapping({"count": {"expr": "length(items)", "type": "integer"}})
    result = apply_mapping(spec, {"items": 5}, many=False)
    assert result.value == {"count": None}
    (error,) = result.errors
    assert error.path == "count" and "expression 'length(items)' failed" in error.message


def test_jmespath_projections_in_field_expressions() -> None:
    spec = mapping(
        {
            "skus": {"expr": "items[].sku", "type": "array"},
            "first_qty": {"expr": "items[0].quantity", "type": "integer"},
            "paid_items": {"expr": "length(items[?paid == `true`])", "type": "integer"},
        }
    )
    data = {"items": [{"sku": "A", "quantity": "2", "paid": True}, {"sku": "B", "paid": False}]}
    assert apply_mapping(spec, data, many=False).value == {
        "skus": ["A", "B"],
        "first_qty": 2,
        "paid_items": 1,
    }


# --------------------------------------------------------------------------------------
# Responses: decode (JSON/XML), select, map
# --------------------------------------------------------------------------------------

TRACKING = ActionSpec.model_validate(
    {
        "effect": "read",
        "response": {"format": "xml", "select": "events.event"},
        "output": "tracking_event",
        "many": True,
        "mapping": {
            "fields": {
                "time": {"expr": "time", "type": "datetime", "format": "%Y-%m-%d %H:%M:%S"},
                # XML attributes are "@name" keys: quoted identifiers in JMESPath
                "status": {
                    "expr": '"@code"',
                    "values": {"PICKED": "picked_up", "SIGNED": "delivered"},
                },
                "description": {"expr": "desc", "type": "string"},
                "location": {"expr": "city", "type": "string"},
            }
        },
    }
)

TRACKING_XML = """<?xml version="1.0" encoding="UTF-8"?>
<response>
  <trackingNo>SF1234567890</trackingNo>
  <events>
    <event code="PICKED">
      <time>2024-05-01 09:00:00</time><desc>快递员已揽收</desc><city>杭州</city>
    </event>
    <event code="SIGNED">
      <time>2024-05-02 15:30:00</time><desc>已签收，签收人：本人</desc><city>上海</city>
    </event>
  </events>
</response>
""".encode()


def test_xml_responses_map_like_json() -> None:
    data = decode_body(TRACKING_XML, "xml")
    result = apply_response(TRACKING, data)
    assert result.ok, result.errors
    assert result.value == [
        {
            "time": "2024-05-01T09:00:00+08:00",
            "status": "picked_up",
            "description": "快递员已揽收",
            "location": "杭州",
        },
        {
            "time": "2024-05-02T15:30:00+08:00",
            "status": "delivered",
            "description": "已签收，签收人：本人",
            "location": "上海",
        },
    ]
    assert validate_shape("tracking_event", result.value, many=True) == []


def test_a_single_xml_element_is_a_list_of_one() -> None:
    one_event = (
        "<response><events><event code=\"PICKED\"><time>2024-05-01 09:00:00</time>"
        "<desc>揽收</desc></event></events></response>"
    ).encode()
    result = apply_response(TRACKING, decode_body(one_event, "xml"))
    assert result.ok and len(result.value) == 1 and result.value[0]["description"] == "揽收"


def test_gbk_xml_is_decoded() -> None:
    body = '<?xml version="1.0" encoding="GBK"?><r><name>王五</name></r>'.encode("gbk")
    assert decode_body(body, "xml") == {"name": "王五"}


@pytest.mark.parametrize(
    ("body", "fmt", "fragment"),
    [
        (b'{"a": 1', "json", "not valid JSON at line 1"),
        (b'{"a": NaN}', "json", "NaN is not a JSON value"),
        (b"\xff\xfe\xfa", "json", "not valid JSON"),
        (b"<a><b></a>", "xml", "Malformed XML at line 1"),
        (b'<!DOCTYPE x [<!ENTITY e "boom">]><x>&e;</x>', "xml", "not allowed"),
    ],
)
def test_garbage_bodies_are_decode_errors(body: bytes, fmt: str, fragment: str) -> None:
    with pytest.raises(BodyDecodeError, match=fragment):
        decode_body(body, fmt)  # type: ignore[arg-type]


def test_decode_body_basics() -> None:
    assert decode_body(b"", "json") is None
    assert decode_body('{"名字": "张三"}'.encode(), "json") == {"名字": "张三"}
    assert decode_body("好".encode(), "text") == "好"


def test_select_without_mapping_returns_the_selection() -> None:
    action = ActionSpec.model_validate(
        {"effect": "read", "response": {"select": "data.list"}, "many": True}
    )
    assert apply_response(action, {"data": {"list": [1, 2]}}).value == [1, 2]
    assert apply_response(action, {"data": {}}).value == []
    failing = ActionSpec.model_validate({"effect": "read", "response": {"select": "abs(data)"}})
    result = apply_response(failing, {"data": "x"})
    assert result.value is None and "select 'abs(data)' failed" in result.errors[0].message


def test_canonical_shapes_report_paths() -> None:
    errors = validate_shape(
        "order",
        [{"order_no": "A"}, {"total": "12.30", "items": [{"qty": "many"}]}],
        many=True,
    )
    assert [(e.path, e.message) for e in errors] == [
        ("[1].order_no", "required by the canonical shape, but missing"),
        ("[1].items[0].qty", "Input should be a valid integer, unable to parse string as an "
         "integer"),
    ]
    naive = validate_shape("ticket", {"ticket_no": "T1", "created_at": "2024-05-01T10:00:00"})
    assert naive[0].path == "created_at"
    assert validate_shape("member", None) == []


# --------------------------------------------------------------------------------------
# Property: mapping never raises, whatever the input
# --------------------------------------------------------------------------------------

EVERY_TYPE = mapping(
    {
        "s": {"expr": "a", "type": "string", "required": True},
        "i": {"expr": "b", "type": "integer"},
        "n": {"expr": "c", "type": "number", "default": 0},
        "d": {"expr": "a", "type": "decimal"},
        "b": {"expr": "b", "type": "boolean"},
        "dt": {"expr": "c", "type": "datetime", "format": ["%Y-%m-%d", "epoch_ms"]},
        "day": {"expr": "a", "type": "date"},
        "iso": {"expr": "b", "type": "datetime"},
        "o": {"expr": "c", "type": "object"},
        "enum": {"expr": "a", "values": {"1": "x", "true": "y"}},
        "first": {"expr": "[0]", "type": "string"},
        "len": {"expr": "length(a)", "type": "integer"},
        "list": {
            "expr": "c",
            "type": "array",
            "fields": {"k": {"expr": "k", "type": "decimal", "required": True}},
        },
    }
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text()
    | st.sampled_from(["是", "2024-05-01", "1714528800000", "12.30", "1e999", "", "NaN"]),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["a", "b", "c", "k", "x"]) | st.text(), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=json_values, many=st.booleans())
def test_mapping_never_raises(data: Any, many: bool) -> None:
    result = apply_mapping(EVERY_TYPE, data, many=many)
    assert all(isinstance(error, MappingError) for error in result.errors)
    # the output is always JSON (non-finite floats only via `any`, which is not used here)
    text = json.dumps(result.value, allow_nan=True)
    if result.value is not None:
        records = result.value if many else [result.value]
        for record in records:
            assert not (isinstance(record["n"], float) and not math.isfinite(record["n"]))
    assert isinstance(text, str)
