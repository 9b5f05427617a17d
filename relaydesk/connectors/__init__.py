"""Prebuilt connectors: one folder per system, in the same shape everywhere.

``<system>/spec.yaml`` (the declarative spec), ``<system>/doc.md`` (what it does, config,
actions, callbacks, permissions), ``<system>/fixtures/`` (answers recorded from the real demo
systems by :mod:`relaydesk.connectors.record_fixtures`, listed in ``manifest.json``). Their
tests live in ``tests/connectors/``. :mod:`relaydesk.connectors.demo_instances` configures
them for the demo tenant.
"""

from __future__ import annotations

from pathlib import Path

from relaydesk.integrations.spec import ConnectorSpec, load_spec_file

__all__ = ["CONNECTORS_DIR", "connector_names", "load_connector", "spec_path"]

CONNECTORS_DIR = Path(__file__).resolve().parent


def connector_names() -> list[str]:
    """The prebuilt connectors (folders holding a spec.yaml), sorted."""
    return sorted(p.parent.name for p in CONNECTORS_DIR.glob("*/spec.yaml"))


def spec_path(name: str) -> Path:
    """The spec file of a prebuilt connector (``FileNotFoundError`` for an unknown name)."""
    path = CONNECTORS_DIR / name / "spec.yaml"
    if name not in connector_names():
        raise FileNotFoundError(f"no prebuilt connector {name!r} (have: {connector_names()})")
    return path


def load_connector(name: str) -> ConnectorSpec:
    """The validated spec of a prebuilt connector."""
    return load_spec_file(spec_path(name))
