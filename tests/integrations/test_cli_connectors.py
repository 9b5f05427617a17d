"""``relaydesk connectors schema | validate | preview``: output and exit codes."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from relaydesk.cli.connectors import app

runner = CliRunner()

SPEC = textwrap.dedent(
    """\
    apiVersion: relaydesk.io/v1
    kind: http
    name: logistics
    title: 物流系统
    config:
      base_url: {type: string, required: true}
    http: {base_url: "{{ config.base_url }}"}
    actions:
      get_order:
        effect: read
        params: {order_no: {type: string, required: true}}
        request: {path: "/api/orders/{{ params.order_no }}"}
        response: {select: data}
        output: order
        mapping:
          fields:
            order_no: {expr: orderNo, type: string, required: true}
            paid_at: {expr: payTime, type: datetime, format: "%Y-%m-%d %H:%M:%S"}
            total: {expr: amount, type: decimal}
            vip: {expr: isVip, type: boolean}
            receiver_name: {expr: receiver.name, type: string}
      tracking:
        effect: read
        params: {tracking_no: {type: string, required: true}}
        request: {path: "/track/{{ params.tracking_no }}"}
        response: {format: xml, select: events.event}
        many: true
        output: tracking_event
        mapping:
          timezone: Asia/Shanghai
          fields:
            time: {expr: time, type: datetime, format: "%Y-%m-%d %H:%M:%S"}
            description: {expr: desc, type: string}
    """
)

BROKEN = textwrap.dedent(
    """\
    apiVersion: relaydesk.io/v1
    kind: http
    name: logistics
    http: {base_url: "https://example.com"}
    actions:
      tracking:
        effect: peek
        request: {path: "/track/{{ params.tracking_no }}"}
        mapping:
          fields:
            time: {expr: time, type: timestamp}
    """
)


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "logistics.yaml").write_text(SPEC, encoding="utf-8")
    (tmp_path / "broken.yaml").write_text(BROKEN, encoding="utf-8")
    return tmp_path


def test_schema_prints_the_json_schema() -> None:
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert "apiVersion" in schema["required"]
    assert "ActionSpec" in schema["$defs"]


def test_validate_ok(files: Path) -> None:
    result = runner.invoke(app, ["validate", str(files / "logistics.yaml")])
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"{files / 'logistics.yaml'}: ok (http connector 'logistics', 2 action(s), 0 callback(s))\n"
    )


def test_validate_prints_every_problem_with_file_and_line(files: Path) -> None:
    good, bad = str(files / "logistics.yaml"), str(files / "broken.yaml")
    result = runner.invoke(app, ["validate", good, bad])
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{good}: ok")
    assert lines[1:] == [
        f"{bad}:7: actions.tracking.effect: Input should be 'read' or 'write'",
        f"{bad}:8: actions.tracking.request.path: {{{{ params.tracking_no }}}}: "
        "'tracking_no' is not a declared parameter of this action",
        f"{bad}:11: actions.tracking.mapping.fields.time.type: Input should be 'any', 'string', "
        "'integer', 'number', 'decimal', 'boolean', 'date', 'datetime', 'object' or 'array'",
    ]


def test_validate_a_missing_file(files: Path) -> None:
    missing = files / "nope.yaml"
    result = runner.invoke(app, ["validate", str(missing)])
    assert result.exit_code == 1
    assert result.stdout.startswith(f"{missing}: (document): cannot read:")


def test_validate_needs_a_file() -> None:
    assert runner.invoke(app, ["validate"]).exit_code == 2


def test_preview_maps_a_json_sample(files: Path) -> None:
    sample = files / "order.json"
    sample.write_text(
        json.dumps(
            {
                "code": 0,
                "data": {
                    "orderNo": "SO0001",
                    "payTime": "2024-05-01 10:00:00",
                    "amount": "12.30",
                    "isVip": "是",
                    "receiver": {"name": "张三"},
                },
            },
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    args = ["preview", "--spec", str(files / "logistics.yaml"), "--action", "get_order"]
    result = runner.invoke(app, [*args, "--sample", str(sample)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "order_no": "SO0001",
        "paid_at": "2024-05-01T10:00:00+08:00",
        "total": "12.30",
        "vip": True,
        "receiver_name": "张三",
    }
    assert "张三" in result.stdout  # not \\u escaped
    assert result.stderr == ""


def test_preview_reports_every_error_by_path_and_exits_1(files: Path) -> None:
    sample = files / "order.json"
    sample.write_text(
        '{"data": {"payTime": "2024-05-01", "amount": "12,30", "isVip": "也许"}}', encoding="utf-8"
    )
    args = ["preview", "--spec", str(files / "logistics.yaml"), "--action", "get_order"]
    result = runner.invoke(app, [*args, "--sample", str(sample)])
    assert result.exit_code == 1
    mapped = json.loads(result.stdout)
    assert mapped == {
        "order_no": None,
        "paid_at": None,
        "total": None,
        "vip": None,
        "receiver_name": None,
    }
    assert result.stderr.splitlines() == [
        "error: order_no: required, but 'orderNo' gave no value",
        "error: paid_at: '2024-05-01' does not match format %Y-%m-%d %H:%M:%S",
        "error: total: expected a decimal number, got '12,30'",
        "error: vip: expected a boolean (true/false, 1/0, 是/否...), got '也许'",
        "4 error(s)",
    ]


def test_preview_reads_xml_samples(files: Path) -> None:
    sample = files / "tracking.xml"
    sample.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<response><events>'
        "<event><time>2024-05-01 09:00:00</time><desc>快递员已揽收</desc></event>"
        "<event><time>2024-05-02 15:30</time><desc>已签收</desc></event>"
        "</events></response>",
        encoding="utf-8",
    )
    args = ["preview", "--spec", str(files / "logistics.yaml"), "--action", "tracking"]
    result = runner.invoke(app, [*args, "--sample", str(sample)])
    assert result.exit_code == 1
    assert json.loads(result.stdout) == [
        {"time": "2024-05-01T09:00:00+08:00", "description": "快递员已揽收"},
        {"time": None, "description": "已签收"},
    ]
    # one error per path: the canonical shape's "time is required" is not repeated
    assert result.stderr.splitlines() == [
        "error: [1].time: '2024-05-02 15:30' does not match format %Y-%m-%d %H:%M:%S",
        "1 error(s)",
    ]


def test_preview_checks_the_canonical_shape(files: Path) -> None:
    spec = SPEC.replace("description: {expr: desc, type: string}", "description: {expr: desc}")
    spec = spec.replace("time: {expr: time, type: datetime, format: \"%Y-%m-%d %H:%M:%S\"}",
                        "time: {expr: time}")
    (files / "loose.yaml").write_text(spec, encoding="utf-8")
    sample = files / "tracking.xml"
    sample.write_text(
        "<response><events><event><time>yesterday</time><desc>x</desc></event></events></response>",
        encoding="utf-8",
    )
    args = ["preview", "--spec", str(files / "loose.yaml"), "--action", "tracking"]
    result = runner.invoke(app, [*args, "--sample", str(sample)])
    assert result.exit_code == 1
    first = result.stderr.splitlines()[0]
    assert first.startswith("error: [0].time: Input should be a valid datetime")


def test_preview_refuses_malformed_samples(files: Path) -> None:
    sample = files / "tracking.xml"
    sample.write_text("<response><events>", encoding="utf-8")
    args = ["preview", "--spec", str(files / "logistics.yaml"), "--action", "tracking"]
    result = runner.invoke(app, [*args, "--sample", str(sample)])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: {sample}: Malformed XML at line 1")


def test_preview_unknown_action_and_broken_spec(files: Path) -> None:
    sample = files / "x.json"
    sample.write_text("{}", encoding="utf-8")
    args = ["preview", "--spec", str(files / "logistics.yaml"), "--sample", str(sample)]
    result = runner.invoke(app, [*args, "--action", "refund"])
    assert result.exit_code == 1
    assert result.stderr == (
        "error: logistics has no action 'refund' (actions: get_order, tracking)\n"
    )
    args = ["preview", "--spec", str(files / "broken.yaml"), "--sample", str(sample)]
    result = runner.invoke(app, [*args, "--action", "tracking"])
    assert result.exit_code == 1
    assert f"{files / 'broken.yaml'}:7: actions.tracking.effect" in result.stderr
