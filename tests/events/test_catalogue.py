"""The event reference docs/events.md: generated from the catalogue, never stale, and what it
shows (field tables from the payload's JSON Schema, personal data, examples, links)."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Literal

import typer
from pydantic import BaseModel, ConfigDict, Field
from typer.testing import CliRunner

from relaydesk.cli import events_docs
from relaydesk.events.catalogue import EventSpec
from relaydesk.events.docs import DOC_PATH, REGENERATE, example_payload, field_rows, render

REPO = DOC_PATH.parents[1]


def test_docs_events_md_is_generated_from_the_current_catalogue() -> None:
    """Rendered in a fresh interpreter: only the events the application registers count."""
    done = subprocess.run(
        [sys.executable, "-m", "relaydesk.events.docs", "--check"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, (
        f"docs/events.md is stale: regenerate it with `{REGENERATE}` (make events-docs) "
        f"and commit it.\n{done.stdout}{done.stderr}"
    )


def test_the_page_links_to_the_other_event_docs_and_they_exist() -> None:
    text = DOC_PATH.read_text(encoding="utf-8")
    links = set(re.findall(r"\]\(([a-z0-9_-]+\.md)\)", text))
    assert {"event-bus.md", "automation.md", "webhooks.md", "connectors.md"} <= links
    missing = sorted(link for link in links if not (DOC_PATH.parent / link).is_file())
    assert not missing, f"docs/events.md links to docs that do not exist (yet): {missing}"


class _Item(BaseModel):
    sku: str
    qty: int = 1


class _Receiver(BaseModel):
    name: str
    phone: str | None = None


class _Sample(BaseModel):
    model_config = ConfigDict(extra="allow")

    #: the order's number in the shop
    order_no: str
    kind: Literal["web", "app"] = Field("web", description="where it was placed")
    total: Decimal
    at: dt.datetime | None = None
    tags: list[str] = Field(default_factory=list)
    receiver: _Receiver
    items: list[_Item] = Field(default_factory=list)


SAMPLE = EventSpec(
    "sample.placed",
    _Sample,
    "A sample order was placed.",
    version=2,
    key="order_no",
    pii=("receiver.name", "receiver.phone"),
    source="tests",
)


def test_field_rows_follow_the_json_schema_with_nested_fields_and_personal_data() -> None:
    rows = {
        path: (kind, required, pii, text) for path, kind, required, pii, text in field_rows(SAMPLE)
    }
    assert rows["order_no"] == ("string", True, False, "the order's number in the shop")
    assert rows["kind"] == ('`"web"` \\| `"app"`', False, False, "where it was placed")
    assert rows["total"][:2] == ("string", True)  # a Decimal is serialized as text
    assert rows["at"][:2] == ("datetime, nullable", False)
    assert rows["tags"][0] == "array of string"
    assert rows["receiver"][:3] == ("object", True, False)
    assert rows["receiver.name"] == ("string", True, True, "")
    assert rows["receiver.phone"][:3] == ("string, nullable", False, True)
    assert rows["items"][0] == "array of object"
    assert rows["items[].sku"] == ("string", True, False, "")


def test_a_section_has_the_metadata_the_table_and_an_example() -> None:
    text = render({"sample.placed": SAMPLE})
    section = text[text.index("### `sample.placed`") :]
    assert "A sample order was placed." in section
    for line in (
        "* version: 2",
        "* ordering key: `order_no`",
        "* source: tests",
        "* personal data: `receiver.name`, `receiver.phone`",
    ):
        assert line in section
    assert "| `receiver.phone` | string, nullable | no | yes |  |" in section
    assert "Other fields (a connector's mapping may add some) are passed on unchanged." in section
    assert "| [`sample.placed`](#sampleplaced) | A sample order was placed. |" in text
    assert '"order_no": "YQ20261118001420"' in section  # example built from the schema
    assert "## custom.*" in text and "[the event bus](event-bus.md)" in text


def test_an_example_comes_from_the_spec_when_it_has_one_else_from_the_schema() -> None:
    built = example_payload(SAMPLE)
    _Sample.model_validate(built)
    assert built["receiver"] == {"name": "张伟", "phone": "13937704964"}
    assert built["items"] == [{"sku": "<sku>", "qty": 1}] and built["kind"] == "web"
    given = {"order_no": "YQ1", "total": "1.00", "receiver": {"name": "李娜"}}
    with_example = EventSpec("sample.placed", _Sample, "x", examples=(given,))
    assert example_payload(with_example) == given


def test_the_cli_command_writes_and_checks_the_page(tmp_path: Path) -> None:
    app = typer.Typer()
    app.callback()(lambda: None)  # a group, as `relaydesk events` is
    events_docs.register(app)
    target = tmp_path / "events.md"
    stale = CliRunner().invoke(app, ["docs", "--check", "--output", str(target)])
    assert stale.exit_code == 1 and "is stale: run python -m relaydesk.events.docs" in (
        stale.output
    )
    written = CliRunner().invoke(app, ["docs", "--output", str(target)])
    assert written.exit_code == 0 and target.read_text(encoding="utf-8").startswith("# Events")
    fresh = CliRunner().invoke(app, ["docs", "--check", "--output", str(target)])
    assert fresh.exit_code == 0 and "up to date" in fresh.output
