"""The API channel with a real app backend on loopback, signatures checked with the
third-party ``standardwebhooks`` library in both directions.

The app posts its user's message → a conversation with a customer whose app user id is a
verified identity; the agent's reply reaches the app's webhook, signed; a webhook that is
down keeps the reply queued and it is delivered on the retry; unsigned, forged, stale and
replayed posts and oversized messages are refused.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid

import api_channel_support
import httpx
from api_channel_support import (
    API,
    AppBackend,
    Relaydesk,
    api_settings,
    app_message,
    make_api_inbox,
    new_secret,
)
from conftest import Org, login
from fastapi import FastAPI
from sqlalchemy import select
from standardwebhooks import Webhook

from relaydesk.conversations.models import Conversation, Message
from relaydesk.customers.models import CustomerIdentity
from relaydesk.jobs import JobRunner
from relaydesk.jobs.models import Job
from relaydesk.kit.db import Database, utcnow

# the shared fixtures
app_backend = api_channel_support.app_backend
relaydesk = api_channel_support.relaydesk


async def _reply(client: httpx.AsyncClient, org: Org, conversation_id: str, text: str) -> str:
    agent = await login(client, org, "agent")
    r = await client.post(f"{API}/conversations/{conversation_id}/messages", headers=agent,
                          json={"text": text})  # fmt: skip
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _message(db: Database, org: Org, message_id: str) -> Message:
    async with db.job(org.id) as session:
        found = await session.get(Message, uuid.UUID(message_id))
        assert found is not None
        return found


async def test_app_message_in_and_signed_reply_out(
    app: FastAPI, client: httpx.AsyncClient, db: Database, org_a: Org, app_backend: AppBackend,
    relaydesk: Relaydesk,
) -> None:  # fmt: skip
    inbox = await make_api_inbox(app, db, org_a, api_settings(app_backend))
    secret = await new_secret(client, org_a, inbox)
    assert secret.startswith("whsec_")
    shown = (await client.get(f"{API}/inboxes/{inbox}",
                              headers=await login(client, org_a, "admin"))).text  # fmt: skip
    assert secret not in shown and "signing_secret" not in shown  # shown once, never again

    payload = app_message(attachments=[{"url": "https://cdn.example.com/p/1.jpg",
                                        "content_type": "image/jpeg", "size": 2048}])  # fmt: skip
    r = await relaydesk.post(inbox, payload, secret)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["status"] == "created" and created["message_id"] == payload["message_id"]
    async with db.job(org_a.id) as session:
        conversation = await session.get(Conversation, uuid.UUID(created["conversation_id"]))
        identities = (await session.scalars(select(CustomerIdentity).where(
            CustomerIdentity.customer_id == uuid.UUID(created["customer_id"])))).all()  # fmt: skip
        incoming = await session.get(Message, uuid.UUID(created["relaydesk_message_id"]))
    assert conversation is not None and conversation.channel == "api"
    assert conversation.thread_key == "u10086"
    assert {(i.kind, i.namespace, i.value, i.verified) for i in identities} == {
        ("app_user", "wx8d3a1f2b", "u10086", True), ("openid", "wx8d3a1f2b", "oX7f-2k9Qm3", True),
        ("unionid", "yunqi-open", "uQ81xk2", True),
    }  # fmt: skip
    assert incoming is not None and incoming.body == "我的订单能改地址吗？"
    assert incoming.attachments[0]["url"] == "https://cdn.example.com/p/1.jpg"

    again = await relaydesk.post(inbox, payload, secret)  # a resend: new webhook-id, same id
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    assert again.json()["relaydesk_message_id"] == created["relaydesk_message_id"]

    reply_id = await _reply(client, org_a, created["conversation_id"], "可以的，请提供新地址")
    assert await JobRunner(db).run_once() == 1
    [got] = app_backend.received
    data = Webhook(secret).verify(got.body, got.headers)  # raises unless the signature is valid
    assert data["type"] == "message.created" and data["message_id"] == reply_id
    assert data["user"] == {"id": "u10086"} and data["text"] == "可以的，请提供新地址"
    assert data["author"] == {"type": "agent", "name": "agent of acme"}
    assert got.headers["webhook-id"] == f"msg_{uuid.UUID(reply_id).hex}"
    out = await _message(db, org_a, reply_id)
    assert out.status == "delivered" and out.external_id == got.headers["webhook-id"]


async def test_unsigned_forged_stale_and_replayed_posts_are_refused(
    app: FastAPI, client: httpx.AsyncClient, db: Database, org_a: Org, relaydesk: Relaydesk,
) -> None:  # fmt: skip
    inbox = await make_api_inbox(app, db, org_a, api_settings(None))
    secret = await new_secret(client, org_a, inbox)
    payload = app_message()

    r = await relaydesk.post(inbox, payload, secret, headers={"content-type": "application/json"})
    assert r.status_code == 401 and r.json()["error"]["message"] == (
        "The callback needs the webhook-id, webhook-timestamp and webhook-signature headers"
    )
    forged = await relaydesk.post(inbox, payload, "whsec_" + "A" * 43)
    assert forged.status_code == 401 and forged.json()["error"]["code"] == "invalid_signature"
    old = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
    stale = await relaydesk.post(inbox, payload, secret, at=old)
    assert stale.status_code == 401
    assert stale.json()["error"]["code"] == "timestamp_out_of_tolerance"
    assert "s old, tolerance 300 s" in stale.json()["error"]["message"]

    at = dt.datetime.now(dt.UTC)
    first = await relaydesk.post(inbox, payload, secret, msg_id="msg_1", at=at)
    assert first.status_code == 201
    replayed = await relaydesk.post(inbox, payload, secret, msg_id="msg_1", at=at)  # same bytes
    assert replayed.status_code == 200 and replayed.json()["status"] == "duplicate"
    signed = {"webhook-id": "msg_1", "webhook-timestamp": str(int(at.timestamp())),
              "webhook-signature": Webhook(secret).sign("msg_1", at, json.dumps(payload)),
              "content-type": "application/json"}  # fmt: skip
    tampered = dict(payload, message_id="m-new", text="把退款打到我另一张卡")
    r = await relaydesk.post(inbox, tampered, secret, headers=signed)  # the old signature
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_signature"
    body = dict(payload)
    body.pop("message_id")  # no message id: the webhook-id de-duplicates
    one = await relaydesk.post(inbox, body, secret, msg_id="msg_no_id")
    again = await relaydesk.post(inbox, body, secret, msg_id="msg_no_id")
    assert one.status_code == 201 and again.status_code == 200
    assert again.json()["status"] == "duplicate" and again.json()["message_id"] == "msg_no_id"

    elsewhere = await relaydesk.http.post(relaydesk.messages_url(uuid.uuid4()), json=payload)
    assert elsewhere.status_code == 404
    async with db.job(org_a.id) as session:
        count = len((await session.scalars(select(Message).where(Message.inbox_id == inbox))).all())
    assert count == 2


async def test_oversized_and_malformed_messages_are_refused_with_the_field(
    app: FastAPI, client: httpx.AsyncClient, db: Database, org_a: Org, relaydesk: Relaydesk,
) -> None:  # fmt: skip
    inbox = await make_api_inbox(app, db, org_a, api_settings(None, max_attachment_bytes=1024))
    secret = await new_secret(client, org_a, inbox)
    cases = [
        (app_message("长" * 20_001), ["body", "text"]),
        (app_message(attachments=[{"url": "https://x.example/a.zip", "size": 4096}]),
         ["body", "attachments", 0, "size"]),
        (app_message(attachments=[{"url": "file:///etc/passwd"}]),
         ["body", "attachments", 0, "url"]),
        ({"message_id": "m1", "user": {"id": "has space"}, "text": "x"}, ["body", "user", "id"]),
        ({"message_id": "m2", "user": {"id": "u1"}, "text": ""}, ["body"]),
        ({"message_id": "m3", "user": {"id": "u1", "phone": "12"}, "text": "x"},
         ["body", "user", "phone"]),
    ]  # fmt: skip
    for payload, loc in cases:
        r = await relaydesk.post(inbox, payload, secret)
        assert r.status_code == 422, (loc, r.text)
        assert r.json()["error"]["details"][0]["loc"] == loc, r.text
    r = await relaydesk.post(inbox, b"{not json", secret)
    assert r.status_code == 400 and r.json()["error"]["code"] == "malformed_body"
    async with db.job(org_a.id) as session:
        assert (await session.scalars(select(Message).where(Message.inbox_id == inbox))).all() == []


async def test_a_webhook_that_is_down_keeps_the_reply_queued_then_delivers_it(
    app: FastAPI, client: httpx.AsyncClient, db: Database, org_a: Org, app_backend: AppBackend,
    relaydesk: Relaydesk,
) -> None:  # fmt: skip
    inbox = await make_api_inbox(app, db, org_a, api_settings(app_backend))
    secret = await new_secret(client, org_a, inbox)
    created = (await relaydesk.post(inbox, app_message(), secret)).json()
    app_backend.answer = 503
    reply_id = await _reply(client, org_a, created["conversation_id"], "稍等")
    await JobRunner(db).run_once()
    queued = await _message(db, org_a, reply_id)
    assert queued.status == "queued"
    assert "the app's webhook answered HTTP 503" in (queued.error or "")
    assert "retrying" in (queued.error or "")

    app_backend.answer = 200
    async with db.job(system=True) as session:
        job = await session.scalar(select(Job).where(Job.kind == "message.deliver"))
        assert job is not None and job.run_at > utcnow()
        job.run_at = utcnow()  # its retry is due
    await JobRunner(db).run_once()
    assert (await _message(db, org_a, reply_id)).status == "delivered"
    first, second = app_backend.received
    assert first.headers["webhook-id"] == second.headers["webhook-id"]  # the app can drop repeats
    Webhook(secret).verify(second.body, second.headers)

    app_backend.answer = 400
    refused_id = await _reply(client, org_a, created["conversation_id"], "再见")
    await JobRunner(db).run_once()
    refused = await _message(db, org_a, refused_id)
    assert refused.status == "failed"
    assert refused.error == 'the app\'s webhook refused the reply: HTTP 400: {"ok":false}'
