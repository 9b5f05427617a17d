"""Code plugins: executors for what a spec cannot say, from the entry-point group
``relaydesk.connectors``.

A package declares, e.g. in its ``pyproject.toml``::

    [project.entry-points."relaydesk.connectors"]
    my_erp = "my_package.connector:make_executor"

and a spec of ``kind: plugin`` names it with ``plugin: {entry_point: my_erp}``. The object the
entry point loads is an executor factory ``(spec, config) -> Executor``: any callable (a class
will do) whose result has ``async execute(action, params, ctx) -> RawResult`` and
``async aclose()``.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable, Mapping
from typing import Any

from relaydesk.integrations.resilience import ErrorKind
from relaydesk.integrations.runtime.base import Executor, ExecutorError
from relaydesk.integrations.spec import ConnectorSpec

__all__ = ["ENTRY_POINT_GROUP", "available_plugins", "load_plugin", "plugin_executor"]

ENTRY_POINT_GROUP = "relaydesk.connectors"

ExecutorFactory = Callable[[ConnectorSpec, Mapping[str, Any]], Executor]


def _entry_points() -> list[importlib.metadata.EntryPoint]:
    return list(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))


def available_plugins() -> list[str]:
    """The names of the installed connector plugins, sorted."""
    return sorted({entry.name for entry in _entry_points()})


def load_plugin(name: str) -> ExecutorFactory:
    """The executor factory the entry point ``name`` names; :class:`ExecutorError` (config)
    when no such plugin is installed, it cannot be imported, or it is not callable."""
    found = [entry for entry in _entry_points() if entry.name == name]
    if not found:
        installed = ", ".join(available_plugins()) or "none"
        raise ExecutorError(
            ErrorKind.config,
            f"no connector plugin {name!r} is installed (entry point group "
            f"{ENTRY_POINT_GROUP}; installed: {installed})",
            "unknown_plugin",
        )
    entry = found[0]
    try:
        factory = entry.load()
    except Exception as exc:  # an import error inside the plugin is the plugin's problem
        raise ExecutorError(
            ErrorKind.config,
            f"connector plugin {name!r} ({entry.value}) failed to load: "
            f"{type(exc).__name__}: {exc}",
            "plugin_load_failed",
        ) from exc
    if not callable(factory):
        raise ExecutorError(
            ErrorKind.config,
            f"connector plugin {name!r} ({entry.value}) is not an executor factory "
            "(a callable taking spec and config)",
            "invalid_plugin",
        )
    result: ExecutorFactory = factory
    return result


def plugin_executor(spec: ConnectorSpec, config: Mapping[str, Any]) -> Executor:
    """The executor of a ``kind: plugin`` spec, made by its plugin's factory."""
    if spec.plugin is None:
        raise ExecutorError(ErrorKind.config, "the spec has no plugin section", "invalid_spec")
    name = spec.plugin.entry_point
    executor = load_plugin(name)(spec, config)
    if not isinstance(executor, Executor):
        raise ExecutorError(
            ErrorKind.config,
            f"connector plugin {name!r} returned {type(executor).__name__}, which has no "
            "async execute(action, params, ctx) and aclose()",
            "invalid_plugin",
        )
    return executor
