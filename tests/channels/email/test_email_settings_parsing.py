"""E-mail inbox settings (validation, encrypted secrets), parsing rules, and the poll schedule."""

from __future__ import annotations

import datetime as dt
import uuid
from email.message import EmailMessage

import email_support
import pytest
from conftest import Org
from email_support import KEYRING, make_email_inbox
from sqlalchemy import select

from relaydesk.channels import SECRET_PLACEHOLDER, apply_settings, inbox_secrets
from relaydesk.channels.email import EmailRuntime
from relaydesk.channels.email.html import fold_quoted
from relaydesk.channels.email.parsing import parse_mail, sender_verified
from relaydesk.channels.email.poller import POLL_JOB, ensure_polling, next_tick
from relaydesk.channels.email.storage import LocalStorage
from relaydesk.conversations.models import Inbox
from relaydesk.errors import ValidationFailed
from relaydesk.jobs import JobRunner
from relaydesk.jobs.models import Job
from relaydesk.kit.db import Database

BASE = {
    "imap": {"host": "imap.corp.example", "user": "support@acme.example", "password": "p1"},
    "smtp": {"host": "smtp.corp.example", "tls": "starttls", "user": "support@acme.example",
             "password": "p2"},
    "from_address": "Support@Acme.example",
}  # fmt: skip

# the shared fixtures
runtime = email_support.runtime


def _inbox() -> Inbox:
    return Inbox(tenant_id=uuid.uuid4(), name="mail", channel="email", id=uuid.uuid4())


def test_secrets_are_encrypted_out_of_the_settings_and_kept_on_update() -> None:
    inbox = _inbox()
    apply_settings(inbox, BASE, KEYRING)
    assert "password" not in inbox.settings["imap"] and "password" not in inbox.settings["smtp"]
    assert inbox.settings["from_address"] == "support@acme.example"
    assert inbox.settings["poll_seconds"] == 60 and inbox.settings["imap"]["mailbox"] == "INBOX"
    assert b"p1" not in (inbox.secrets_encrypted or b"")
    assert inbox_secrets(KEYRING, inbox) == {"imap.password": "p1", "smtp.password": "p2"}

    inbox.settings = {**inbox.settings, "state": {"last_uid": 41, "uidvalidity": 7}}
    update = {**BASE, "imap": {**BASE["imap"], "password": SECRET_PLACEHOLDER},
              "smtp": {k: v for k, v in BASE["smtp"].items() if k != "password"},
              "poll_seconds": 30, "state": {"last_uid": 0}}  # fmt: skip
    apply_settings(inbox, update, KEYRING)
    assert inbox_secrets(KEYRING, inbox) == {"imap.password": "p1", "smtp.password": "p2"}
    assert inbox.settings["state"] == {"last_uid": 41, "uidvalidity": 7}  # the poller's, kept
    assert inbox.settings["poll_seconds"] == 30

    other = _inbox()  # a blob copied to another inbox does not decrypt
    other.secrets_encrypted = inbox.secrets_encrypted
    with pytest.raises(Exception, match="another row"):
        inbox_secrets(KEYRING, other)


@pytest.mark.parametrize(
    ("change", "loc", "message"),
    [
        ({"imap": {**BASE["imap"], "port": 70000}}, ["imap", "port"], "less than or equal"),
        ({"imap": {**BASE["imap"], "host": "http://imap.corp.example/"}}, ["imap", "host"],
         "no scheme"),
        ({"smtp": {**BASE["smtp"], "tls": "ssl3"}}, ["smtp", "tls"], "'tls', 'starttls'"),
        ({"from_address": "not-an-address"}, ["from_address"], "not a valid e-mail"),
        ({"allow_private": ["10.0.0.0/33"]}, ["allow_private"], "10.0.0.0/33"),
        ({"attachment_types": ["pdf"]}, ["attachment_types"], "media type"),
        ({"poll_seconds": 1}, ["poll_seconds"], "greater than or equal to 10"),
        ({"imap": {k: v for k, v in BASE["imap"].items() if k != "password"}},
         ["imap", "password"], "required"),
        ({"colour": "blue"}, ["colour"], "Extra inputs"),
    ],
)  # fmt: skip
def test_bad_settings_name_the_field(change: dict[str, object], loc: list[str],
                                     message: str) -> None:  # fmt: skip
    inbox = _inbox()
    with pytest.raises(ValidationFailed) as caught:
        apply_settings(inbox, {**BASE, **change}, KEYRING)
    detail = caught.value.details[0]
    assert detail["loc"] == ["body", "settings", *loc] and message in detail["msg"]
    assert inbox.secrets_encrypted is None and not inbox.settings  # nothing changed


def test_an_email_inbox_may_be_created_first_and_configured_later() -> None:
    inbox = _inbox()
    inbox.settings = {"state": {"last_uid": 3}}
    apply_settings(inbox, {}, KEYRING)
    assert inbox.settings == {"state": {"last_uid": 3}} and inbox.secrets_encrypted is None


