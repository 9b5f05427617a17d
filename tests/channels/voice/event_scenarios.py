"""Event scenarios of the voice channel (contract: tests/events/test_every_event.py).

Each pushes signed call events to a voice inbox's callback endpoint, as the call centre does,
and checks the ``call.*`` outbox row it produced.
"""

from __future__ import annotations

import httpx
from conftest import Org
from fastapi import FastAPI
from sqlalchemy import select
from voice_support import call_event, make_voice_inbox, push_signed

from relaydesk.demo_systems.callcenter import CC_APP_KEY, CC_APP_SECRET
from relaydesk.events.models import OutboxEvent
from relaydesk.kit.db import Database

CALL_ID = "CA2026112110300000001"
SETTINGS = {"base_url": "https://cc.example.com", "app_key": CC_APP_KEY,
            "app_secret": CC_APP_SECRET}  # fmt: skip


async def _pushed(app: FastAPI, client: httpx.AsyncClient, org: Org, *types: str) -> None:
    inbox = await make_voice_inbox(client, org, SETTINGS)
    for event_type in types:
        r = await push_signed(app, client, inbox, call_event(event_type, CALL_ID))
        assert r.status_code == 200 and r.json()["duplicate"] is False, r.text


async def _row(db: Database, org: Org, event_type: str) -> OutboxEvent:
    async with db.job(org.id) as session:
        (row,) = (await session.scalars(
            select(OutboxEvent).where(OutboxEvent.type == event_type))).all()  # fmt: skip
        return row


async def call_ringing(app: FastAPI, client: httpx.AsyncClient, db: Database, org_a: Org) -> None:
    await _pushed(app, client, org_a, "RINGING")
    row = await _row(db, org_a, "call.ringing")
    assert row.key == CALL_ID and row.source["channel"] == "voice"
    assert row.payload["customer_number"] == "+8613937704964"
    assert (row.payload["direction"], row.payload["seat"], row.payload["status"]) == (
        "inbound",
        "8001",
        "ringing",
    )


async def call_answered(app: FastAPI, client: httpx.AsyncClient, db: Database,
                        org_a: Org) -> None:  # fmt: skip
    await _pushed(app, client, org_a, "RINGING", "ANSWERED")
    row = await _row(db, org_a, "call.answered")
    assert row.key == CALL_ID and row.payload["status"] == "answered"
    assert row.payload["answered_at"].startswith("2026-11-21T02:30:06")  # 10:30:06 +08:00


async def call_ended(app: FastAPI, client: httpx.AsyncClient, db: Database, org_a: Org) -> None:
    await _pushed(app, client, org_a, "RINGING", "ANSWERED", "HANGUP")
    row = await _row(db, org_a, "call.ended")
    payload = row.payload
    assert row.key == CALL_ID and payload["answered"] is True and payload["duration_s"] == 192
    assert payload["hangup_side"] == "customer" and payload["end_reason"] == "normal"
    assert payload["recording_url"] == f"https://cc.example.com/recordings/{CALL_ID}.wav"
    assert payload["transcript"] == "坐席：您好，云栖优选客服中心。\n客户：我的快递到哪了？"


SCENARIOS = {
    "call.ringing": call_ringing,
    "call.answered": call_answered,
    "call.ended": call_ended,
}
