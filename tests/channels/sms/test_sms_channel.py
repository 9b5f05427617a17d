"""The SMS channel against the demo SMS gateway, both served on loopback.

A customer texts in → a conversation with the verified phone customer; the agent replies →
the gateway accepts the signed request and its report marks the reply delivered (or failed
with the operator's reason); a gateway that answers 503 keeps the reply queued with the reason
shown, and it goes out on the retry; unsigned, forged and stale callbacks are refused.
"""

from __future__ import annotations

import json
import time
import uuid

import httpx
import sms_support
from conftest import Org
from fastapi import FastAPI
from sms_support import (
    API,
    Gateway,
    Relaydesk,
    connect,
    conversations,
    make_sms_inbox,
    message,
    messages,
    reply,
    sms_settings,
    text_in,
)
from sqlalchemy import select

from relaydesk.customers.models import Customer, CustomerIdentity
from relaydesk.demo_systems.sms_gateway import (
    SMS_ACCESS_KEY_ID,
    SMS_ACCESS_KEY_SECRET,
    sign_headers,
)
from relaydesk.jobs import JobRunner
from relaydesk.jobs.models import Job
from relaydesk.kit.db import Database, utcnow

# the shared fixtures
gateway = sms_support.gateway
relaydesk = sms_support.relaydesk


async def test_text_in_reply_out_and_delivery_report(
    app: FastAPI, client: httpx.AsyncClient, db: Database, org_a: Org, gateway: Gateway,
    relaydesk: Relaydesk,
) -> None:  # fmt: skip
    inbox = await make_sms_inbox(app, db, org_a, sms_settings(gateway))
    await connect(gateway, relaydesk, inbox)

    pushed = await text_in(gateway, "138 0013 8000", "你好，我的快递三天没动了")
    assert pushed["push"]["ok"] is True, pushed
    assert pushed["push"]["response"]["received"] == 1
    [conversation] = await conversations(db, org_a, inbox)
    assert conversation.channel == "sms" and conversation.thread_key == "+8613800138000"
    [incoming] = await messages(db, org_a, conversation.id)
    assert incoming.body == "你好，我的快递三天没动了"
    assert incoming.external_id == pushed["msg_id"]
    assert incoming.content["sms"]["from"] == "+8613800138000"
    async with db.job(org_a.id) as session:
        identity = await session.scalar(select(CustomerIdentity).where(
            CustomerIdentity.customer_id == conversation.customer_id))  # fmt: skip
        customer = await session.get(Customer, conversation.customer_id)
    assert identity is not None and (identity.kind, identity.value) == ("phone", "+8613800138000")
    assert identity.verified is True and customer is not None

    text = "您好，已为您催件，预计明天送达。" * 6  # 96 Chinese characters: two segments
    reply_id = await reply(client, org_a, conversation.id, text)
    assert await JobRunner(db).run_once() == 1
    [sent] = await gateway.sent()
    assert sent["phone_number"] == "13800138000" and sent["content"] == text
    assert sent["sign_name"] == "云栖优选" and sent["out_id"] == str(reply_id)
    assert sent["sms_size"] == 2
    out = await message(db, org_a, reply_id)
    assert out.status == "sent" and out.external_id == sent["biz_id"] and out.error is None
    assert out.content["sms"] == {"to": "+8613800138000", "segments": 2, "encoding": "ucs2"}

    report = await gateway.admin("POST", f"/admin/reports/{sent['biz_id']}")
    assert report["push"]["ok"] is True, report
    delivered = await message(db, org_a, reply_id)
    assert delivered.status == "delivered" and delivered.error is None
    assert delivered.content["sms"]["report"]["status"] == "DELIVRD"

    again = await text_in(gateway, "+86 138-0013-8000", "收到，谢谢")
    assert again["push"]["ok"] is True
    assert [c.id for c in await conversations(db, org_a, inbox)] == [conversation.id]
    assert (await messages(db, org_a, conversation.id))[-1].body == "收到，谢谢"