def test_quote_folding() -> None:
    attribution = "On Mon, 1 Jan 2026 at 10:00, Acme <s@acme.example>\nwrote:\n> old"
    assert fold_quoted(f"Thanks!\n\n{attribution}") == ("Thanks!", attribution)
    assert fold_quoted("好的\n-----原始邮件-----\n发件人: 客服") == (
        "好的",
        "-----原始邮件-----\n发件人: 客服",
    )
    outlook = "OK\n\nFrom: Acme Support\nSent: Monday\nTo: me\nSubject: Re: x\n\nold text"
    assert fold_quoted(outlook)[0] == "OK"
    assert fold_quoted("see below\n> a\n> b\n") == ("see below", "> a\n> b")
    inline = "> question one\nanswer one\n> question two\nanswer two"
    assert fold_quoted(inline) == (inline, "")  # interleaved replies stay whole
    assert fold_quoted("> only a quote") == ("> only a quote", "")


def test_threading_headers_and_a_mail_without_message_id() -> None:
    raw = (b"From: =?utf-8?b?546L5bCP5piO?= <XM@Customer.example>\r\nTo: s@acme.example\r\n"
           b"Subject: =?utf-8?b?6YCA5qy+?=\r\nIn-Reply-To: <b@acme.example>\r\n"
           b"References: <a@acme.example>\r\n  <b@acme.example>\r\n\r\nhi\r\n")  # fmt: skip
    mail = parse_mail(raw)
    assert (mail.from_address, mail.from_name, mail.subject) == ("xm@customer.example", "王小明",
                                                                 "退款")  # fmt: skip
    assert mail.thread_ids == ["<b@acme.example>", "<a@acme.example>"]
    assert mail.message_id.startswith("<sha256.") and parse_mail(raw).message_id == mail.message_id


def test_plain_bounce_from_mailer_daemon_finds_our_message() -> None:
    raw = (b"From: MAILER-DAEMON@mx.example.com\r\nSubject: failure notice\r\n"
           b"Message-ID: <z@mx.example.com>\r\n\r\nSorry, we were unable to deliver.\r\n"
           b"<bob@example.com>: 550 5.1.1 user does not exist\r\n\r\n--- original ---\r\n"
           b"Message-ID: <rd.0a1b@acme.example>\r\nIn-Reply-To: <c@example.com>\r\n")  # fmt: skip
    bounce = parse_mail(raw, our_domain="acme.example").bounce
    assert bounce is not None and bounce.original_message_id == "<rd.0a1b@acme.example>"
    assert bounce.reason == "<bob@example.com>: 550 5.1.1 user does not exist"
    auto = parse_mail(b"From: bob@example.com\r\nAuto-Submitted: auto-replied\r\nSubject: "
                      b"Out of office\r\n\r\naway\r\n")  # fmt: skip
    assert auto.bounce is None and auto.auto_submitted


def test_only_the_topmost_authentication_results_of_our_server_counts() -> None:
    msg = EmailMessage()
    msg["Authentication-Results"] = "mx.acme.example; dmarc=fail header.from=shop.example"
    msg["Authentication-Results"] = "mx.acme.example; dmarc=pass header.from=shop.example"
    msg["From"] = "x@shop.example"
    msg.set_content("hi")
    assert not sender_verified(parse_mail(msg.as_bytes()), "mx.acme.example")
    assert not sender_verified(parse_mail(msg.as_bytes()), None)


async def test_storage_keys_cannot_escape_the_store(tmp_path: object) -> None:
    store = LocalStorage(tmp_path)  # type: ignore[arg-type]
    for key in ("../etc/passwd", "/abs", "a/../../b", ""):
        with pytest.raises(ValueError, match="invalid storage key"):
            await store.put(key, b"x", "text/plain")


async def test_one_poll_job_per_inbox_and_tick(
    db: Database, org_a: Org, runtime: EmailRuntime
) -> None:
    settings = {**BASE, "allow_private": []}
    inbox = await make_email_inbox(db, org_a, settings)
    await make_email_inbox(db, org_a, {}, name="not configured yet")  # is not polled
    await ensure_polling(db)
    await ensure_polling(db)  # a second worker starting: nothing new
    async with db.job(system=True) as session:
        jobs = list(await session.scalars(select(Job).where(Job.kind == POLL_JOB)))
    assert len(jobs) == 2  # the "now" poll of saving it, and the next tick
    assert {j.payload["inbox_id"] for j in jobs} == {str(inbox)}
    await JobRunner(db).run_once()  # the poll "now": fails to connect, records why, chains on
    async with db.job(org_a.id) as session:
        row = await session.get(Inbox, inbox)
        assert row is not None and "imap.corp.example" in row.settings["state"]["last_error"]
        row.enabled = False
    async with db.job(system=True) as session:
        pending = list(await session.scalars(
            select(Job).where(Job.kind == POLL_JOB, Job.status == "pending")))  # fmt: skip
    assert len(pending) == 1 and pending[0].run_at.timestamp() % 60 == 0


def test_ticks_sit_on_a_grid() -> None:
    at = dt.datetime(2026, 11, 21, 10, 0, 59, tzinfo=dt.UTC)
    assert next_tick(at, 60) == dt.datetime(2026, 11, 21, 10, 1, tzinfo=dt.UTC)
    assert next_tick(at + dt.timedelta(seconds=1), 60) == dt.datetime(2026, 11, 21, 10, 2,
                                                                       tzinfo=dt.UTC)  # fmt: skip
