"""Conversations: receiving, threading, reopening, replies, notes, assignment, status, events."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from conftest import Org, login
from conversations_support import (
    Conversation,
    Message,
    customer_says,
    events,
    load,
    make_customer,
    make_inbox,
)
from sqlalchemy import select

from relaydesk.conversations.delivery import (
    Delivered,
    Outgoing,
    TransientFailure,
    adapter_for,
    register_adapter,
)
from relaydesk.jobs import JobRunner
from relaydesk.jobs.models import Job
from relaydesk.kit.db import Database, utcnow

API = "/api/v1"


class RecordingChannel:
    """A channel peer: records what it is asked to send; can be down or refuse."""

    kind = "api"

    def __init__(self) -> None:
        self.sent: list[Outgoing] = []
        self.down = False
        self.refuse = False

    async def deliver(self, db: Database, outgoing: Outgoing) -> Delivered:
        if self.down:
            raise TransientFailure("gateway 502 Bad Gateway", retry_after=30)
        if self.refuse:
            raise ValueError("recipient unknown")
        self.sent.append(outgoing)
        return Delivered(external_id=f"gw-{len(self.sent)}", status="delivered")


@pytest.fixture
def channel() -> Iterator[RecordingChannel]:
    """Stands in for the API channel's adapter during one test, then puts the real one back."""
    previous = adapter_for("api")
    adapter = RecordingChannel()
    register_adapter(adapter)
    yield adapter
    if previous is not None:
        register_adapter(previous)


async def test_messages_thread_into_one_conversation_with_events(db: Database, org_a: Org) -> None:
    inbox = await make_inbox(db, org_a)
    customer = await make_customer(db, org_a)
    first, m1, dup1 = await customer_says(db, org_a, inbox, customer, "你好，我的订单到哪了？",
                                          external_id="wx-1")  # fmt: skip
    second, m2, _ = await customer_says(db, org_a, inbox, customer, "订单号 SO20261121001")
    again, m3, dup3 = await customer_says(db, org_a, inbox, customer, "你好，我的订单到哪了？",
                                          external_id="wx-1")  # fmt: skip
    assert first == second == again and not dup1 and dup3 and m3 == m1
    conversation = await load(db, org_a, Conversation, first)
    assert conversation.status == "open" and conversation.unread_count == 2
    assert conversation.channel == "web_chat"
    emitted = await events(db, org_a)
    assert [name for name, _ in emitted] == [
        "conversation.created", "message.received", "message.received"]  # fmt: skip
    assert emitted[1][1]["text"] == "你好，我的订单到哪了？"
    assert emitted[2][1]["message_id"] == str(m2)


async def test_resolved_reopens_within_a_day_else_a_new_conversation_starts(
    db: Database, org_a: Org
) -> None:
    inbox = await make_inbox(db, org_a)
    customer = await make_customer(db, org_a)
    first, _, _ = await customer_says(db, org_a, inbox, customer, "在吗")
    async with db.job(org_a.id) as session:
        conversation = await session.get(Conversation, first)
        conversation.status, conversation.resolved_at = "resolved", utcnow()
    reopened, _, _ = await customer_says(db, org_a, inbox, customer, "还有一个问题")
    assert reopened == first
    assert (await load(db, org_a, Conversation, first)).status == "open"
    async with db.job(org_a.id) as session:
        conversation = await session.get(Conversation, first)
        conversation.status = "resolved"
        conversation.resolved_at = utcnow() - dt.timedelta(hours=25)
    fresh, _, _ = await customer_says(db, org_a, inbox, customer, "又是我")
    assert fresh != first
    changes = [p for name, p in await events(db, org_a) if name == "conversation.status_changed"]
    assert [(c["previous_status"], c["status"]) for c in changes] == [("resolved", "open")]


async def test_threads_keep_email_conversations_apart(db: Database, org_a: Org) -> None:
    inbox = await make_inbox(db, org_a, "售后邮箱", "email")
    customer = await make_customer(db, org_a)
    a, _, _ = await customer_says(db, org_a, inbox, customer, "发票", thread_key="<a@x>")
    b, _, _ = await customer_says(db, org_a, inbox, customer, "退货", thread_key="<b@x>")
    a2, _, _ = await customer_says(db, org_a, inbox, customer, "Re: 发票", thread_key="<a@x>")
    assert a != b and a2 == a


