"""Rules acting on conversations, through the real bus and job runner: a keyword in a
customer's message gets a bot reply, a higher priority, a team and a message on another channel."""

from __future__ import annotations

import httpx
from conftest import Org, login, settle
from conversations_support import customer_says, events, make_customer, make_inbox

from relaydesk.kit.db import Database

API = "/api/v1"


async def test_a_keyword_rule_replies_assigns_and_writes_through_another_channel(
    client: httpx.AsyncClient, db: Database, org_a: Org
) -> None:
    owner = await login(client, org_a, "owner")
    team = (await client.post(f"{API}/teams", headers=owner, json={"name": "订单组"})).json()
    sms = (await client.post(f"{API}/inboxes", headers=owner,
                             json={"name": "售后邮箱", "channel": "email"})).json()  # fmt: skip
    rule = {
        "name": "查订单",
        "trigger": {"type": "event", "event": "message.received"},
        "conditions": {"path": "event.payload.text", "op": "keywords",
                       "value": ["查订单", "where is my order"]},
        "actions": [
            {"id": "reply", "type": "conversation.reply",
             "params": {"text": "您好，正在为您查询订单。"}},
            {"id": "triage", "type": "conversation.update",
             "params": {"priority": "high", "add_tags": ["订单"]}},
            {"id": "route", "type": "conversation.assign",
             "params": {"team_id": team["id"], "note": "关键词：查订单"}},
            {"id": "sms", "type": "conversation.start",
             "params": {"inbox_id": sms["id"], "text": "我们已收到您的查询。"}},
        ],
        "run_as": ["conversations.write"],
    }  # fmt: skip
    r = await client.post(f"{API}/rules", headers=owner, json=rule)
    assert r.status_code == 201, r.text
    inbox = await make_inbox(db, org_a)
    customer = await make_customer(db, org_a)
    quiet, _, _ = await customer_says(db, org_a, inbox, customer, "你好")
    await settle(db)
    assert [n for n, _ in await events(db, org_a, "message.sent")] == []  # no keyword, no rule
    asked, _, _ = await customer_says(db, org_a, inbox, customer, "请帮我查订单，谢谢")
    assert asked == quiet
    await settle(db)
    conversation = (await client.get(f"{API}/conversations/{asked}", headers=owner)).json()
    assert conversation["priority"] == "high" and conversation["tags"] == ["订单"]
    assert conversation["team_id"] == team["id"]
    messages = (await client.get(f"{API}/conversations/{asked}/messages",
                                 headers=owner)).json()["items"]  # fmt: skip
    bot = [m for m in messages if m["author_type"] == "bot"]
    assert [m["body"] for m in bot] == ["您好，正在为您查询订单。"]
    assert any(m["private"] and m["body"] == "关键词：查订单" for m in messages)
    texting = (await client.get(f"{API}/conversations?channel=email", headers=owner)).json()
    assert len(texting["items"]) == 1 and texting["items"][0]["customer_id"] == str(customer)
    sent = [p for n, p in await events(db, org_a, "message.sent")]
    assert {p["channel"] for p in sent} == {"web_chat", "email"}
    assert all(p["author_type"] == "bot" for p in sent)
    executions = (await client.get(f"{API}/rules/{r.json()['id']}/executions",
                                   headers=owner)).json()["items"]  # fmt: skip
    assert len(executions) == 1 and executions[0]["status"] == "succeeded", executions
