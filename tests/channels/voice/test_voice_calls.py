"""The voice channel against the demo call centre, both served on loopback.

A customer calls → the call rings at seat 8001 → the agent at that seat (a real WebSocket)
gets the screen pop with the customer's data masked for their role, and nobody else does;
answered → ended updates the call record with the talk time, the recording (served by the
call centre) and the Chinese transcript; repeated and late pushes change nothing; unsigned,
forged and stale pushes are refused.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import voice_support
from conftest import Org, login, settle
from fastapi import FastAPI
from voice_support import (
    API,
    ZHANG_WEI,
    CallCenter,
    Relaydesk,
    agent_socket,
    call_records,
    connect,
    conversation,
    frames,
    make_voice_inbox,
    outbox,
    push_signed,
    voice_settings,
)

from relaydesk.customer360.api import router as customer360_router
from relaydesk.demo_systems.callcenter import CC_APP_KEY, CC_APP_SECRET, signed_url
from relaydesk.kit.db import Database

FIXTURES = (
    Path(__file__).parent / "fixtures"
)  # python -m relaydesk.demo_systems.callcenter_fixtures
callcenter = voice_support.callcenter
relaydesk = voice_support.relaydesk


async def _customer(client: httpx.AsyncClient, org: Org) -> str:
    owner = await login(client, org, "owner")
    r = await client.post(f"{API}/customers", headers=owner, json={
        "name": "张伟", "phone": ZHANG_WEI, "email": "zhang.wei@example.com",
        "company": "云栖科技", "tags": ["VIP"]})  # fmt: skip
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _timeline(app: FastAPI, client: httpx.AsyncClient, org: Org, customer_id: str
                    ) -> list[Any]:  # fmt: skip
    """The customer's timeline as the agent sees it (calls only)."""
    if not any(getattr(r, "path", "").endswith("/timeline") for r in app.routes):
        app.include_router(customer360_router, prefix=API)  # the lead's wiring
    agent = await login(client, org, "agent")
    r = await client.get(f"{API}/customers/{customer_id}/timeline", headers=agent,
                         params={"kind": "call"})  # fmt: skip
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


async def test_a_call_pops_the_customer_at_the_agents_seat_and_ends_as_a_call_record(
    app: FastAPI, client: httpx.AsyncClient, db: Database, org_a: Org, callcenter: CallCenter,
    relaydesk: Relaydesk,
) -> None:  # fmt: skip
    customer_id = await _customer(client, org_a)
    inbox = await make_voice_inbox(client, org_a, voice_settings(callcenter))
    await connect(callcenter, relaydesk, inbox)
    agent = await agent_socket(relaydesk, await login(client, org_a, "agent"))
    supervisor = await agent_socket(relaydesk, await login(client, org_a, "supervisor"))

    rang = await callcenter.ring("+86 139-3770-4964", cno="8001")
    assert rang["push"]["ok"] is True, rang
    call_id = rang["data"]["callId"]
    await settle(db)  # the bus: realtime and screen-pop consumers, routing
    pops = [f for f in await frames(agent) if f["event_type"] == "screenpop.call"]
    assert len(pops) == 1
    pop = pops[0]["payload"]
    [record] = await call_records(db, org_a, inbox)
    assert pop["call_id"] == call_id and pop["conversation_id"] == str(record.conversation_id)
    assert pop["customer_id"] == customer_id and pop["seat"] == "8001"
    assert pop["customer"]["name"] == "张伟" and pop["customer"]["tags"] == ["VIP"]
    assert pop["customer"]["company"] == "云栖科技" and pop["customer"]["masked"] is True
    assert pop["customer"]["phone"] == "+86139****4964"  # an agent sees personal data masked
    assert pop["customer_number"] == "+86139****4964"
    assert pop["links"]["panels"] == f"{API}/customers/{customer_id}/panels"
    seen = await frames(supervisor)
    assert "screenpop.call" not in [f["event_type"] for f in seen]  # not their seat
    ringing = next(f for f in seen if f["event_type"] == "call.ringing")["payload"]
    assert ringing["call_id"] == call_id and ringing["customer_number"] != "+8613937704964"

    assert record.content["status"] == "ringing" and record.content["from"] == "+8613937704964"
    assert record.direction == "in" and record.external_id == call_id
    talk = await conversation(db, org_a, record.conversation_id)
    assert talk.thread_key == call_id and talk.channel == "voice"
    assert str(talk.customer_id) == customer_id  # the verified number joined 张伟
    assert talk.assignee_id == org_a.users["agent"]  # the agent at the seat has it

    answered = await callcenter.admin("POST", f"/admin/calls/{call_id}/answer")
    assert answered["push"]["ok"] is True
    ended = await callcenter.admin("POST", f"/admin/calls/{call_id}/hangup",
                                   json={"side": "CUSTOMER", "talkSeconds": 192})  # fmt: skip
    assert ended["push"]["ok"] is True
    [record] = await call_records(db, org_a, inbox)
    call = record.content
    assert (call["status"], call["duration_s"], call["hangup_side"]) == ("ended", 192, "customer")
    assert call["answered_at"] and call["ended_at"] > call["answered_at"]
    assert call["transcript"].startswith("坐席：您好，云栖优选客服中心，工号8001")
    assert "客户：你好，我上周买的空气炸锅" in call["transcript"]
    assert call["events"] == ["ringing", "answered", "ended"]
    assert "ended, talk time 3:12, hung up by the customer" in record.body
    async with httpx.AsyncClient() as http:
        audio = await http.get(call["recording_url"])
        assert audio.status_code == 200 and audio.headers["content-type"] == "audio/wav"
        assert audio.content[:4] == b"RIFF"
    timeline = await _timeline(app, client, org_a, customer_id)  # what the agent's 360 shows
    assert [(i["kind"], i["content"]["duration_s"]) for i in timeline] == [("call", 192)]
    assert timeline[0]["content"]["from"] != "+8613937704964"  # masked for the agent
    events = await outbox(db, org_a)
    assert [e.type for e in events] == ["call.ringing", "call.answered", "call.ended"]
    assert {e.key for e in events} == {call_id}
    assert events[2].payload["duration_s"] == 192 and events[2].payload["answered"] is True
    await settle(db)
    later = [f["event_type"] for f in await frames(agent)]
    assert later[-2:] == ["call.answered", "call.ended"]
    for ws in (agent, supervisor):
        await ws.close()