async def test_agent_reply_is_queued_then_delivered_by_the_channel(
    client: httpx.AsyncClient, db: Database, org_a: Org, channel: RecordingChannel
) -> None:
    inbox = await make_inbox(db, org_a, "开放接口", "api")
    customer = await make_customer(db, org_a)
    conversation, _, _ = await customer_says(db, org_a, inbox, customer, "查一下物流")
    agent = await login(client, org_a, "agent")
    r = await client.post(f"{API}/conversations/{conversation}/messages", headers=agent,
                          json={"text": "您好，已为您查询，包裹在派送中。"})  # fmt: skip
    assert r.status_code == 201, r.text
    reply = r.json()
    assert reply["status"] == "queued" and reply["direction"] == "out"
    note = await client.post(f"{API}/conversations/{conversation}/messages", headers=agent,
                             json={"text": "客户情绪稳定", "private": True})  # fmt: skip
    assert note.json()["direction"] == "internal" and note.json()["status"] == "sent"
    assert await JobRunner(db).run_once() == 1  # the note is never sent
    assert [o.text for o in channel.sent] == ["您好，已为您查询，包裹在派送中。"]
    stored = await load(db, org_a, Message, uuid.UUID(reply["id"]))
    assert stored.status == "delivered" and stored.external_id == "gw-1"
    conv = (await client.get(f"{API}/conversations/{conversation}", headers=agent)).json()
    assert conv["first_response_at"] is not None
    names = [name for name, _ in await events(db, org_a)]
    assert names.count("message.sent") == 1  # notes are not sent messages


async def test_a_channel_that_is_down_keeps_the_reply_queued_and_shows_why(
    client: httpx.AsyncClient, db: Database, org_a: Org, channel: RecordingChannel
) -> None:
    inbox = await make_inbox(db, org_a, "开放接口", "api")
    conversation, _, _ = await customer_says(db, org_a, inbox, await make_customer(db, org_a), "hi")
    agent = await login(client, org_a, "agent")
    r = await client.post(f"{API}/conversations/{conversation}/messages", headers=agent,
                          json={"text": "hello"})  # fmt: skip
    channel.down = True
    await JobRunner(db).run_once()
    pending = (await client.get(f"{API}/conversations/{conversation}/messages",
                                headers=agent)).json()["items"][0]  # fmt: skip
    assert pending["status"] == "queued" and "502 Bad Gateway" in pending["error"]
    async with db.job(system=True) as session:
        job = await session.scalar(select(Job.id).where(Job.kind == "message.deliver"))
    assert job is not None
    channel.down = False
    async with db.job(system=True) as session:
        stored = await session.get(Job, job)
        assert stored is not None and stored.status == "pending"
        assert (stored.run_at - utcnow()).total_seconds() > 20  # honours retry_after=30
        stored.run_at = utcnow()
    await JobRunner(db).run_once()
    done = await load(db, org_a, Message, uuid.UUID(r.json()["id"]))
    assert done.status == "delivered" and done.error is None


async def test_a_refused_reply_fails_at_once(
    client: httpx.AsyncClient, db: Database, org_a: Org, channel: RecordingChannel
) -> None:
    inbox = await make_inbox(db, org_a, "开放接口", "api")
    conversation, _, _ = await customer_says(db, org_a, inbox, await make_customer(db, org_a), "hi")
    agent = await login(client, org_a, "agent")
    r = await client.post(f"{API}/conversations/{conversation}/messages", headers=agent,
                          json={"text": "hello"})  # fmt: skip
    channel.refuse = True
    await JobRunner(db).run_once()
    failed = await load(db, org_a, Message, uuid.UUID(r.json()["id"]))
    assert failed.status == "failed" and failed.error == "recipient unknown"


