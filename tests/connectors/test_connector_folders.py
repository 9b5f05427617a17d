"""Meta-test: every prebuilt connector folder is complete and consistent.

Each ``relaydesk/connectors/<system>/`` has a spec.yaml that validates, a doc.md naming every
action and callback (whose sample ``relaydesk connectors preview`` command works), a
fixtures/ folder with a recorded answer for every read action and a manifest listing exactly
its files, a test module ``tests/connectors/test_<system>.py``, and a demo instance whose
config satisfies the spec. ``relaydesk connectors validate relaydesk/connectors/*/spec.yaml``
exits 0.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from relaydesk.cli.connectors import app as connectors_cli
from relaydesk.connectors import CONNECTORS_DIR, connector_names, load_connector
from relaydesk.connectors.demo_instances import DEMO_INSTANCES
from relaydesk.integrations.spec import load_spec_file

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parents[1]
NOT_CONNECTORS = {"__pycache__"}


def folders() -> list[Path]:
    return sorted(p for p in CONNECTORS_DIR.iterdir() if p.is_dir() and p.name not in
                  NOT_CONNECTORS)  # fmt: skip


def test_every_folder_is_a_connector_and_the_six_demo_systems_are_there() -> None:
    names = [folder.name for folder in folders()]
    assert names == connector_names(), "a folder without spec.yaml"
    assert set(names) >= {"orders", "logistics", "crm", "membership", "tickets", "finance"}


@pytest.mark.parametrize("folder", folders(), ids=lambda p: p.name)
def test_the_spec_validates_and_is_named_after_its_folder(folder: Path) -> None:
    spec = load_spec_file(folder / "spec.yaml")
    assert spec.name == folder.name
    assert spec.title and spec.description
    assert spec.actions, "a connector without actions"


@pytest.mark.parametrize("folder", folders(), ids=lambda p: p.name)
def test_the_doc_names_every_action_and_callback(folder: Path) -> None:
    doc = (folder / "doc.md").read_text(encoding="utf-8")
    spec = load_connector(folder.name)
    for name in [*spec.actions, *spec.callbacks]:
        assert f"`{name}`" in doc, f"{folder.name}/doc.md does not mention `{name}`"
    for name in spec.config:
        assert f"`{name}`" in doc, f"{folder.name}/doc.md does not describe config `{name}`"
    assert "connectors preview" in doc and "Permissions" in doc


@pytest.mark.parametrize("folder", folders(), ids=lambda p: p.name)
def test_fixtures_cover_every_read_action_and_match_the_manifest(folder: Path) -> None:
    fixtures = folder / "fixtures"
    files = {p.name for p in fixtures.iterdir() if p.is_file()} - {"manifest.json"}
    assert files, f"{folder.name}/fixtures is empty"
    assert all((fixtures / f).stat().st_size > 0 for f in files)
    manifest = json.loads((fixtures / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["system"] == folder.name
    assert {entry["file"] for entry in manifest["fixtures"]} == files
    spec = load_connector(folder.name)
    for name, action in spec.actions.items():
        if action.effect == "read":
            assert {f"{name}.json", f"{name}.xml"} & files, f"no fixture for read action {name}"
    for entry in manifest["fixtures"]:
        assert entry.get("action") in spec.actions or entry.get("callback") in spec.callbacks \
            or entry.get("request", "").startswith("SOAP "), entry


@pytest.mark.parametrize("folder", folders(), ids=lambda p: p.name)
def test_each_connector_has_its_test_module(folder: Path) -> None:
    module = TESTS / f"test_{folder.name}.py"
    assert module.is_file(), f"missing {module.relative_to(REPO)}"
    assert "load_connector(" in module.read_text(encoding="utf-8")


def _preview_commands(doc: str) -> list[list[str]]:
    text = doc.replace("\\\n", " ")
    found = re.findall(r"^\s*relaydesk connectors preview .+$", text, flags=re.MULTILINE)
    return [shlex.split(line)[2:] for line in found]


@pytest.mark.parametrize("folder", folders(), ids=lambda p: p.name)
def test_the_sample_preview_command_of_the_doc_maps_without_errors(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)  # the docs' paths are relative to the repository
    commands = _preview_commands((folder / "doc.md").read_text(encoding="utf-8"))
    assert commands, f"{folder.name}/doc.md has no sample preview command"
    for args in commands:
        result = CliRunner().invoke(connectors_cli, args, catch_exceptions=False)
        assert result.exit_code == 0, (args, result.output)
        assert json.loads(result.stdout) not in (None, [], {})


def test_the_demo_instances_configure_every_connector_completely() -> None:
    assert [entry["name"] for entry in DEMO_INSTANCES] == [
        "orders", "logistics", "crm", "membership", "tickets", "finance", "callcenter"]
    assert {entry["name"] for entry in DEMO_INSTANCES} == set(connector_names())
    for entry in DEMO_INSTANCES:
        spec = load_spec_file(entry["spec_path"])
        assert spec.name == entry["name"]
        config = entry["config"]
        assert set(config) <= set(spec.config), f"{spec.name}: unknown config keys"
        missing = [n for n, f in spec.config.items() if f.required and not config.get(n)]
        assert missing == [], f"{spec.name}: missing {missing}"
        assert entry["allow_network"] == ["127.0.0.1/32"] and entry["sandbox"] is False
    urls = {e["name"]: e["config"].get("base_url") for e in DEMO_INSTANCES}
    assert urls["orders"] == "http://127.0.0.1:8101" and urls["tickets"] == "http://127.0.0.1:8105"


def test_the_validate_command_accepts_every_spec() -> None:
    specs = sorted(str(p.relative_to(REPO)) for p in CONNECTORS_DIR.glob("*/spec.yaml"))
    command = [sys.executable, "-c", "from relaydesk.cli import main; main()",
               "connectors", "validate", *specs]  # fmt: skip
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120,
                          check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count(": ok (") == len(specs)
