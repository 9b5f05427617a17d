"""The e-mail channel against real servers: dovecot (IMAP) and aiosmtpd (SMTP) on loopback.

A customer's mail arrives in the mailbox → a conversation with the right customer; the agent
replies through the API → the SMTP server receives a threaded reply; the customer answers →
the same conversation; a bounce marks the reply failed; an SMTP server that is down keeps the
reply queued with the reason shown, and it goes out once the server is back.
"""

from __future__ import annotations

import asyncio
import uuid

import email_support
import httpx
from conftest import Org, login
from email_servers import SMTP_USER, Dovecot, SmtpServer
from email_support import (
    conversations,
    customer_mail,
    email_settings,
    inbox_state,
    make_email_inbox,
    messages,
)
from sqlalchemy import select

from relaydesk.channels.email import EmailRuntime, poll_inbox
from relaydesk.customers.models import Customer, CustomerIdentity
from relaydesk.jobs import JobRunner
from relaydesk.jobs.models import Job
from relaydesk.kit.db import Database, utcnow

API = "/api/v1"

# the shared fixtures
dovecot = email_support.dovecot
mailbox = email_support.mailbox
runtime = email_support.runtime
smtp = email_support.smtp
smtp_server = email_support.smtp_server


async def _reply(client: httpx.AsyncClient, org: Org, conversation_id: uuid.UUID,
                 text: str) -> uuid.UUID:  # fmt: skip
    agent = await login(client, org, "agent")
    r = await client.post(f"{API}/conversations/{conversation_id}/messages", headers=agent,
                          json={"text": text})  # fmt: skip
    assert r.status_code == 201, r.text
    return uuid.UUID(r.json()["id"])


async def test_mail_in_reply_out_and_answer_stay_one_threaded_conversation(
    client: httpx.AsyncClient, db: Database, org_a: Org, dovecot: Dovecot, smtp: SmtpServer,
    runtime: EmailRuntime, mailbox: str,
) -> None:  # fmt: skip
    inbox = await make_email_inbox(db, org_a, email_settings(dovecot, smtp, mailbox))
    first = customer_mail(mailbox, "你好，我的订单 SO20261121 三天了还没到，能帮忙查一下吗？",
                          message_id="<first.1@customer.example>")  # fmt: skip
    dovecot.deliver(mailbox, first)

    assert await JobRunner(db).run_once() >= 1  # the poll the saved inbox asked for
    [conversation] = await conversations(db, org_a, inbox)
    assert conversation.channel == "email" and conversation.subject == "订单 SO20261121 还没到"
    assert conversation.thread_key == "<first.1@customer.example>"
    [incoming] = await messages(db, org_a, conversation.id)
    assert incoming.body.startswith("你好，我的订单 SO20261121")
    assert incoming.external_id == "<first.1@customer.example>"
    assert incoming.content["from"] == {"address": "xiaoming@customer.example", "name": "王小明"}
    async with db.job(org_a.id) as session:
        identity = await session.scalar(select(CustomerIdentity).where(
            CustomerIdentity.customer_id == conversation.customer_id))  # fmt: skip
    assert identity is not None and identity.kind == "email"
    assert identity.value == "xiaoming@customer.example" and identity.verified is False

    text = "您好，已为您查询：包裹明天送达。\n物流详情 https://track.example/SO20261121"
    reply_id = await _reply(client, org_a, conversation.id, text)
    await JobRunner(db).run_once()
    [sent] = smtp.recorder.received
    out = sent.message
    reply = next(m for m in await messages(db, org_a, conversation.id) if m.id == reply_id)
    assert reply.status == "sent" and reply.error is None
    assert out["Message-ID"] == reply.external_id and reply.external_id.endswith(
        "@acme-support.example>"
    )
    assert out["In-Reply-To"] == "<first.1@customer.example>"
    assert out["References"] == "<first.1@customer.example>"
    assert out["Subject"] == "Re: 订单 SO20261121 还没到"
    assert sent.rcpt_tos == ["xiaoming@customer.example"] and smtp.recorder.logins == [SMTP_USER]
    assert out["From"].addresses[0].display_name == "Acme 客服"
    assert out.get_content_type() == "multipart/alternative"
    plain = out.get_body(("plain",)).get_content()
    html = out.get_body(("html",)).get_content()
    assert "包裹明天送达" in plain and '<a href="https://track.example/SO20261121">' in html

    quoted = "在 2026年11月21日 14:00，Acme 客服 写道：\n> 您好，已为您查询：包裹明天送达。"
    answer = customer_mail(
        mailbox, f"好的，谢谢！\n\n{quoted}",
        subject="Re: 订单 SO20261121 还没到", message_id="<answer.2@customer.example>",
        In_Reply_To=reply.external_id,
        References=f"<first.1@customer.example> {reply.external_id}",
    )  # fmt: skip
    dovecot.deliver(mailbox, answer)
    result = await poll_inbox(db, org_a.id, inbox)
    assert [r.outcome for r in result.received] == ["message"] and result.error is None
    assert [c.id for c in await conversations(db, org_a, inbox)] == [conversation.id]
    latest = (await messages(db, org_a, conversation.id))[-1]
    assert latest.direction == "in" and latest.body == "好的，谢谢！"
    assert latest.content["quoted"].startswith("在 2026年11月21日")

    again = await poll_inbox(db, org_a.id, inbox)  # the last UID is remembered
    assert again.received == [] and (await inbox_state(db, org_a, inbox))["last_error"] is None