async def test_an_undeliverable_number_fails_the_reply_with_the_operator_reason(
    app: FastAPI, client: httpx.AsyncClient, db: Database, org_a: Org, gateway: Gateway,
    relaydesk: Relaydesk,
) -> None:  # fmt: skip
    inbox = await make_sms_inbox(app, db, org_a, sms_settings(gateway))
    await connect(gateway, relaydesk, inbox)
    await text_in(gateway, "13900139000", "退款到哪了")
    [conversation] = await conversations(db, org_a, inbox)
    await gateway.admin("PUT", "/admin/numbers/13900139000",
                        json={"err_code": "MN:0001", "err_msg": "空号"})  # fmt: skip
    reply_id = await reply(client, org_a, conversation.id, "已原路退回")
    await JobRunner(db).run_once()
    [sent] = await gateway.sent()
    await gateway.admin("POST", f"/admin/reports/{sent['biz_id']}")
    failed = await message(db, org_a, reply_id)
    assert failed.status == "failed"
    assert failed.error == "not delivered (UNDELIV): MN:0001 空号"
    # a repeated report changes nothing (the first final report wins)
    repeat = await gateway.admin("POST", f"/admin/reports/{sent['biz_id']}")
    assert repeat["push"]["response"]["duplicates"] == 1


async def test_gateway_down_keeps_the_reply_queued_with_the_reason_then_sends_it(
    app: FastAPI, client: httpx.AsyncClient, db: Database, org_a: Org, gateway: Gateway,
    relaydesk: Relaydesk,
) -> None:  # fmt: skip
    inbox = await make_sms_inbox(app, db, org_a, sms_settings(gateway))
    await connect(gateway, relaydesk, inbox)
    await text_in(gateway, "13700137000", "在吗")
    [conversation] = await conversations(db, org_a, inbox)
    await gateway.admin("POST", "/admin/outage", json={"status": 503})
    reply_id = await reply(client, org_a, conversation.id, "在的，请讲")
    await JobRunner(db).run_once()
    queued = await message(db, org_a, reply_id)
    assert queued.status == "queued"
    assert "SMS gateway answered HTTP 503 (ServiceUnavailable" in (queued.error or "")
    assert "retrying" in (queued.error or "")
    assert await gateway.sent() == []

    await gateway.admin("DELETE", "/admin/outage")
    async with db.job(system=True) as session:
        job = await session.scalar(select(Job).where(Job.kind == "message.deliver"))
        assert job is not None and job.status == "pending" and job.run_at > utcnow()
        job.run_at = utcnow()  # its retry is due
    await JobRunner(db).run_once()
    sent = await message(db, org_a, reply_id)
    assert sent.status == "sent" and sent.error is None
    assert [m["out_id"] for m in await gateway.sent()] == [str(reply_id)]


async def test_a_gateway_that_is_not_listening_is_a_transient_failure(
    app: FastAPI, client: httpx.AsyncClient, db: Database, org_a: Org, gateway: Gateway,
    relaydesk: Relaydesk,
) -> None:  # fmt: skip
    inbox = await make_sms_inbox(app, db, org_a, sms_settings(gateway))
    await connect(gateway, relaydesk, inbox)
    await text_in(gateway, "13700137001", "你好")
    [conversation] = await conversations(db, org_a, inbox)
    await gateway.server.stop()
    reply_id = await reply(client, org_a, conversation.id, "您好")
    await JobRunner(db).run_once()
    queued = await message(db, org_a, reply_id)
    assert queued.status == "queued" and "SMS gateway unreachable" in (queued.error or "")


async def test_too_long_a_reply_fails_at_once_with_the_reason(
    app: FastAPI, client: httpx.AsyncClient, db: Database, org_a: Org, gateway: Gateway,
    relaydesk: Relaydesk,
) -> None:  # fmt: skip
    inbox = await make_sms_inbox(app, db, org_a, sms_settings(gateway, max_segments=2))
    await connect(gateway, relaydesk, inbox)
    await text_in(gateway, "13600136000", "发票")
    [conversation] = await conversations(db, org_a, inbox)
    reply_id = await reply(client, org_a, conversation.id, "电子发票已开具。" * 20)
    await JobRunner(db).run_once()
    failed = await message(db, org_a, reply_id)
    assert failed.status == "failed"
    assert failed.error == (
        "too long for SMS: 166 characters with the sign 【云栖优选】 make 3 segments; this "
        "inbox allows 2 (about 134 Chinese/Unicode characters); shorten the reply"
    )
    assert await gateway.sent() == []