async def test_assign_transfer_status_and_filters(
    client: httpx.AsyncClient, db: Database, org_a: Org
) -> None:
    inbox = await make_inbox(db, org_a)
    conversation, _, _ = await customer_says(db, org_a, inbox, await make_customer(db, org_a), "hi")
    other, _, _ = await customer_says(db, org_a, inbox, await make_customer(db, org_a, "韩梅梅"),
                                      "hello")  # fmt: skip
    owner = await login(client, org_a, "owner")
    agent = await login(client, org_a, "agent")
    team = (await client.post(f"{API}/teams", headers=owner, json={"name": "VIP 专席"})).json()
    r = await client.post(f"{API}/conversations/{conversation}/assign", headers=owner,
                          json={"assignee_id": str(org_a.users["agent"]), "team_id": team["id"],
                                "note": "VIP 客户，请优先处理"})  # fmt: skip
    assert r.status_code == 200 and r.json()["assignee_id"] == str(org_a.users["agent"])
    mine = (await client.get(f"{API}/conversations?assignee=me", headers=agent)).json()["items"]
    assert [c["id"] for c in mine] == [str(conversation)]
    unassigned = (await client.get(f"{API}/conversations?assignee=unassigned",
                                   headers=agent)).json()["items"]  # fmt: skip
    assert [c["id"] for c in unassigned] == [str(other)]
    notes = (await client.get(f"{API}/conversations/{conversation}/messages",
                              headers=agent)).json()["items"]  # fmt: skip
    assert notes[0]["private"] and notes[0]["body"] == "VIP 客户，请优先处理"
    later = (utcnow() + dt.timedelta(hours=2)).isoformat()
    change = {"status": "snoozed", "snoozed_until": later, "priority": "high",
              "tags": ["物流", "物流", " VIP "]}  # fmt: skip
    r = await client.patch(f"{API}/conversations/{conversation}", headers=agent, json=change)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "snoozed" and r.json()["tags"] == ["VIP", "物流"]
    snoozed = (await client.get(f"{API}/conversations?status=snoozed&priority=high",
                                headers=agent)).json()["items"]  # fmt: skip
    assert [c["id"] for c in snoozed] == [str(conversation)]
    r = await client.patch(f"{API}/conversations/{conversation}", headers=agent,
                           json={"status": "resolved"})  # fmt: skip
    assert r.json()["status"] == "resolved" and r.json()["resolved_at"]
    names = [name for name, _ in await events(db, org_a, "conversation.")]
    assert names.count("conversation.assigned") == 1
    assert names.count("conversation.status_changed") == 2


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"status": "snoozed"}, "snoozed_until"),
        ({"status": "snoozed", "snoozed_until": "2001-01-01T00:00:00+08:00"}, "snoozed_until"),
        ({"snoozed_until": "2099-01-01T00:00:00+08:00"}, "snoozed_until"),
        ({"status": "closed"}, "status"),
        ({"priority": None}, "priority"),
    ],
)
async def test_bad_changes_are_refused_with_the_field(
    client: httpx.AsyncClient, db: Database, org_a: Org, body: dict[str, Any], where: str
) -> None:
    inbox = await make_inbox(db, org_a)
    conversation, _, _ = await customer_says(db, org_a, inbox, await make_customer(db, org_a), "hi")
    agent = await login(client, org_a, "agent")
    r = await client.patch(f"{API}/conversations/{conversation}", headers=agent, json=body)
    assert r.status_code == 422, r.text
    assert where in str(r.json()["error"]["details"])
    assert (await load(db, org_a, Conversation, conversation)).status == "open"


async def test_oversized_and_empty_messages_are_refused(
    client: httpx.AsyncClient, db: Database, org_a: Org
) -> None:
    inbox = await make_inbox(db, org_a)
    conversation, _, _ = await customer_says(db, org_a, inbox, await make_customer(db, org_a), "hi")
    agent = await login(client, org_a, "agent")
    for text in ("", "长" * 20_001):
        r = await client.post(f"{API}/conversations/{conversation}/messages", headers=agent,
                              json={"text": text})  # fmt: skip
        assert r.status_code == 422 and r.json()["error"]["details"][0]["loc"] == ["body", "text"]