async def test_a_bounce_marks_the_reply_failed_and_starts_nothing(
    client: httpx.AsyncClient, db: Database, org_a: Org, dovecot: Dovecot, smtp: SmtpServer,
    runtime: EmailRuntime, mailbox: str,
) -> None:  # fmt: skip
    inbox = await make_email_inbox(db, org_a, email_settings(dovecot, smtp, mailbox))
    dovecot.deliver(mailbox, customer_mail(mailbox, "请回电", sender="nobody@gone.example"))
    await poll_inbox(db, org_a.id, inbox)
    [conversation] = await conversations(db, org_a, inbox)
    reply_id = await _reply(client, org_a, conversation.id, "好的，我们稍后联系您")
    await JobRunner(db).run_once()
    reply = next(m for m in await messages(db, org_a, conversation.id) if m.id == reply_id)
    assert reply.status == "sent"

    dsn = (
        "From: Mail Delivery System <MAILER-DAEMON@mx.gone.example>\r\n"
        f"To: {mailbox}\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <bounce.9@mx.gone.example>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nI'm sorry to have to inform you...\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.gone.example\r\n\r\n"
        "Final-Recipient: rfc822; nobody@gone.example\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 <nobody@gone.example>: user unknown\r\n"
        "--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: {mailbox}\r\nTo: nobody@gone.example\r\nMessage-ID: {reply.external_id}\r\n"
        "--B--\r\n"
    ).encode()
    dovecot.deliver(mailbox, dsn)
    result = await poll_inbox(db, org_a.id, inbox)
    assert [r.outcome for r in result.received] == ["bounce"]
    failed = next(m for m in await messages(db, org_a, conversation.id) if m.id == reply_id)
    assert failed.status == "failed"
    assert (
        failed.error
        == "bounced: 5.1.1 550 5.1.1 <nobody@gone.example>: user unknown (to nobody@gone.example)"
    )
    assert len(await conversations(db, org_a, inbox)) == 1
    assert len(await messages(db, org_a, conversation.id)) == 2  # the bounce is no message


async def test_smtp_down_keeps_the_reply_queued_with_the_reason_then_sends_it(
    client: httpx.AsyncClient, db: Database, org_a: Org, dovecot: Dovecot, smtp: SmtpServer,
    runtime: EmailRuntime, mailbox: str,
) -> None:  # fmt: skip
    inbox = await make_email_inbox(db, org_a, email_settings(dovecot, smtp, mailbox))
    dovecot.deliver(mailbox, customer_mail(mailbox, "发票什么时候开？"))
    await poll_inbox(db, org_a.id, inbox)
    [conversation] = await conversations(db, org_a, inbox)
    smtp.stop()
    reply_id = await _reply(client, org_a, conversation.id, "本周内开具")
    await JobRunner(db).run_once()
    queued = next(m for m in await messages(db, org_a, conversation.id) if m.id == reply_id)
    assert queued.status == "queued"
    assert "cannot connect to the SMTP server" in (queued.error or "")
    assert "retrying" in (queued.error or "")

    smtp.start()
    async with db.job(system=True) as session:
        job = await session.scalar(select(Job).where(Job.kind == "message.deliver"))
        assert job is not None and job.status == "pending" and job.run_at > utcnow()
        job.run_at = utcnow()  # its retry is due
    await JobRunner(db).run_once()
    sent = next(m for m in await messages(db, org_a, conversation.id) if m.id == reply_id)
    assert sent.status == "sent" and sent.error is None
    assert len(smtp.recorder.received) == 1


async def test_a_refused_recipient_fails_the_reply_at_once(
    client: httpx.AsyncClient, db: Database, org_a: Org, dovecot: Dovecot, smtp: SmtpServer,
    runtime: EmailRuntime, mailbox: str,
) -> None:  # fmt: skip
    inbox = await make_email_inbox(db, org_a, email_settings(dovecot, smtp, mailbox))
    dovecot.deliver(mailbox, customer_mail(mailbox, "hello", sender="blocked@customer.example"))
    await poll_inbox(db, org_a.id, inbox)
    [conversation] = await conversations(db, org_a, inbox)
    smtp.recorder.refuse.add("blocked@customer.example")
    reply_id = await _reply(client, org_a, conversation.id, "hi")
    await JobRunner(db).run_once()
    failed = next(m for m in await messages(db, org_a, conversation.id) if m.id == reply_id)
    assert failed.status == "failed" and "550 5.1.1 mailbox unavailable" in (failed.error or "")


