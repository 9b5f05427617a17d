"""Code plugins from the entry-point group relaydesk.connectors (entry points faked here)."""

from __future__ import annotations

import importlib.metadata
import sys
import types
import uuid
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx
import pytest

from relaydesk.integrations.auth import NoAuth
from relaydesk.integrations.resilience import ErrorKind
from relaydesk.integrations.runtime import CallContext, ExecutorError, RawResult, executor_for
from relaydesk.integrations.runtime.plugins import ENTRY_POINT_GROUP, available_plugins
from relaydesk.integrations.spec import ConnectorSpec, load_spec

SPEC = """
apiVersion: relaydesk.io/v1
kind: plugin
name: legacy_erp
config: {host: {type: string, required: true}}
plugin: {entry_point: ENTRY}
actions:
  stock:
    effect: read
    params: {sku: {type: string, required: true}}
"""


class FakeErpExecutor:
    """What a plugin package would ship: an executor for a system no spec can describe."""

    made: ClassVar[list[tuple[ConnectorSpec, Mapping[str, Any]]]] = []

    def __init__(self, spec: ConnectorSpec, config: Mapping[str, Any]) -> None:
        self.host = config["host"]
        self.closed = False
        FakeErpExecutor.made.append((spec, config))

    async def execute(self, action: str, params: Mapping[str, Any], ctx: CallContext) -> RawResult:
        data = {"sku": params["sku"], "on_hand": 7, "host": self.host}
        return RawResult(None, {}, data, data, f"ERP {action}")

    async def aclose(self) -> None:
        self.closed = True


@pytest.fixture
def plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    """Installs fake entry points: one good plugin and three broken ones."""
    module = types.ModuleType("rd_fake_plugin")
    module.make_executor = FakeErpExecutor  # type: ignore[attr-defined]
    module.not_a_factory = 42  # type: ignore[attr-defined]
    module.returns_junk = lambda spec, config: object()  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "rd_fake_plugin", module)
    points = [
        importlib.metadata.EntryPoint(
            "fake_erp", "rd_fake_plugin:make_executor", ENTRY_POINT_GROUP
        ),
        importlib.metadata.EntryPoint("number", "rd_fake_plugin:not_a_factory", ENTRY_POINT_GROUP),
        importlib.metadata.EntryPoint("junk", "rd_fake_plugin:returns_junk", ENTRY_POINT_GROUP),
        importlib.metadata.EntryPoint("broken", "rd_no_such_module:make", ENTRY_POINT_GROUP),
        importlib.metadata.EntryPoint("other_group", "rd_fake_plugin:make_executor", "x.y"),
    ]
    real = importlib.metadata.entry_points

    def fake(**selection: Any) -> Any:
        if selection.get("group") == ENTRY_POINT_GROUP:
            return importlib.metadata.EntryPoints(p for p in points if p.group == ENTRY_POINT_GROUP)
        return real(**selection)

    monkeypatch.setattr(importlib.metadata, "entry_points", fake)


def spec(entry: str) -> ConnectorSpec:
    return load_spec(SPEC.replace("ENTRY", entry))


@pytest.mark.usefixtures("plugins")
async def test_plugin_factory_makes_the_executor() -> None:
    the_spec, config = spec("fake_erp"), {"host": "erp.intranet"}
    executor = executor_for(the_spec, config)
    assert isinstance(executor, FakeErpExecutor)
    assert FakeErpExecutor.made[-1] == (the_spec, config)
    ctx = CallContext(uuid.uuid4(), uuid.uuid4(), the_spec, config, httpx.AsyncClient(),
                      NoAuth(), 5)  # fmt: skip
    result = await executor.execute("stock", {"sku": "SKU-1"}, ctx)
    assert result.data == {"sku": "SKU-1", "on_hand": 7, "host": "erp.intranet"}
    await executor.aclose()
    assert executor.closed


@pytest.mark.usefixtures("plugins")
def test_unknown_entry_point_is_a_clear_config_error() -> None:
    with pytest.raises(ExecutorError) as caught:
        executor_for(spec("sap_rfc"), {"host": "x"})
    error = caught.value
    assert (error.kind, error.code) == (ErrorKind.config, "unknown_plugin")
    assert "'sap_rfc'" in error.message and ENTRY_POINT_GROUP in error.message
    assert "installed: broken, fake_erp, junk, number" in error.message
    assert available_plugins() == ["broken", "fake_erp", "junk", "number"]


@pytest.mark.usefixtures("plugins")
@pytest.mark.parametrize(
    ("entry", "code", "words"),
    [("broken", "plugin_load_failed", "ModuleNotFoundError"),
     ("number", "invalid_plugin", "not an executor factory"),
     ("junk", "invalid_plugin", "returned object")],
)  # fmt: skip
def test_broken_plugins_are_config_errors(entry: str, code: str, words: str) -> None:
    with pytest.raises(ExecutorError) as caught:
        executor_for(spec(entry), {"host": "x"})
    assert (caught.value.kind, caught.value.code) == (ErrorKind.config, code)
    assert words in caught.value.message


def test_no_plugins_installed_says_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        importlib.metadata, "entry_points", lambda **_: importlib.metadata.EntryPoints(())
    )
    with pytest.raises(ExecutorError, match=r"installed: none"):
        executor_for(spec("fake_erp"), {"host": "x"})
