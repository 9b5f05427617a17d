"""Click-to-call from a conversation, and the follow-up ticket a rule opens after a call.

Click-to-call runs the callcenter connector's ``dial`` action through the integration hub as
the agent (permission checked, call audited): the demo call centre accepts it only with a
valid signature, rings the agent's seat, and the call's pushes land in the conversation it
was dialled from. A rule on ``call.ended`` runs the tickets connector against the real ticket
system when a call was missed.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import voice_support
from conftest import Org, login, settle
from sqlalchemy import select
from voice_support import (
    API,
    ZHANG_WEI,
    CallCenter,
    Relaydesk,
    call_records,
    connect,
    make_voice_inbox,
    outbox,
    voice_settings,
)

from relaydesk.audit.models import AuditEntry
from relaydesk.channels.voice.demo import FOLLOW_UP_RULE
from relaydesk.connectors import spec_path
from relaydesk.demo_systems import credentials
from relaydesk.demo_systems.callcenter import CC_APP_KEY, CC_APP_SECRET
from relaydesk.demo_systems.runner import start_server
from relaydesk.demo_systems.tickets import TicketsConfig, create_tickets_app
from relaydesk.kit.db import Database

callcenter = voice_support.callcenter
relaydesk = voice_support.relaydesk
SPECS = {name: Path(spec_path(name)).read_text(encoding="utf-8")
         for name in ("callcenter", "tickets")}  # fmt: skip


async def _instance(client: httpx.AsyncClient, owner: dict[str, str], name: str,
                    config: dict[str, Any]) -> None:  # fmt: skip
    spec = SPECS[name]
    r = await client.post(f"{API}/connector-instances", headers=owner, json={
        "name": name, "spec": spec,
        "config": config, "allow_network": ["127.0.0.1/32"]})  # fmt: skip
    assert r.status_code == 201, r.text


async def _email_conversation(client: httpx.AsyncClient, owner: dict[str, str]) -> str:
    """A conversation the agent has open in another channel, with 张伟."""
    inbox = (await client.post(f"{API}/inboxes", headers=owner,
                               json={"name": "售后邮箱", "channel": "email"})).json()  # fmt: skip
    customer = (await client.post(f"{API}/customers", headers=owner,
                                  json={"name": "张伟", "phone": ZHANG_WEI})).json()  # fmt: skip
    r = await client.post(f"{API}/conversations", headers=owner, json={
        "inbox_id": inbox["id"], "customer_id": customer["id"], "subject": "快递"})  # fmt: skip
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def test_click_to_call_rings_the_agents_seat_then_records_the_call_in_the_conversation(
    client: httpx.AsyncClient, db: Database, org_a: Org, callcenter: CallCenter,
    relaydesk: Relaydesk,
) -> None:  # fmt: skip
    owner = await login(client, org_a, "owner")
    config = {"base_url": callcenter.url, "app_key": CC_APP_KEY, "app_secret": CC_APP_SECRET}
    await _instance(client, owner, "callcenter", config)
    inbox = await make_voice_inbox(client, org_a, voice_settings(callcenter))
    await connect(callcenter, relaydesk, inbox)
    conversation_id = await _email_conversation(client, owner)
    agent = await login(client, org_a, "agent")
    url = f"{API}/conversations/{conversation_id}/call"

    r = await client.post(url, headers=agent, json={})
    assert r.status_code == 403, r.text  # agents need the connector action's permission
    assert "connector_action:callcenter" in r.json()["error"]["message"]
    assert await callcenter.calls() == []
    caller = ["connector_action:callcenter.dial", "connector_action:callcenter.list_agents"]
    r = await client.post(f"{API}/roles", headers=owner,
                          json={"name": "caller", "permissions": caller})  # fmt: skip
    assert r.status_code == 201, r.text
    r = await client.patch(f"{API}/users/{org_a.users['agent']}", headers=owner,
                           json={"roles": ["agent", "caller"]})  # fmt: skip
    assert r.status_code == 200, r.text
    r = await client.post(url, headers=agent, json={"number": "139 3770 4964"})
    assert r.status_code == 200, r.text
    placed = r.json()
    assert placed["ok"] is True and placed["seat"] == "8001"  # found in the directory by e-mail
    assert placed["customer_number"] == "+86139****4964" and placed["inbox_id"] == str(inbox)
    [call] = await callcenter.calls()  # accepted: the call centre checked the signature
    assert (call["callId"], call["direction"], call["cno"]) == (placed["call_id"], "OB", "8001")
    assert call["customerNumber"] == ZHANG_WEI and call["userField"] == conversation_id
    async with db.job(org_a.id) as session:
        audited = list(await session.scalars(select(AuditEntry).where(
            AuditEntry.action == "connector.action_called").order_by(AuditEntry.id)))  # fmt: skip
    dialled = [a for a in audited if a.details["action"] == "dial"]
    assert len(dialled) == 1 and dialled[0].actor_id == str(org_a.users["agent"])
    assert dialled[0].details["params"]["customer_number"] != ZHANG_WEI  # masked in the audit

    pushed = await callcenter.admin("POST", f"/admin/calls/{placed['call_id']}/push/RINGING")
    assert pushed["push"]["ok"] is True, pushed
    [record] = await call_records(db, org_a, inbox)
    assert str(record.conversation_id) == conversation_id  # the conversation it was dialled from
    assert (record.direction, record.author_type) == ("out", "agent")
    assert record.content["direction"] == "outbound" and record.content["to"] == "+8613937704964"
    [ringing] = await outbox(db, org_a, "call.ringing")
    assert ringing.payload["direction"] == "outbound"
    assert ringing.payload["agent_id"] == str(org_a.users["agent"])

    await callcenter.admin("POST", f"/admin/calls/{placed['call_id']}/hangup",
                           json={"side": "SYSTEM"})  # fmt: skip
    await callcenter.admin("PUT", "/admin/agents/8001", json={"status": "offline"})
    r = await client.post(url, headers=agent, json={})
    assert r.status_code == 200 and r.json()["ok"] is False
    assert r.json()["error"]["code"] == "seat_offline"
    r = await client.post(url, headers=agent, json={"number": "13800138000"})
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["loc"] == ["body", "number"]
    r = await client.post(f"{API}/conversations/{uuid.uuid4()}/call", headers=agent, json={})
    assert r.status_code == 404


async def test_the_demo_rule_opens_a_follow_up_ticket_for_a_missed_call(
    client: httpx.AsyncClient, db: Database, org_a: Org, callcenter: CallCenter,
    relaydesk: Relaydesk,
) -> None:  # fmt: skip
    tickets = await start_server(create_tickets_app(TicketsConfig()), name="tickets")
    try:
        owner = await login(client, org_a, "owner")
        await _instance(client, owner, "tickets", {
            "base_url": tickets.url, "api_token": credentials.TICKETS_API_TOKEN,
            "callback_secret": credentials.TICKETS_CALLBACK_SECRET})  # fmt: skip
        r = await client.post(f"{API}/rules", headers=owner, json=FOLLOW_UP_RULE)
        assert r.status_code == 201, r.text
        inbox = await make_voice_inbox(client, org_a, voice_settings(callcenter))
        await connect(callcenter, relaydesk, inbox)
        answered = (await callcenter.ring("13800138000", cno="8002"))["data"]["callId"]
        await callcenter.admin("POST", f"/admin/calls/{answered}/answer")
        await callcenter.admin("POST", f"/admin/calls/{answered}/hangup", json={})
        missed = (await callcenter.ring("139 3770 4964", cno="8001"))["data"]["callId"]
        await callcenter.admin("POST", f"/admin/calls/{missed}/hangup", json={"side": "SYSTEM"})
        await settle(db)  # the rules consumer, then the rule's connector.run job
        async with httpx.AsyncClient(base_url=tickets.url, headers={
                "X-Api-Token": credentials.TICKETS_API_TOKEN}) as http:  # fmt: skip
            opened = (await http.get("/tickets", params={"mobile": ZHANG_WEI})).json()["data"]
            other = (await http.get("/tickets", params={"mobile": "13800138000"})).json()["data"]
        mine = [t for t in opened if missed in t["title"]]
        assert len(mine) == 1 and other == []  # the answered call needed no follow-up
        assert mine[0]["priority"] == 3 and "座席 8001" in mine[0]["content"]
    finally:
        await tickets.stop()