async def test_repeated_and_late_pushes_change_nothing(
    client: httpx.AsyncClient, db: Database, org_a: Org, callcenter: CallCenter,
    relaydesk: Relaydesk,
) -> None:  # fmt: skip
    # the inbox's seat list wins over the e-mail the call centre reports (8001: the agent)
    seats = [{"seat": "8001", "email": org_a.email("supervisor").upper()}]
    inbox = await make_voice_inbox(client, org_a, voice_settings(callcenter, seats=seats))
    url = await connect(callcenter, relaydesk, inbox)
    call_id = (await callcenter.ring(ZHANG_WEI))["data"]["callId"]
    again = await callcenter.admin("POST", f"/admin/calls/{call_id}/push/RINGING")
    assert again["push"]["ok"] is True and again["push"]["response"]["duplicate"] is True
    # ANSWERED is lost on the way; HANGUP arrives first, then ANSWERED is pushed again
    await callcenter.admin("PUT", "/admin/callbacks", json={"eventUrl": "http://127.0.0.1:9/x"})
    lost = await callcenter.admin("POST", f"/admin/calls/{call_id}/answer")
    assert lost["push"]["ok"] is False
    await callcenter.admin("PUT", "/admin/callbacks", json={"eventUrl": url})
    await callcenter.admin("POST", f"/admin/calls/{call_id}/hangup",
                           json={"side": "AGENT", "talkSeconds": 65})  # fmt: skip
    late = await callcenter.admin("POST", f"/admin/calls/{call_id}/push/ANSWERED")
    assert late["push"]["response"] == {**late["push"]["response"], "duplicate": False,
                                        "status": "ended"}  # fmt: skip
    [record] = await call_records(db, org_a, inbox)
    assert record.content["agent_id"] == str(org_a.users["supervisor"])
    assert record.content["status"] == "ended" and record.content["duration_s"] == 65
    assert record.content["events"] == ["ringing", "ended", "answered"]
    types = [e.type for e in await outbox(db, org_a)]
    assert types == ["call.ringing", "call.ended", "call.answered"]
    assert len(await outbox(db, org_a, "conversation.created")) == 1


async def test_a_missed_call_at_an_unmapped_seat_pops_nobody(
    client: httpx.AsyncClient, db: Database, org_a: Org, callcenter: CallCenter,
    relaydesk: Relaydesk,
) -> None:  # fmt: skip
    inbox = await make_voice_inbox(client, org_a, voice_settings(callcenter))
    await connect(callcenter, relaydesk, inbox)
    agent = await agent_socket(relaydesk, await login(client, org_a, "agent"))
    call_id = (await callcenter.ring("13800138000", cno="8009"))["data"]["callId"]
    await callcenter.admin("POST", f"/admin/calls/{call_id}/hangup", json={"side": "SYSTEM"})
    await settle(db)
    assert "screenpop.call" not in [f["event_type"] for f in await frames(agent)]
    [record] = await call_records(db, org_a, inbox)
    assert record.content["agent_id"] is None and record.content["status"] == "ended"
    assert record.content["answered_at"] is None and record.content["recording_url"] is None
    assert record.body == "Inbound call from +8613800138000 to seat 8009: missed"
    [ended] = await outbox(db, org_a, "call.ended")
    assert ended.payload["answered"] is False and ended.payload["end_reason"] == "no_answer"
    await agent.close()


