"""Connector specs: loading, every problem located by line and path, params, permissions."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from relaydesk.auth.permissions import PERMISSIONS, is_known
from relaydesk.errors import AppError, NotFound, ValidationFailed
from relaydesk.integrations.spec import (
    ConnectorSpec,
    SigningAuth,
    SpecInvalid,
    SpecProblem,
    action_permission,
    load_spec,
    load_spec_file,
    params_model,
    register_permissions,
    spec_json_schema,
    validate_params,
)

ORDERS = textwrap.dedent(
    """\
    apiVersion: relaydesk.io/v1
    kind: http
    name: orders
    title: 订单系统
    config:
      base_url: {type: string, required: true, description: 订单系统地址}
      app_key: {type: string, required: true}
      app_secret: {type: string, required: true, secret: true}
    http:
      base_url: "{{ config.base_url }}"
      timeout_seconds: 5
      headers: {Accept: application/json}
    auth:
      type: signing
      app_key: "{{ config.app_key }}"
      secret: "{{ config.app_secret }}"
      algorithm: hmac_sha256
      canonical: "{app_key}{timestamp}{nonce}{sorted_query}"
    resilience:
      retries: {max_attempts: 2}
    errors:
      - {when: {status: [429]}, then: rate_limited}
      - when: {body: "code == 'ORDER_SHIPPED'"}
        then: fail
        message: 订单已发货，不能修改地址
        code: order_shipped
    actions:
      get_order:
        title: 查询订单
        effect: read
        params:
          order_no: {type: string, required: true, pattern: "^[A-Z0-9]{6,32}$"}
          page: {type: integer, default: 1, minimum: 1}
          since: {type: date}
          channel: {type: string, enum: [web, app]}
        request:
          method: GET
          path: "/api/orders/{{ params.order_no }}"
          query: {page: "{{ params.page }}", since: "{{ params.since }}"}
        response: {format: json, select: data}
        output: order
        mapping:
          timezone: Asia/Shanghai
          fields:
            order_no: {expr: orderNo, type: string, required: true}
            status: {expr: status, type: string, values: {1: pending, 2: paid, 3: shipped}}
            paid_at: {expr: payTime, type: datetime, format: "%Y-%m-%d %H:%M:%S"}
            total: {expr: amount, type: decimal}
            receiver_phone: {expr: receiver.mobile, type: string}
            note: {expr: remark, type: string, default: ""}
        pii: {receiver_phone: phone}
        cache: true
      refund:
        title: 申请退款
        effect: write
        params:
          order_no: {type: string, required: true}
          reason: {type: string, max_length: 200, pii: generic}
        request:
          method: POST
          path: /api/refunds
          body: {orderNo: "{{ params.order_no }}", reason: "{{ params.reason }}"}
        compensate: {action: cancel_refund, params: {refund_id: "{{ result.refund_id }}"}}
      cancel_refund:
        effect: write
        permission: orders.refunds.cancel
        params:
          refund_id: {type: string, required: true}
        request: {method: POST, path: "/api/refunds/{{ params.refund_id }}/cancel"}
    callbacks:
      order_status_changed:
        signature:
          scheme: hmac_sha256_hex
          header: X-Signature
          secret: "{{ config.app_secret }}"
          payload: "{timestamp}.{body}"
          timestamp_header: X-Timestamp
        event_id: eventId
        event_type: {expr: status, values: {SHIPPED: order.shipped, PAID: order.paid}}
        entity_key: orderNo
        entity_version: version
    """
)


def line_of(text: str, snippet: str) -> int:
    """The 1-based line of the only line containing ``snippet``."""
    lines = [n for n, line in enumerate(text.splitlines(), 1) if snippet in line]
    assert len(lines) == 1, (snippet, lines)
    return lines[0]


def problems_of(text: str, filename: str = "spec.yaml") -> list[SpecProblem]:
    with pytest.raises(SpecInvalid) as exc:
        load_spec(text, filename)
    return exc.value.problems


def by_path(problems: list[SpecProblem]) -> dict[str, SpecProblem]:
    return {problem.path: problem for problem in problems}


def test_the_full_example_loads() -> None:
    spec = load_spec(ORDERS, "orders.yaml")
    assert spec.name == "orders"
    assert spec.title == "订单系统"
    assert isinstance(spec.auth, SigningAuth)
    assert spec.auth.algorithm == "hmac_sha256"
    assert spec.resilience.retries.max_attempts == 2
    assert spec.resilience.retries.initial_backoff_seconds == 0.2  # defaults fill the rest
    assert spec.errors[1].message == "订单已发货，不能修改地址"
    order = spec.actions["get_order"]
    assert order.mapping is not None
    # YAML integer keys of a value map are looked up as strings
    assert order.mapping.fields["status"].values == {"1": "pending", "2": "paid", "3": "shipped"}
    assert order.mapping.fields["note"].has_default
    assert not order.mapping.fields["total"].has_default
    assert spec.actions["refund"].compensate is not None


def test_to_document_round_trips_exactly() -> None:
    spec = load_spec(ORDERS)
    document = spec.to_document()
    assert document["apiVersion"] == "relaydesk.io/v1"
    assert document["auth"]["type"] == "signing"
    json.dumps(document)  # JSON-ready for the instances table
    again = load_spec(json.dumps(document, ensure_ascii=False))
    assert again.to_document() == document
    fields = again.actions["get_order"].mapping.fields  # type: ignore[union-attr]
    assert fields["note"].has_default and not fields["paid_at"].has_default


BROKEN = textwrap.dedent(
    """\
    apiVersion: relaydesk.io/v1
    kind: http
    name: orders
    http: {base_url: "https://orders.example.com"}
    actions:
      get_order:
        effect: read
        params:
          order_no: {type: string, required: true}
          page: {type: integer, minimum: lots}
        request:
          path: "/api/orders/{{ params.order_id }}"
          verb: GET
    """
)


def test_a_spec_with_three_errors_reports_all_three_with_their_lines() -> None:
    problems = problems_of(BROKEN, "orders.yaml")
    assert [(p.line, p.path) for p in problems] == [
        (line_of(BROKEN, "minimum: lots"), "actions.get_order.params.page.minimum"),
        (line_of(BROKEN, "params.order_id"), "actions.get_order.request.path"),
        (line_of(BROKEN, "verb: GET"), "actions.get_order.request.verb"),
    ]
    found = by_path(problems)
    assert "valid number" in found["actions.get_order.params.page.minimum"].message
    path_problem = found["actions.get_order.request.path"]
    assert "'order_id' is not a declared parameter" in path_problem.message
    assert found["actions.get_order.request.verb"].message == "unknown field"
    # the printable form is file:line: path: message
    assert str(problems[0]) == (
        f"orders.yaml:10: actions.get_order.params.page.minimum: {problems[0].message}"
    )


def test_problems_are_a_422_with_every_problem_as_details() -> None:
    with pytest.raises(SpecInvalid) as exc:
        load_spec(BROKEN, "orders.yaml")
    error = exc.value
    assert isinstance(error, AppError) and error.status_code == 422
    assert error.code == "spec_invalid"
    assert error.message == "the connector spec has 3 problems"
    assert error.details[0] == {
        "file": "orders.yaml",
        "line": 10,
        "path": "actions.get_order.params.page.minimum",
        "message": error.problems[0].message,
    }


@pytest.mark.parametrize(
    ("document", "path", "snippet", "message"),
    [
        ("kind: http\nname: x\n", "apiVersion", "kind: http", "required field is missing"),
        (
            "apiVersion: relaydesk.io/v2\nkind: http\nname: x\nhttp: {base_url: u}\n",
            "apiVersion",
            "apiVersion:",
            "unsupported apiVersion 'relaydesk.io/v2'; this Relaydesk reads relaydesk.io/v1",
        ),
        (
            "apiVersion: relaydesk.io/v1\nkind: ftp\nname: x\n",
            "kind",
            "kind: ftp",
            "Input should be 'http', 'sql', 'soap' or 'plugin'",
        ),
        (
            "apiVersion: relaydesk.io/v1\nkind: http\nname: Orders!\nhttp: {base_url: u}\n",
            "name",
            "name: Orders!",
            "String should match pattern",
        ),
    ],
)
def test_top_level_fields(document: str, path: str, snippet: str, message: str) -> None:
    problem = by_path(problems_of(document))[path]
    assert problem.line == line_of(document, snippet)
    assert message in problem.message


def test_union_tags_are_not_part_of_the_path() -> None:
    text = textwrap.dedent(
        """\
        apiVersion: relaydesk.io/v1
        kind: http
        name: crm
        http: {base_url: "https://crm.example.com"}
        auth:
          type: api_key
          in: cookie
          value: k
        """
    )
    found = by_path(problems_of(text))
    assert found["auth.in"].line == line_of(text, "in: cookie")
    assert found["auth.name"].message == "required field is missing"
    assert found["auth.name"].line == line_of(text, "auth:")  # the mapping lacking it


def test_invalid_action_names_point_at_the_key() -> None:
    text = BROKEN.replace("  get_order:", "  Get-Order:").replace("lots", "1").replace(
        "order_id", "order_no"
    ).replace("      verb: GET\n", "")
    (problem,) = problems_of(text)
    assert problem.path == "actions.Get-Order"
    assert problem.line == line_of(text, "Get-Order:")
    assert problem.message.startswith("invalid name 'Get-Order'")


def test_yaml_syntax_errors_have_a_line() -> None:
    text = "apiVersion: relaydesk.io/v1\nkind: http\nactions:\n  a: [1, 2\n  b: 3\n"
    (problem,) = problems_of(text, "bad.yaml")
    assert problem.line is not None and problem.line >= 4
    assert problem.message.startswith("invalid YAML")
    assert str(problem).startswith(f"bad.yaml:{problem.line}: (document): invalid YAML")


@pytest.mark.parametrize("text", ["", "# only a comment\n", "- a\n- b\n", "just text"])
def test_a_document_that_is_not_a_mapping(text: str) -> None:
    (problem,) = problems_of(text)
    assert problem.message.startswith("a spec is a mapping of fields")


def test_duplicate_keys_are_reported() -> None:
    text = ORDERS.replace("    title: 查询订单\n", "    title: 查询订单\n    title: again\n")
    (problem,) = problems_of(text)
    assert problem.path == "actions.get_order.title"
    assert problem.line == line_of(text, "title: again")
    assert "duplicate key" in problem.message


def test_yaml_alias_bombs_are_refused_quickly() -> None:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for n in range(1, 9):
        prev = chr(ord("a") + n - 1)
        lines.append(f"{chr(ord('a') + n)}: &{chr(ord('a') + n)} [{', '.join(['*' + prev] * 10)}]")
    (problem,) = problems_of("\n".join(lines) + "\n")
    assert "aliases" in problem.message


def test_dates_in_yaml_stay_text() -> None:
    text = ORDERS.replace("since: {type: date}", "since: {type: date, default: 2024-05-01}")
    spec = load_spec(text)
    assert spec.actions["get_order"].params["since"].default == "2024-05-01"


def test_json_specs_are_read_with_lines() -> None:
    document: dict[str, Any] = yaml.safe_load(ORDERS)
    document["actions"]["get_order"]["effect"] = "peek"
    text = json.dumps(document, ensure_ascii=False, indent=2)
    (problem,) = problems_of(text, "orders.json")
    assert problem.path == "actions.get_order.effect"
    assert problem.line == line_of(text, '"effect": "peek"')


def test_json_with_tabs_is_read_without_lines() -> None:
    document = yaml.safe_load(ORDERS)
    document["actions"]["get_order"]["effect"] = "peek"
    text = json.dumps(document, ensure_ascii=False, indent="\t")
    (problem,) = problems_of(text)
    assert problem.path == "actions.get_order.effect"


CROSS_CHECKS: list[tuple[str, str, str, str]] = [
    # (replace this, with this, path, message fragment)
    ("kind: http", "kind: sql", "sql", "kind sql needs a sql section"),
    (
        "    request: {method: POST, path: \"/api/refunds/{{ params.refund_id }}/cancel\"}\n",
        "",
        "actions.cancel_refund.request",
        "kind http actions need a request section",
    ),
    ("    cache: true\n", "    cache: true\n    idempotent: true\n", "", ""),
    (
        "compensate: {action: cancel_refund,",
        "compensate: {action: get_order,",
        "actions.refund.compensate.action",
        "'get_order' is not a write action",
    ),
    (
        "compensate: {action: cancel_refund,",
        "compensate: {action: refund_all,",
        "actions.refund.compensate.action",
        "no action named 'refund_all'",
    ),
    (
        "params: {refund_id: \"{{ result.refund_id }}\"}",
        "params: {refund_no: \"{{ result.refund_id }}\"}",
        "actions.refund.compensate.params.refund_no",
        "'cancel_refund' has no parameter 'refund_no'",
    ),
    (
        "    effect: write\n    params:\n      order_no",
        "    effect: read\n    params:\n      order_no",
        "actions.refund.compensate",
        "compensate applies to write actions only",
    ),
    (
        "    effect: read\n    params:\n      order_no: {type: string, required: true, pattern",
        "    effect: write\n    params:\n      order_no: {type: string, required: true, pattern",
        "actions.get_order.cache",
        "cache applies to read actions only",
    ),
    (
        "pii: {receiver_phone: phone}",
        "pii: {receiver_mobile: phone}",
        "actions.get_order.pii.receiver_mobile",
        "'receiver_mobile' is not an output field",
    ),
    (
        "permission: orders.refunds.cancel",
        "permission: Cancel Refunds",
        "actions.cancel_refund.permission",
        "is not a permission name",
    ),
    (
        "query: {page: \"{{ params.page }}\"",
        "query: {page: \"{{ result.page }}\"",
        "actions.get_order.request.query.page",
        "unknown name 'result' here",
    ),
    (
        "secret: \"{{ config.app_secret }}\"\n  algorithm",
        "secret: \"{{ config.secret }}\"\n  algorithm",
        "auth.secret",
        "'secret' is not declared under config",
    ),
    (
        "note: {expr: remark, type: string, default: \"\"}",
        "note: {expr: remark, type: integer, default: none}",
        "actions.get_order.mapping.fields.note.default",
        "expected an integer",
    ),
    (
        "paid_at: {expr: payTime,",
        "paid_at: {expr: \"payTime[\",",
        "actions.get_order.mapping.fields.paid_at.expr",
        "invalid JMESPath expression 'payTime[': incomplete expression",
    ),
    (
        "total: {expr: amount,",
        "total: {expr: \"to_money(amount)\",",
        "actions.get_order.mapping.fields.total.expr",
        "unknown function(s) to_money()",
    ),
    (
        "timezone: Asia/Shanghai",
        "timezone: Asia/Beijing",
        "actions.get_order.mapping.timezone",
        "unknown time zone 'Asia/Beijing'",
    ),
    (
        "pattern: \"^[A-Z0-9]{6,32}$\"",
        "pattern: \"^[A-Z\"",
        "actions.get_order.params.order_no.pattern",
        "invalid regular expression",
    ),
    (
        "page: {type: integer, default: 1, minimum: 1}",
        "page: {type: integer, default: 0, minimum: 1}",
        "actions.get_order.params.page",
        "default 0 is invalid",
    ),
    (
        "event_type: {expr: status, values: {SHIPPED: order.shipped",
        "event_type: {expr: status, values: {SHIPPED: shipped",
        "callbacks.order_status_changed.event_type.values",
        "'shipped' is not a dotted event type",
    ),
    (
        "canonical: \"{app_key}{timestamp}{nonce}{sorted_query}\"",
        "canonical: \"{app_key}{time}\"",
        "auth.canonical",
        "unknown placeholder(s) {time}",
    ),
]


@pytest.mark.parametrize(("old", "new", "path", "fragment"), CROSS_CHECKS)
def test_cross_field_checks(old: str, new: str, path: str, fragment: str) -> None:
    assert old in ORDERS, old
    text = ORDERS.replace(old, new)
    if not path:
        load_spec(text)  # allowed combination
        return
    problems = problems_of(text)
    found = by_path(problems)
    assert path in found, problems
    assert fragment in found[path].message
    assert found[path].line is not None


def test_sql_statements_bind_declared_params_and_never_interpolate() -> None:
    text = textwrap.dedent(
        """\
        apiVersion: relaydesk.io/v1
        kind: sql
        name: members
        config: {url: {type: string, required: true, secret: true}}
        sql: {url: "{{ config.url }}"}
        actions:
          get_member:
            effect: read
            params: {member_id: {type: integer, required: true}}
            sql:
              statement: "SELECT * FROM members WHERE id = :member_id AND tier = :tier"
              result: one
          by_phone:
            effect: read
            params: {phone: {type: string, required: true, pii: phone}}
            sql: {statement: "SELECT * FROM members WHERE phone = '{{ params.phone }}'"}
          casts:
            effect: read
            params: {since: {type: datetime, required: true}}
            sql: {statement: "SELECT id::text FROM members WHERE joined_at > :since"}
        """
    )
    found = by_path(problems_of(text))
    assert set(found) == {"actions.get_member.sql.statement", "actions.by_phone.sql.statement"}
    assert found["actions.get_member.sql.statement"].message == ":tier is not a declared parameter"
    assert "templates are not allowed in SQL" in found["actions.by_phone.sql.statement"].message


def test_sections_must_match_the_kind() -> None:
    text = ORDERS.replace("http:\n  base_url", "sql: {url: x}\nhttp:\n  base_url")
    found = by_path(problems_of(text))
    assert found["sql"].message == "sql does not apply to kind http"


def test_unknown_fields_everywhere_are_errors() -> None:
    text = ORDERS.replace("    output: order\n", "    output: order\n    outptu: x\n")
    (problem,) = problems_of(text)
    assert (problem.path, problem.message) == ("actions.get_order.outptu", "unknown field")


def test_load_spec_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "orders.yaml"
    path.write_text(BROKEN, encoding="utf-8")
    with pytest.raises(SpecInvalid) as exc:
        load_spec_file(path)
    assert {p.file for p in exc.value.problems} == {str(path)}
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(SpecInvalid) as exc:
        load_spec_file(path)
    assert "not UTF-8" in exc.value.problems[0].message


# --------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------


def test_params_are_validated_with_defaults_and_types() -> None:
    spec = load_spec(ORDERS)
    params = validate_params(spec, "get_order", {"order_no": "SO2024001", "page": "3"})
    assert params == {"order_no": "SO2024001", "page": 3, "since": None, "channel": None}
    params = validate_params(spec, "get_order", {"order_no": "SO2024001", "since": "2024-05-01"})
    assert params["page"] == 1
    assert str(params["since"]) == "2024-05-01"
    as_json = validate_params(
        spec, "get_order", {"order_no": "SO2024001", "since": "2024-05-01"}, mode="json"
    )
    assert as_json["since"] == "2024-05-01"


def test_bad_params_are_a_422_naming_each_one() -> None:
    spec = load_spec(ORDERS)
    with pytest.raises(ValidationFailed) as exc:
        validate_params(
            spec, "get_order", {"page": "two", "channel": "fax", "shop": "x", "since": "May"}
        )
    details = {tuple(d["loc"]): d for d in exc.value.details}
    assert set(details) == {
        ("params", "order_no"),
        ("params", "page"),
        ("params", "channel"),
        ("params", "shop"),
        ("params", "since"),
    }
    assert details[("params", "order_no")]["msg"] == "required field is missing"
    assert details[("params", "shop")]["msg"] == "unknown field"
    assert "'web', 'app'" in details[("params", "channel")]["msg"]
    assert exc.value.status_code == 422
    with pytest.raises(ValidationFailed) as exc:
        validate_params(spec, "get_order", {"order_no": "short"})
    assert exc.value.details[0]["loc"] == ["params", "order_no"]
    assert exc.value.message.startswith("params.order_no: String should match pattern")


def test_params_model_is_built_once_and_forbids_extras() -> None:
    spec = load_spec(ORDERS)
    model = params_model(spec, "refund")
    assert params_model(spec, "refund") is model
    schema = model.model_json_schema()
    assert schema["required"] == ["order_no"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["reason"]["anyOf"][0]["maxLength"] == 200
    with pytest.raises(NotFound):
        params_model(spec, "nope")


def test_params_may_have_any_identifier_as_name() -> None:
    text = ORDERS.replace(
        "      channel: {type: string, enum: [web, app]}\n",
        "      channel: {type: string, enum: [web, app]}\n"
        "      schema: {type: string}\n"
        "      model_id: {type: integer}\n"
        "      _raw: {type: boolean, default: false}\n",
    )
    spec = load_spec(text)
    params = validate_params(
        spec, "get_order", {"order_no": "SO2024001", "schema": "v2", "model_id": "7"}
    )
    assert (params["schema"], params["model_id"], params["_raw"]) == ("v2", 7, False)
    with pytest.raises(ValidationFailed) as exc:
        validate_params(spec, "get_order", {"order_no": "SO2024001", "p_schema": "v2"})
    assert exc.value.details[0]["loc"] == ["params", "p_schema"]


def test_permissions_are_registered_per_action() -> None:
    spec = load_spec(ORDERS)
    names = register_permissions(spec)
    assert names == [
        "connector_action:orders.get_order",
        "connector_action:orders.refund",
        "orders.refunds.cancel",
    ]
    assert action_permission(spec, "cancel_refund") == "orders.refunds.cancel"
    assert PERMISSIONS["connector_action:orders.get_order"] == (
        "Run 查询订单 on the 订单系统 connector"
    )
    assert is_known("orders.refunds.cancel")
    assert register_permissions(spec) == names  # idempotent


# --------------------------------------------------------------------------------------
# JSON Schema
# --------------------------------------------------------------------------------------


def test_the_json_schema_accepts_the_example_and_rejects_typos() -> None:
    jsonschema_rs = pytest.importorskip("jsonschema_rs")
    schema = spec_json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["properties"]["apiVersion"]["const"] == "relaydesk.io/v1"
    validator = jsonschema_rs.Draft202012Validator(schema)
    document = load_spec(ORDERS).to_document()
    assert validator.is_valid(document)
    document["actions"]["get_order"]["outptu"] = "order"
    assert not validator.is_valid(document)
    json.dumps(schema)


def test_spec_objects_are_pydantic_models() -> None:
    spec = ConnectorSpec.model_validate(yaml.safe_load(ORDERS))
    assert spec.actions["refund"].effect == "write"
