"""Helpers of the prebuilt connectors' tests: specs, recorded fixtures, real demo systems.

Fixture mapping goes through the same two calls the runtime makes (``apply_response`` then
``validate_shape``); live calls go through the real executors with the instance's SSRF-safe
client, reachable only because the allow-list opens 127.0.0.1.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relaydesk.connectors import CONNECTORS_DIR, load_connector
from relaydesk.connectors.demo_instances import ALLOW_NETWORK
from relaydesk.demo_systems.runner import start_server
from relaydesk.integrations.canonical import validate_shape
from relaydesk.integrations.mapping import MappingError, apply_response, decode_body
from relaydesk.integrations.resilience import Verdict, classify
from relaydesk.integrations.runtime import (
    CallContext,
    Executor,
    RawResult,
    executor_for,
    make_auth_handler,
    make_http_client,
)
from relaydesk.integrations.spec import ConnectorSpec, validate_params
from relaydesk.integrations.templating import render


def fixture_path(system: str, file: str) -> Path:
    return CONNECTORS_DIR / system / "fixtures" / file


def manifest(system: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(fixture_path(system, "manifest.json").read_text("utf-8"))
    return data


def recorded(system: str, file: str) -> dict[str, Any]:
    """The manifest entry of one fixture (action, params, status...)."""
    return next(entry for entry in manifest(system)["fixtures"] if entry["file"] == file)


def fixture_data(system: str, file: str) -> Any:
    """A fixture decoded as the runtime decodes bodies (XML as a dict)."""
    body = fixture_path(system, file).read_bytes()
    return decode_body(body, "xml" if file.endswith(".xml") else "json")


def mapped(spec: ConnectorSpec, action: str, data: Any) -> tuple[Any, list[MappingError]]:
    """An action's select + mapping, then its canonical shape check: (value, every error)."""
    act = spec.action(action)
    result = apply_response(act, data)
    errors = list(result.errors)
    if act.output is not None and result.value is not None:
        errors += validate_shape(act.output, result.value, many=act.many)
    return result.value, errors


def map_fixture(system: str, action: str, file: str | None = None) -> Any:
    """The mapped value of a fixture; fails the test on any mapping or shape error."""
    value, errors = mapped(load_connector(system), action, fixture_data(system, file or
                                                                         f"{action}.json"))
    assert errors == [], errors
    return value


def verdict_of(spec: ConnectorSpec, status: int | None, body: Any, **kw: Any) -> Verdict:
    """How the runtime classifies an answer with this spec's error rules."""
    return classify(status if status is not None else 200, body, spec.errors, **kw)


def verdict_of_fixture(system: str, file: str) -> Verdict:
    entry = recorded(system, file)
    return verdict_of(load_connector(system), entry["status"], fixture_data(system, file))


@asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    """Serve a demo system with uvicorn on a free loopback port; yield its base URL."""
    server = await start_server(app, "127.0.0.1", 0, "connector-test")
    try:
        yield server.url
    finally:
        await server.stop()


@dataclass
class Instance:
    """One connector instance as the runtime holds it: executor, client, auth, context."""

    spec: ConnectorSpec
    config: dict[str, Any]
    executor: Executor
    ctx: CallContext

    async def call(self, action: str, raw: Mapping[str, Any]) -> RawResult:
        """One attempt, with parameters validated as the service validates them."""
        # sql binds keep dates as objects; the other kinds render JSON-ready values
        if self.spec.kind == "sql":
            params = validate_params(self.spec, action, raw, mode="python")
        else:
            params = validate_params(self.spec, action, raw, mode="json")
        return await self.executor.execute(action, params, self.ctx)

    def classify(self, raw: RawResult) -> Verdict:
        return verdict_of(self.spec, raw.status, raw.body_json, headers=raw.headers)

    def map(self, action: str, raw: RawResult) -> Any:
        """The mapped, shape-checked value of a successful answer."""
        verdict = self.classify(raw)
        assert verdict.ok, (verdict, raw.data)
        value, errors = mapped(self.spec, action, raw.data)
        assert errors == [], errors
        return value

    async def run(self, action: str, raw: Mapping[str, Any]) -> Any:
        return self.map(action, await self.call(action, raw))

    def compensation(self, action: str, raw: Mapping[str, Any], result: Any) -> tuple[str, Any]:
        """(action, params) of the compensation of ``action``, rendered as the runtime would."""
        compensate = self.spec.action(action).compensate
        assert compensate is not None
        context = {"params": dict(raw), "config": self.config, "result": result}
        return compensate.action, render(compensate.params, context)


@asynccontextmanager
async def instance(system: str, config: Mapping[str, Any]) -> AsyncIterator[Instance]:
    """A live instance of a prebuilt connector (allow-list: loopback only)."""
    spec = load_connector(system)
    http = make_http_client(spec, config, ALLOW_NETWORK)
    executor = executor_for(spec, config, allow_network=ALLOW_NETWORK)
    try:
        auth = make_auth_handler(spec, config, http)
        ctx = CallContext(uuid.uuid4(), uuid.uuid4(), spec, config, http, auth, 10.0)
        yield Instance(spec, dict(config), executor, ctx)
    finally:
        await executor.aclose()
        await http.aclose()
