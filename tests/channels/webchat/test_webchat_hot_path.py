"""A visitor's message joins their open conversation through the hot path (three Core
statements) and gives what the ORM path gives; everything else falls back to the ORM path."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from conftest import Org, login
from fastapi import FastAPI
from sqlalchemy import func, select, update
from webchat_support import go_online, make_web_inbox, token_for, wapp, wclient

from relaydesk.channels.webchat import service
from relaydesk.channels.webchat.runtime import webchat_runtime
from relaydesk.channels.webchat.tokens import VisitorSession
from relaydesk.channels.webchat.visitors import visitor_key
from relaydesk.conversations import hot
from relaydesk.conversations.models import Conversation, Inbox, Message
from relaydesk.customers.models import Customer
from relaydesk.errors import Conflict
from relaydesk.events.models import OutboxEvent
from relaydesk.kit.db import Database

__all__ = ["wapp", "wclient"]


class Chat:
    def __init__(self, db: Database, inbox: service.PublicInbox, visitor: VisitorSession) -> None:
        self.db, self.inbox, self.visitor = db, inbox, visitor
        self.runtime = webchat_runtime(db)

    async def say(self, text: str, client_id: str | None = None) -> service.Posted:
        return await service.post_message(
            self.db, self.runtime, self.inbox, self.visitor, text, (), client_id
        )


async def _chat(db: Database, org: Org, app: FastAPI, client: httpx.AsyncClient) -> Chat:
    inbox_id = await make_web_inbox(db, org, app)
    inbox = await service.load_inbox(db, inbox_id)
    token = await token_for(client, inbox_id)
    return Chat(db, inbox, service.visitor_session(webchat_runtime(db), inbox, token))


@pytest.fixture
def hot_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What each hot-path attempt gave: "appended" or the reason it fell back."""
    calls: list[str] = []
    real = hot.append_to_open

    async def spy(*args: Any, **kwargs: Any) -> hot.Appended:
        try:
            done = await real(*args, **kwargs)
        except hot.NotAppended as exc:
            calls.append(exc.reason)
            raise
        calls.append("appended")
        return done

    monkeypatch.setattr(service, "append_to_open", spy)
    return calls


State = tuple[Conversation, list[Message], list[dict[str, Any]]]


async def _state(db: Database, org: Org, conversation: uuid.UUID) -> State:
    async with db.job(org.id) as session:
        row = await session.get(Conversation, conversation)
        assert row is not None
        stmt = select(Message).where(Message.conversation_id == conversation).order_by(Message.id)
        rows = list(await session.scalars(stmt))
        events = await session.scalars(
            select(OutboxEvent.payload).where(OutboxEvent.type == "message.received")
            .order_by(OutboxEvent.id)
        )  # fmt: skip
        mine = [e for e in events if e["conversation_id"] == str(conversation)]
        return row, rows, mine


async def test_a_second_message_takes_the_hot_path_and_matches_the_orm_path(
    wapp: FastAPI, wclient: httpx.AsyncClient, db: Database, org_a: Org, hot_calls: list[str]
) -> None:
    await go_online(wclient, await login(wclient, org_a, "agent"))
    chat = await _chat(db, org_a, wapp, wclient)
    first = await chat.say("你好，我想查订单", "c1")  # no conversation yet: the ORM path
    second = await chat.say("订单号 A-1001", "c2")
    assert hot_calls == ["no open conversation", "appended"]
    assert second.conversation_id == first.conversation_id
    assert second.customer_id == first.customer_id and not second.offline
    assert second.message["author"] == "visitor" and second.message["text"] == "订单号 A-1001"
    assert set(second.message) == set(first.message)

    conversation, rows, events = await _state(db, org_a, first.conversation_id)
    assert [m.body for m in rows] == ["你好，我想查订单", "订单号 A-1001"]
    orm, fast = rows
    for column in ("direction", "author_type", "author_id", "content_type", "status",
                   "inbox_id", "tenant_id", "private", "content", "attachments"):  # fmt: skip
        assert getattr(fast, column) == getattr(orm, column), column
    assert fast.external_id == f"webchat:{chat.visitor.visitor_id}:c2"
    assert conversation.unread_count == 2 and conversation.status == "open"
    assert conversation.last_customer_message_at == fast.created_at
    # the same event, field for field (ids and text aside)
    assert [e["message_id"] for e in events] == [str(orm.id), str(fast.id)]
    same = {k for k in events[0] if k not in ("message_id", "text")}
    assert {k: events[1][k] for k in same} == {k: events[0][k] for k in same}