async def test_idle_picks_up_new_mail_while_waiting(
    db: Database, org_a: Org, dovecot: Dovecot, runtime: EmailRuntime, mailbox: str
) -> None:
    inbox = await make_email_inbox(db, org_a, email_settings(dovecot, None, mailbox, idle=True))
    await poll_inbox(db, org_a.id, inbox)  # first poll: empty mailbox, UIDs start here
    waiting = asyncio.create_task(poll_inbox(db, org_a.id, inbox, idle_seconds=1.5))
    await asyncio.sleep(0.3)
    await asyncio.to_thread(dovecot.deliver, mailbox, customer_mail(mailbox, "在吗？"))
    result = await waiting
    assert [r.outcome for r in result.received] == ["message"], result
    [conversation] = await conversations(db, org_a, inbox)
    assert (await messages(db, org_a, conversation.id))[0].body == "在吗？"


async def test_same_message_id_twice_is_stored_once(
    db: Database, org_a: Org, dovecot: Dovecot, runtime: EmailRuntime, mailbox: str
) -> None:
    inbox = await make_email_inbox(db, org_a, email_settings(dovecot, None, mailbox))
    mail = customer_mail(mailbox, "重复投递", message_id="<dup.1@customer.example>")
    dovecot.deliver(mailbox, mail)
    dovecot.deliver(mailbox, mail)
    result = await poll_inbox(db, org_a.id, inbox)
    assert [r.outcome for r in result.received] == ["message", "duplicate"]
    [conversation] = await conversations(db, org_a, inbox)
    assert len(await messages(db, org_a, conversation.id)) == 1
    assert (await inbox_state(db, org_a, inbox))["last_uid"] == 2


async def test_a_conversation_an_agent_starts_gets_its_thread_from_the_first_mail(
    client: httpx.AsyncClient, db: Database, org_a: Org, dovecot: Dovecot, smtp: SmtpServer,
    runtime: EmailRuntime, mailbox: str,
) -> None:  # fmt: skip
    inbox = await make_email_inbox(db, org_a, email_settings(dovecot, smtp, mailbox))
    async with db.job(org_a.id) as session:
        customer = Customer(tenant_id=org_a.id, name="韩梅梅", email="meimei@customer.example")
        session.add(customer)
        await session.flush()
    agent = await login(client, org_a, "agent")
    r = await client.post(f"{API}/conversations", headers=agent, json={
        "inbox_id": str(inbox), "customer_id": str(customer.id), "subject": "您的退款已到账",
        "message": {"text": "您好，退款 ¥128 已原路退回。"}})  # fmt: skip
    assert r.status_code == 201, r.text
    await JobRunner(db).run_once()
    [sent] = smtp.recorder.received
    first_id = sent.message["Message-ID"]
    assert sent.rcpt_tos == ["meimei@customer.example"] and sent.message["In-Reply-To"] is None
    assert sent.message["Subject"] == "您的退款已到账"
    [conversation] = await conversations(db, org_a, inbox)
    assert conversation.thread_key == first_id

    answer = customer_mail(
        mailbox, "收到，谢谢", sender="Han Meimei <meimei@customer.example>",
        subject="Re: 您的退款已到账", In_Reply_To=first_id, References=first_id,
    )  # fmt: skip
    dovecot.deliver(mailbox, answer)
    await poll_inbox(db, org_a.id, inbox)
    assert [c.id for c in await conversations(db, org_a, inbox)] == [conversation.id]
    latest = (await messages(db, org_a, conversation.id))[-1]
    assert latest.body == "收到，谢谢" and latest.direction == "in"


async def test_starttls_smtp_checks_the_certificate_with_the_inboxs_ca(
    client: httpx.AsyncClient, db: Database, org_a: Org, dovecot: Dovecot,
    runtime: EmailRuntime, mailbox: str,
) -> None:  # fmt: skip
    secure = SmtpServer(tls_context=dovecot.server_tls_context())
    secure.start()
    try:
        settings = email_settings(
            dovecot, secure, mailbox, allow_private=["127.0.0.1", "localhost"],
            ca_pem=dovecot.ca_pem, smtp={"host": "localhost", "tls": "starttls"},
        )  # fmt: skip
        inbox = await make_email_inbox(db, org_a, settings)
        dovecot.deliver(mailbox, customer_mail(mailbox, "加密发送可以吗"))
        await poll_inbox(db, org_a.id, inbox)
        [conversation] = await conversations(db, org_a, inbox)
        reply_id = await _reply(client, org_a, conversation.id, "可以")
        await JobRunner(db).run_once()
        sent = next(m for m in await messages(db, org_a, conversation.id) if m.id == reply_id)
        assert sent.status == "sent", sent.error
        assert len(secure.recorder.received) == 1 and secure.recorder.logins == [SMTP_USER]
    finally:
        secure.stop()
