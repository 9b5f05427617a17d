"""Meta-test: every catalogued event has a payload model, a section in docs/events.md and a
scenario that makes the real code emit it.

The scenario contract
---------------------
* Any module named ``event_scenarios.py`` anywhere under ``tests/`` may define
  ``SCENARIOS: dict[str, async function]``, mapping a catalogued event name to a scenario;
  each domain keeps its own (``tests/customers/event_scenarios.py``, ...). One scenario per
  event name across all modules.
* A scenario drives the **real code path** that emits the event — an API request, a domain
  service, a connector callback through the inbox, a rule — never ``emit()`` itself, and then
  asserts the outbox row (:class:`relaydesk.events.models.OutboxEvent`) that it produced: its
  type, ordering key, payload and source.
* Its parameters are pytest fixtures, resolved by name among those visible from
  ``tests/events/`` (``tests/conftest.py``: ``db``, ``app``, ``client``, ``settings``,
  ``org_a``, ``org_b``, and pytest's own such as ``tmp_path``, ``monkeypatch``). It runs once
  per database backend (SQLite, PostgreSQL) in the usual rolled-back transaction.
* After it returns, this test also checks that an outbox row of that type exists.
* The module is loaded by path, with its own directory on ``sys.path`` while it loads (so it
  may import its sibling helpers and ``conftest``); it must not import test modules.

The catalogue checked is the one a fresh interpreter sees (``relaydesk.events.catalogue.
catalogue()``, with every module of ``EVENT_MODULES``), so events that other tests register
for themselves do not count.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from sqlalchemy import func, select

from relaydesk.events.catalogue import CustomPayload, event_spec, validate_payload
from relaydesk.events.docs import DOC_PATH, REGENERATE, example_payload
from relaydesk.events.models import OutboxEvent
from relaydesk.kit.db import Database

TESTS = Path(__file__).resolve().parents[1]
Scenario = Callable[..., Awaitable[None]]


def _catalogued() -> list[str]:
    code = (
        "import json; from relaydesk.events.catalogue import catalogue; "
        "print(json.dumps(sorted(catalogue())))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        cwd=TESTS.parent,
    )
    names: list[str] = json.loads(done.stdout)
    return names


def _load_scenarios() -> tuple[dict[str, tuple[Scenario, str]], list[str]]:
    """({event: (scenario, module path)}, problems) from every tests/**/event_scenarios.py."""
    found: dict[str, tuple[Scenario, str]] = {}
    problems: list[str] = []
    for path in sorted(TESTS.rglob("event_scenarios.py")):
        where = str(path.relative_to(TESTS.parent))
        name = "event_scenarios__" + "_".join(path.parent.relative_to(TESTS).parts)
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.path.insert(0, str(path.parent))
        try:
            sys.modules[name] = module
            spec.loader.exec_module(module)
        except Exception as exc:  # reported by a test, not a collection crash
            problems.append(f"{where}: cannot be imported: {type(exc).__name__}: {exc}")
            continue
        finally:
            sys.path.remove(str(path.parent))
        scenarios = getattr(module, "SCENARIOS", None)
        if not isinstance(scenarios, dict):
            problems.append(f"{where}: has no SCENARIOS dict")
            continue
        for event, fn in scenarios.items():
            if event in found:
                problems.append(f"{where}: {event} already has a scenario in {found[event][1]}")
            elif not inspect.iscoroutinefunction(fn):
                problems.append(f"{where}: the scenario of {event} is not an async function")
            else:
                found[event] = (fn, where)
    return found, problems


CATALOGUED = _catalogued()
SCENARIOS, LOAD_PROBLEMS = _load_scenarios()


def test_scenario_modules_load_and_name_catalogued_events() -> None:
    unknown = [
        f"{where}: {event} is not in the catalogue"
        for event, (_, where) in sorted(SCENARIOS.items())
        if event not in CATALOGUED
    ]
    assert not LOAD_PROBLEMS + unknown, "\n".join(LOAD_PROBLEMS + unknown)


@pytest.mark.parametrize("name", CATALOGUED)
def test_the_event_has_a_typed_payload_model_and_a_valid_example(name: str) -> None:
    spec = event_spec(name)
    assert issubclass(spec.payload, BaseModel) and spec.payload is not CustomPayload
    schema = spec.payload.model_json_schema(mode="serialization")
    assert schema.get("type") == "object" and schema.get("properties"), schema
    assert spec.description and spec.version >= 1
    if spec.key is not None:
        assert spec.key in schema["properties"], f"ordering key {spec.key} is not a field"
    for path in spec.pii:
        assert path.split(".")[0].removesuffix("[]") in schema["properties"], path
    validate_payload(name, example_payload(spec))  # what docs/events.md shows is valid


def test_every_event_has_a_section_in_docs_events_md() -> None:
    text = DOC_PATH.read_text(encoding="utf-8") if DOC_PATH.exists() else ""
    missing = [name for name in CATALOGUED if f"### `{name}`" not in text]
    assert not missing, (
        f"docs/events.md has no section for {', '.join(missing)}: run `{REGENERATE}` "
        "(make events-docs)"
    )


def test_every_event_has_a_scenario() -> None:
    missing = [name for name in CATALOGUED if name not in SCENARIOS]
    assert not missing, (
        f"{len(missing)} catalogued event(s) without a scenario: {', '.join(missing)}.\n"
        "Add each to SCENARIOS in the owning domain's tests/<domain>/event_scenarios.py: an "
        "async function whose parameters are fixtures (db, app, client, org_a, ...), that "
        "drives the real code path emitting the event and asserts its outbox row (contract: "
        "the docstring of tests/events/test_every_event.py)."
    )


@pytest.fixture
def scenario_args(name: str, db: Database, request: pytest.FixtureRequest) -> dict[str, Any]:
    """The scenario's fixtures, by parameter name (resolved during setup, outside the test's
    event loop, as pytest-asyncio needs for async fixtures)."""
    scenario, _ = SCENARIOS[name]
    return {
        parameter: db if parameter == "db" else request.getfixturevalue(parameter)
        for parameter in inspect.signature(scenario).parameters
    }


@pytest.mark.parametrize("name", sorted(SCENARIOS))
async def test_the_scenario_emits_its_event(
    name: str, db: Database, scenario_args: dict[str, Any]
) -> None:
    scenario, _ = SCENARIOS[name]
    await scenario(**scenario_args)
    async with db.job(system=True) as session:
        count = await session.scalar(
            select(func.count()).select_from(OutboxEvent).where(OutboxEvent.type == name)
        )
    assert count, f"the scenario of {name} left no {name} event in the outbox"