def _signed(url: str, items: object, *, secret: str = SMS_ACCESS_KEY_SECRET,
            age: float = 0) -> tuple[bytes, dict[str, str]]:  # fmt: skip
    body = json.dumps(items, ensure_ascii=False).encode()
    stamp = int((time.time() - age) * 1000)
    headers = sign_headers(SMS_ACCESS_KEY_ID, secret, "POST", url, body, timestamp_ms=stamp)
    return body, {**headers, "Content-Type": "application/json"}


async def test_unsigned_forged_stale_and_repeated_callbacks(
    app: FastAPI, db: Database, org_a: Org, gateway: Gateway, relaydesk: Relaydesk,
) -> None:  # fmt: skip
    inbox = await make_sms_inbox(app, db, org_a, sms_settings(gateway))
    url = f"{relaydesk.url}{API}/channels/sms/{inbox}/inbound"
    item = [{"msg_id": "MO-1", "phone_number": "13500135000", "content": "伪造的消息"}]
    async with httpx.AsyncClient() as http:
        r = await http.post(url, json=item)
        assert r.status_code == 401
        assert r.json()["error"]["message"] == "The callback has no X-Sms-Signature"
        body, headers = _signed(url, item, secret="not-the-secret")
        r = await http.post(url, content=body, headers=headers)
        assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_signature"
        body, headers = _signed(url, item, age=900)
        r = await http.post(url, content=body, headers=headers)
        assert r.status_code == 401 and r.json()["error"]["code"] == "timestamp_out_of_tolerance"
        body, headers = _signed(url, item)
        tampered = body.replace("伪造".encode(), "篡改".encode())
        r = await http.post(url, content=tampered, headers=headers)
        assert r.status_code == 401
        assert await conversations(db, org_a, inbox) == []

        r = await http.post(url, content=body, headers=headers)
        assert r.status_code == 200 and r.json()["received"] == 1, r.text
        body2, headers2 = _signed(url, item)  # the gateway pushing the same message again
        r = await http.post(url, content=body2, headers=headers2)
        assert r.status_code == 200 and r.json()["duplicates"] == 1
        assert len(await conversations(db, org_a, inbox)) == 1

        bad = [{"msg_id": "MO-2", "phone_number": "12345", "content": "x"}]
        body, headers = _signed(url, bad)
        r = await http.post(url, content=body, headers=headers)
        assert r.status_code == 422 and r.json()["error"]["details"][0]["loc"] == [
            "body", 0, "phone_number"]  # fmt: skip

        other = f"{relaydesk.url}{API}/channels/sms/{uuid.uuid4()}/inbound"
        body, headers = _signed(other, item)
        assert (await http.post(other, content=body, headers=headers)).status_code == 404


async def test_a_report_for_a_reply_still_being_sent_is_pushed_again_later(
    app: FastAPI, client: httpx.AsyncClient, db: Database, org_a: Org, gateway: Gateway,
    relaydesk: Relaydesk,
) -> None:  # fmt: skip
    inbox = await make_sms_inbox(app, db, org_a, sms_settings(gateway))
    await connect(gateway, relaydesk, inbox)
    await text_in(gateway, "13300133000", "hi")
    [conversation] = await conversations(db, org_a, inbox)
    reply_id = await reply(client, org_a, conversation.id, "hello")  # queued, not sent yet
    url = f"{relaydesk.url}{API}/channels/sms/{inbox}/reports"
    report = [{"biz_id": "SM-early", "out_id": str(reply_id), "status": "DELIVRD"}]
    body, headers = _signed(url, report)
    async with httpx.AsyncClient() as http:
        r = await http.post(url, content=body, headers=headers)
    assert r.status_code == 409 and r.json()["error"]["code"] == "report_not_ready"
    assert (await message(db, org_a, reply_id)).status == "queued"
