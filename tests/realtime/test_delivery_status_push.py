"""``message.status_changed`` over the agents' WebSocket: a reply's delivery state (sent,
failed with the channel's reason, still queued with the last error while retried) reaches the
agents who may read conversations, with personal data in the reason masked by role.

The channel is the API channel with its adapter replaced by a scripted one (what the app's
backend would answer); everything else is real: the reply API, the ``message.deliver`` job,
the outbox, the realtime consumer, the hub and the socket.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import pytest
from conftest import Org, login, settle
from conversations.conversations_support import customer_says, make_customer, make_inbox
from fastapi import FastAPI
from realtime_support import connect, connect_ready, frames_until_ready, serve

from relaydesk.conversations import delivery
from relaydesk.conversations.delivery import Delivered, Outgoing, TransientFailure
from relaydesk.kit.db import Database

API = "/api/v1"
PHONE = "13912345678"


class ScriptedChannel:
    """The app backend's answers, by the reply's text."""

    kind = "api"

    async def deliver(self, db: Database, outgoing: Outgoing) -> Delivered:
        if outgoing.text.startswith("ok"):
            return Delivered("app-msg-1", "sent")
        if outgoing.text.startswith("refused"):
            raise RuntimeError(f"the app refused it: user +86{PHONE} has blocked the account")
        raise TransientFailure(f"the app's webhook timed out (user {PHONE})", retry_after=60)


def _token(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


async def _status_frames(ws: Any, count: int, wait: float = 5) -> dict[str, dict[str, Any]]:
    """The payloads of the next ``count`` message.status_changed frames, by message id."""
    found: dict[str, dict[str, Any]] = {}
    while len(found) < count:
        frame = json.loads(await asyncio.wait_for(ws.recv(), wait))
        if frame.get("event_type") == "message.status_changed":
            assert frame["id"], "a status change is a stored event (resumable), not ephemeral"
            found[frame["payload"]["message_id"]] = frame["payload"]
    return found


async def _silent_about(ws: Any, prefix: str, wait: float = 0.4) -> list[str]:
    """Every event type received until ``wait`` passes in silence, checking none has ``prefix``."""
    seen = []
    try:
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), wait))
            seen.append(str(frame.get("event_type") or frame.get("type")))
    except TimeoutError:
        pass
    assert not [s for s in seen if s.startswith(prefix)], seen
    return seen


async def test_reply_delivery_states_reach_agents_with_the_reason_masked_by_role(
    app: FastAPI, client: httpx.AsyncClient, db: Database, org_a: Org, org_b: Org,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setitem(delivery._ADAPTERS, "api", ScriptedChannel())
    agent_headers = await login(client, org_a, "agent")
    owner = _token(await login(client, org_a, "owner"))
    outsider = _token(await login(client, org_b, "owner"))
    r = await client.post(f"{API}/api-keys", headers=await login(client, org_a, "owner"),
                          json={"name": "crm sync", "permissions": ["customers.read"]})  # fmt: skip
    assert r.status_code == 201, r.text
    crm_key = r.json()["key"]
    inbox = await make_inbox(db, org_a, "云栖 App", channel="api")
    conversation, _, _ = await customer_says(
        db, org_a, inbox, await make_customer(db, org_a), "我的订单能改地址吗？"
    )
    await settle(db)  # the conversation's own events are out of the way
    async with serve(app) as url:
        agent_ws = await connect_ready(url, _token(agent_headers))
        owner_ws, outsider_ws, key_ws = [await connect_ready(url, t)
                                         for t in (owner, outsider, crm_key)]  # fmt: skip
        replies = {}
        for text in ("ok，地址已经改好了", "refused？", "later"):
            r = await client.post(f"{API}/conversations/{conversation}/messages",
                                  headers=agent_headers, json={"text": text})  # fmt: skip
            assert r.status_code == 201 and r.json()["status"] == "queued", r.text
            replies[text.split("，")[0].rstrip("？")] = r.json()["id"]
        await settle(db)  # the message.deliver jobs run; their events are pushed
        seen_by_agent = await _status_frames(agent_ws, 3)
        seen_by_owner = await _status_frames(owner_ws, 3)

        sent, refused, later = (seen_by_agent[replies[k]] for k in ("ok", "refused", "later"))
        assert (sent["status"], sent["previous_status"], sent["error"]) == ("sent", "queued", None)
        assert sent["conversation_id"] == str(conversation) and sent["channel"] == "api"
        assert refused["status"] == "failed" and "blocked the account" in refused["error"]
        assert later["status"] == "queued" and "retrying" in later["error"]
        # the channel's reason quotes the customer's number: masked unless the role sees PII
        for payload in (refused, later):
            assert PHONE not in payload["error"] and "5678" in payload["error"]
        assert PHONE in seen_by_owner[replies["refused"]]["error"]
        assert PHONE in seen_by_owner[replies["later"]]["error"]
        # what the sockets said is what the API shows
        r = await client.get(f"{API}/conversations/{conversation}/messages", headers=agent_headers)
        stored = {m["id"]: m["status"] for m in r.json()["items"]}
        assert [stored[replies[k]] for k in ("ok", "refused", "later")] == [
            "sent", "failed", "queued"]  # fmt: skip

        # another tenant hears nothing; a key without conversations.read gets no message.*
        await _silent_about(outsider_ws, "")
        await _silent_about(key_ws, "message.")
        for ws in (agent_ws, owner_ws, outsider_ws, key_ws):
            await ws.close()

        # a status change missed while disconnected is replayed on resume
        ws = await connect(url, _token(agent_headers), after=str(uuid.UUID(int=0)))
        replayed, _ = await frames_until_ready(ws)
        changes = [f["payload"]["status"] for f in replayed
                   if f.get("event_type") == "message.status_changed"]  # fmt: skip
        assert sorted(changes) == ["failed", "queued", "sent"]
        await ws.close()
