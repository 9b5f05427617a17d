"""``relaydesk events list|show|dead-letters|replay`` on the embedded default (SQLite)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from relaydesk.cli import events as events_cli
from relaydesk.config import get_settings
from relaydesk.events import consumers as registry
from relaydesk.events import emit
from relaydesk.events.consumers import Consumer, register_consumer
from relaydesk.events.dispatch import Dispatcher
from relaydesk.events.envelope import Envelope
from relaydesk.events.inprocess import InProcessBackend
from relaydesk.events.models import EventFailure
from relaydesk.events.relay import Relay
from relaydesk.kit.db import Database
from relaydesk.migrations.runner import upgrade
from relaydesk.tenancy.service import create_tenant

runner = CliRunner()
refused: set[str] = set()


async def _crm(session: AsyncSession, envelope: Envelope) -> None:
    if envelope.payload["order_no"] in refused:
        raise RuntimeError("CRM said no")


@pytest.fixture
def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """An organisation ``shop`` with two delivered events and one dead letter."""
    monkeypatch.setenv("RELAYDESK_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(registry, "_CONSUMERS", {})
    register_consumer(Consumer("test.crm", _crm, types=("order.*",), max_attempts=1))
    refused.clear()
    refused.add("SO-3")
    get_settings.cache_clear()

    async def setup() -> dict[str, str]:
        db = Database.from_url(get_settings().database_url)
        try:
            await upgrade(db.engine)
            async with db.job(system=True) as session:
                tenant = (await create_tenant(session, slug="shop", name="Shop")).id
            async with db.job(tenant) as session:
                for n in (1, 2, 3):
                    await emit(session, "order.shipped", {"order_no": f"SO-{n}"},
                               tenant_id=tenant)  # fmt: skip
            relay = Relay(db, InProcessBackend(Dispatcher(db)))
            while await relay.run_once():
                pass
            async with db.job(tenant) as session:
                dead = (await session.scalars(select(EventFailure))).one()
            return {"dead": str(dead.id), "event": str(dead.event_id)}
        finally:
            await db.dispose()

    yield asyncio.run(setup())
    get_settings.cache_clear()


def invoke(*args: str, columns: int = 160) -> tuple[int, str]:
    result = runner.invoke(events_cli.app, list(args), env={"COLUMNS": str(columns)})
    return result.exit_code, result.output


def test_list_show_and_dead_letters(shop: dict[str, str]) -> None:
    code, out = invoke("list", "-t", "shop")
    assert code == 0 and out.count("order.shipped") == 3
    code, out = invoke("list", "-t", "shop", "--key", "SO-2")
    assert code == 0 and out.count("order.shipped") == 1
    code, out = invoke("show", shop["event"], "-t", "shop")
    assert code == 0 and "test.crm" in out and "dead" in out and "CRM said no" in out
    code, out = invoke("dead-letters", "-t", "shop")
    assert code == 0 and shop["dead"] in out and "test.crm" in out and "CRM said no" in out
    code, out = invoke("dead-letters", "-t", "shop", columns=80)  # ids are never cut
    assert shop["dead"] in out and shop["event"] in out


def test_replay_one_dead_letter_and_a_window(shop: dict[str, str]) -> None:
    code, out = invoke("replay", "-t", "shop", "--dead-letter", shop["dead"])
    assert code == 0 and "replaying order.shipped" in out
    code, out = invoke("dead-letters", "-t", "shop")
    assert shop["dead"] not in out  # queued again, no longer dead
    code, out = invoke("replay", "-t", "shop", "--since", "2020-01-01T00:00:00")
    assert code == 0, out
    assert "2 already processed" in out and "replaying 1 deliveries of 3 events" in out


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("replay", "-t", "shop"), "either --dead-letter"),
        (("replay", "-t", "shop", "--since", "last tuesday"), "ISO 8601"),
        (("list", "-t", "shop", "--type", "Order Shipped"), "family like order.*"),
    ],
)
def test_bad_arguments_are_named(shop: dict[str, str], args: tuple[str, ...], says: str) -> None:
    code, out = invoke(*args)
    assert code == 2 and says in out


def test_errors_are_one_line(shop: dict[str, str]) -> None:
    result = runner.invoke(events_cli.app, ["replay", "-t", "nope", "--since", "2020-01-01"])
    assert result.exit_code == 1 and "no organisation" in str(result.exception)
    unknown = str(uuid.uuid4())
    result = runner.invoke(events_cli.app, ["replay", "-t", "shop", "--dead-letter", unknown])
    assert "not found" in str(result.exception)