async def test_the_recorded_pushes_of_the_demo_call_centre_make_two_call_records(
    app: FastAPI, client: httpx.AsyncClient, db: Database, org_a: Org,
) -> None:  # fmt: skip
    settings = {"base_url": "https://cc.example.com", "app_key": CC_APP_KEY,
                "app_secret": CC_APP_SECRET}  # fmt: skip
    inbox = await make_voice_inbox(client, org_a, settings)
    for name in ("ringing", "answered", "hangup", "missed_ringing", "missed_hangup"):
        body = (FIXTURES / f"{name}.body.json").read_bytes()  # as pushed, byte for byte
        r = await push_signed(app, client, inbox, body)
        assert r.status_code == 200 and r.json()["duplicate"] is False, (name, r.text)
    answered, missed = await call_records(db, org_a, inbox)
    assert answered.content["duration_s"] == 192 and answered.content["hangup_side"] == "customer"
    assert answered.content["started_at"] <= answered.content["answered_at"]
    assert len(answered.content["transcript_lines"]) == 7
    assert missed.content["customer_number"] == "+8613900139000"
    assert missed.body == "Inbound call from +8613900139000 to seat 8002: missed"


def _post(url: str, body: bytes, *, secret: str = CC_APP_SECRET, age: int = 0) -> str:
    return signed_url(CC_APP_KEY, secret, "POST", url, body, timestamp=int(time.time()) - age)


async def test_unsigned_forged_and_stale_pushes_are_refused(
    client: httpx.AsyncClient, db: Database, org_a: Org, callcenter: CallCenter,
    relaydesk: Relaydesk,
) -> None:  # fmt: skip
    inbox = await make_voice_inbox(client, org_a, voice_settings(callcenter))
    url = f"{relaydesk.url}{API}/channels/voice/{inbox}/events"
    event = {"eventType": "RINGING", "callId": "CA-FORGED-1", "direction": "IB",
             "customerNumber": "13500135000", "cno": "8001"}  # fmt: skip
    body = json.dumps(event).encode()
    async with httpx.AsyncClient() as http:
        r = await http.post(url, content=body)
        assert r.status_code == 401 and r.json()["error"]["message"] == "The callback has no sign"
        r = await http.post(_post(url, body, secret="not-the-secret"), content=body)
        assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_signature"
        r = await http.post(_post(url, body, age=900), content=body)
        assert r.status_code == 401 and r.json()["error"]["code"] == "timestamp_out_of_tolerance"
        tampered = body.replace(b"13500135000", b"13500135001")
        r = await http.post(_post(url, body), content=tampered)
        assert r.status_code == 401
        other = f"{relaydesk.url}{API}/channels/voice/{uuid.uuid4()}/events"
        r = await http.post(_post(other, body), content=body)
        assert r.status_code == 404
        bad = json.dumps({**event, "customerNumber": "12345"}).encode()
        r = await http.post(_post(url, bad), content=bad)
        assert r.status_code == 422 and r.json()["error"]["details"][0]["loc"] == [
            "body",
            "customerNumber",
        ]
        r = await http.post(_post(url, body), content=body)  # the genuine one
        assert r.status_code == 200 and r.json()["code"] == 0
    assert [m.external_id for m in await call_records(db, org_a, inbox)] == ["CA-FORGED-1"]


async def test_voice_inbox_settings_keep_the_secret_encrypted(
    client: httpx.AsyncClient, org_a: Org, callcenter: CallCenter,
) -> None:  # fmt: skip
    owner = await login(client, org_a, "owner")
    body = {"name": "热线", "channel": "voice",
            "settings": {**voice_settings(callcenter), "app_secret": None}}  # fmt: skip
    r = await client.post(f"{API}/inboxes", headers=owner, json=body)
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["loc"] == ["body", "settings", "app_secret"]
    body["settings"] = {**voice_settings(callcenter), "base_url": "ftp://cc.example"}
    r = await client.post(f"{API}/inboxes", headers=owner, json=body)
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["loc"] == ["body", "settings", "base_url"]
    body["settings"] = voice_settings(callcenter)
    r = await client.post(f"{API}/inboxes", headers=owner, json=body)
    assert r.status_code == 201, r.text
    assert "app_secret" not in r.json()["settings"] and CC_APP_SECRET not in r.text


async def test_seats_take_sign_in_emails_of_intranet_domains_and_name_a_bad_one(
    client: httpx.AsyncClient, org_a: Org, callcenter: CallCenter,
) -> None:  # fmt: skip
    owner = await login(client, org_a, "owner")
    seats = [{"seat": "8001", "email": " Agent@Demo.Relaydesk.LOCAL "},
             {"seat": "8002", "email": "supervisor at demo"}]  # fmt: skip
    body = {"name": "热线", "channel": "voice",
            "settings": {**voice_settings(callcenter), "seats": seats}}  # fmt: skip
    r = await client.post(f"{API}/inboxes", headers=owner, json=body)
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["loc"] == ["body", "settings", "seats", 1, "email"]
    body["settings"]["seats"] = seats[:1]
    r = await client.post(f"{API}/inboxes", headers=owner, json=body)
    assert r.status_code == 201, r.text
    stored = r.json()["settings"]["seats"]
    assert stored == [{"seat": "8001", "email": "agent@demo.relaydesk.local"}]