async def test_a_resent_message_is_a_duplicate_and_counts_once(
    wapp: FastAPI, wclient: httpx.AsyncClient, db: Database, org_a: Org, hot_calls: list[str]
) -> None:
    await go_online(wclient, await login(wclient, org_a, "agent"))
    chat = await _chat(db, org_a, wapp, wclient)
    await chat.say("在吗", "c1")
    sent = await chat.say("退货怎么办理", "c2")
    again = await chat.say("退货怎么办理", "c2")  # the widget retried after a lost ack
    assert hot_calls[-1] == "duplicate" and again.duplicate and not sent.duplicate
    assert again.message["id"] == sent.message["id"]
    conversation, rows, events = await _state(db, org_a, sent.conversation_id)
    assert len(rows) == 2 and conversation.unread_count == 2 and len(events) == 2


async def test_what_the_hot_path_does_not_take_falls_back(
    wapp: FastAPI, wclient: httpx.AsyncClient, db: Database, org_a: Org, hot_calls: list[str]
) -> None:
    await go_online(wclient, await login(wclient, org_a, "agent"))
    chat = await _chat(db, org_a, wapp, wclient)
    first = await chat.say("第一条")
    # a pending conversation: the ORM path opens it again
    async with db.job(org_a.id) as session:
        await session.execute(update(Conversation).where(Conversation.id == first.conversation_id)
                              .values(status="pending"))  # fmt: skip
    await chat.say("第二条")
    assert hot_calls[-1] == "no open conversation"
    conversation, _, _ = await _state(db, org_a, first.conversation_id)
    assert conversation.status == "open"

    # a disabled inbox refuses the message, as the ORM path does
    async with db.job(org_a.id) as session:
        await session.execute(update(Inbox).where(Inbox.id == chat.inbox.id).values(enabled=False))
    with pytest.raises(Conflict):
        await chat.say("第三条")
    assert hot_calls[-1] == "no open conversation"


async def test_a_merged_customer_falls_back_to_the_survivor(
    wapp: FastAPI, wclient: httpx.AsyncClient, db: Database, org_a: Org, hot_calls: list[str]
) -> None:
    await go_online(wclient, await login(wclient, org_a, "agent"))
    chat = await _chat(db, org_a, wapp, wclient)
    first = await chat.say("第一条")
    async with db.job(org_a.id) as session:  # as a merge leaves an identity not yet moved
        survivor = Customer(tenant_id=org_a.id, name="合并后的客户")
        session.add(survivor)
        await session.flush()
        await session.execute(update(Customer).where(Customer.id == first.customer_id)
                              .values(merged_into_id=survivor.id))  # fmt: skip
    later = await chat.say("第二条")
    assert hot_calls[-1] == "no open conversation"
    assert later.customer_id == survivor.id


async def test_another_tenant_cannot_append_through_the_hot_path(
    wapp: FastAPI, wclient: httpx.AsyncClient, db: Database, org_a: Org, org_b: Org
) -> None:
    await go_online(wclient, await login(wclient, org_a, "agent"))
    chat = await _chat(db, org_a, wapp, wclient)
    first = await chat.say("第一条")
    key = visitor_key(chat.visitor, chat.inbox.settings)
    async with db.job(org_b.id) as session:
        with pytest.raises(hot.NotAppended):
            await hot.append_to_open(session, tenant_id=org_b.id, inbox_id=chat.inbox.id,
                                     identity=key, text="越权")  # fmt: skip
    async with db.job(org_a.id) as session:
        count = await session.scalar(
            select(func.count()).select_from(Message)
            .where(Message.conversation_id == first.conversation_id)
        )  # fmt: skip
    assert count == 1


async def test_an_agent_going_offline_is_seen_by_the_next_message(
    wapp: FastAPI, wclient: httpx.AsyncClient, db: Database, org_a: Org,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A visitor's messages remember "an agent is online" for a second; going offline through
    the presence API forgets it at once, a change made elsewhere counts after the second."""
    from relaydesk.auth.models import User
    from relaydesk.routing import online

    agent = await login(wclient, org_a, "agent")
    await go_online(wclient, agent)
    chat = await _chat(db, org_a, wapp, wclient)
    assert not (await chat.say("在吗", "o1")).offline
    r = await wclient.put("/api/v1/routing/presence/me", json={"status": "offline"},
                          headers=agent)  # fmt: skip
    assert r.status_code == 200
    assert (await chat.say("还在吗", "o2")).offline

    await go_online(wclient, agent)
    assert not (await chat.say("你好", "o3")).offline
    async with db.job(org_a.id) as session:  # deactivated by another process
        await session.execute(
            update(User).where(User.id == org_a.users["agent"]).values(is_active=False)
        )
    assert not (await chat.say("你好?", "o4")).offline  # within the second
    clock = online.time.monotonic() + online.TTL
    monkeypatch.setattr(online.time, "monotonic", lambda: clock)
    assert (await chat.say("人呢", "o5")).offline