async def test_read_only_users_cannot_reply_and_agents_cannot_manage_inboxes(
    client: httpx.AsyncClient, db: Database, org_a: Org
) -> None:
    inbox = await make_inbox(db, org_a)
    conversation, _, _ = await customer_says(db, org_a, inbox, await make_customer(db, org_a), "hi")
    reader = await login(client, org_a, "read-only")
    r = await client.post(f"{API}/conversations/{conversation}/messages", headers=reader,
                          json={"text": "hello"})  # fmt: skip
    assert r.status_code == 403
    agent = await login(client, org_a, "agent")
    r = await client.post(f"{API}/inboxes", headers=agent, json={"name": "x", "channel": "sms"})
    assert r.status_code == 403
    admin = await login(client, org_a, "admin")
    mailbox = {"name": "售后邮箱", "channel": "email"}
    r = await client.post(f"{API}/inboxes", headers=admin, json=mailbox)
    assert r.status_code == 201
    dup = await client.post(
        f"{API}/inboxes", headers=admin, json={"name": "售后邮箱", "channel": "email"}
    )
    assert dup.status_code == 409
    bad = await client.post(f"{API}/inboxes", headers=admin, json={"name": "x", "channel": "fax"})
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["loc"] == [
        "body",
        "channel",
    ]


async def test_canned_responses_render_masked_variables(
    client: httpx.AsyncClient, db: Database, org_a: Org
) -> None:
    inbox = await make_inbox(db, org_a)
    conversation, _, _ = await customer_says(db, org_a, inbox, await make_customer(db, org_a), "hi")
    supervisor = await login(client, org_a, "supervisor")
    r = await client.post(f"{API}/canned-responses", headers=supervisor, json={
        "shortcut": "greet", "title": "问候",
        "body": "{{ customer.name }}您好，我是{{ agent.name }}，"
                "尾号{{ customer.phone }}。{{ customer.nope }}",
    })  # fmt: skip
    assert r.status_code == 201, r.text
    broken = {"shortcut": "x", "title": "x", "body": "{{ customer. }}"}
    bad = await client.post(f"{API}/canned-responses", headers=supervisor, json=broken)
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["loc"] == ["body", "body"]
    agent = await login(client, org_a, "agent")
    rendered = await client.post(f"{API}/canned-responses/{r.json()['id']}/render", headers=agent,
                                 json={"conversation_id": str(conversation)})  # fmt: skip
    assert rendered.status_code == 200, rendered.text
    text = rendered.json()["text"]
    assert "13912345678" not in text and "5678" in text  # masked for an agent
    assert "agent of acme" in text and rendered.json()["missing"] == ["customer.nope"]
    listed = (await client.get(f"{API}/canned-responses?q=gre", headers=agent)).json()["items"]
    assert [c["shortcut"] for c in listed] == ["greet"]


async def test_an_agent_starts_a_conversation_with_a_first_message(
    client: httpx.AsyncClient, db: Database, org_a: Org
) -> None:
    inbox = await make_inbox(db, org_a, "短信通知", "sms")
    customer = await make_customer(db, org_a)
    agent = await login(client, org_a, "agent")
    r = await client.post(f"{API}/conversations", headers=agent, json={
        "inbox_id": str(inbox), "customer_id": str(customer), "subject": "退款进度",
        "message": {"text": "您的退款已受理，预计 3 个工作日到账。"}})  # fmt: skip
    assert r.status_code == 201, r.text
    started = r.json()
    assert started["assignee_id"] == str(org_a.users["agent"]) and started["channel"] == "sms"
    messages = (await client.get(f"{API}/conversations/{started['id']}/messages",
                                 headers=agent)).json()["items"]  # fmt: skip
    assert [(m["direction"], m["status"]) for m in messages] == [("out", "queued")]
    bad = await client.post(
        f"{API}/conversations",
        headers=agent,
        json={"inbox_id": str(uuid.uuid4()), "customer_id": str(customer)},
    )
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["loc"] == [
        "body", "inbox_id"]  # fmt: skip
