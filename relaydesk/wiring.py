"""What every Relaydesk process (an API node, a ``relaydesk worker``) sets up besides the app.

Both kinds of process must register the same consumers and job handlers and give background
work the same services (connector runtimes, the keyring, the rate limiter, the realtime hub),
so both call :func:`bind_process` before starting the event runtime.
"""

from __future__ import annotations

from typing import Any

from relaydesk.config import Settings
from relaydesk.integrations.registry import RuntimeRegistry
from relaydesk.kit.crypto import Keyring
from relaydesk.kit.db import Database
from relaydesk.realtime.hub import Hub, set_hub


def bind_process(
    db: Database,
    *,
    registry: RuntimeRegistry,
    keyring: Keyring,
    rate_limiter: Any,
) -> None:
    """Register consumers and job handlers; bind the services background work runs with."""
    from relaydesk.automation.consumers import register as register_rules
    from relaydesk.automation.runtime import AutomationRuntime
    from relaydesk.automation.runtime import bind_runtime as bind_automation
    from relaydesk.events.runtime import load_consumers
    from relaydesk.sagas.calls import bind_runtime as bind_sagas

    load_consumers()
    register_rules()
    bind_automation(db, AutomationRuntime(registry=registry, keyring=keyring,
                                          rate_limiter=rate_limiter))  # fmt: skip
    bind_sagas(db, registry, keyring)


async def start_hub(settings: Settings) -> Hub:
    """This process's realtime hub (Redis pub/sub fan-out when Redis is configured)."""
    hub = Hub(settings.redis.url)
    await hub.start()
    set_hub(hub)
    return hub


async def stop_hub(hub: Hub) -> None:
    await hub.stop()
    set_hub(None)
