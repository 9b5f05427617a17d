"""Executors: one attempt of one action against an external system (http, sql, soap, plugin).

The service (:mod:`relaydesk.integrations.service`) owns retries, classification, mapping,
masking and audit; an executor only turns (action, params, context) into a
:class:`RawResult` or raises (``httpx`` errors as they are, :class:`ExecutorError` otherwise).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from relaydesk.integrations.runtime.base import (
    MAX_RESPONSE_BYTES,
    CallContext,
    Executor,
    ExecutorError,
    RawResult,
    make_auth_handler,
    make_http_client,
    outbound_policy,
)
from relaydesk.integrations.spec import ConnectorSpec

__all__ = [
    "MAX_RESPONSE_BYTES",
    "CallContext",
    "Executor",
    "ExecutorError",
    "RawResult",
    "executor_for",
    "make_auth_handler",
    "make_http_client",
    "outbound_policy",
]


def executor_for(
    spec: ConnectorSpec,
    config: Mapping[str, Any],
    *,
    allow_network: Sequence[str] | None = None,
) -> Executor:
    """The executor of ``spec``'s kind, for one connector instance.

    ``allow_network`` is the instance's allow-list; the sql kind applies it to the database
    host (HTTP and SOAP get it through :func:`make_http_client`). ``None`` skips that check
    (previews and tests); the runtime registry should always pass the instance's list.
    Raises :class:`ExecutorError` (config) when the spec cannot be run as configured.
    """
    if spec.kind == "http":
        from relaydesk.integrations.runtime.http import HttpExecutor

        return HttpExecutor(spec, config)
    if spec.kind == "sql":
        from relaydesk.integrations.runtime.sql import SqlExecutor

        return SqlExecutor(spec, config, allow_network=allow_network)
    if spec.kind == "soap":
        from relaydesk.integrations.runtime.soap import SoapExecutor

        return SoapExecutor(spec, config)
    from relaydesk.integrations.runtime.plugins import plugin_executor

    return plugin_executor(spec, config)
