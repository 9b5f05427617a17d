"""What an inbound mail becomes: sanitised HTML, folded quotes, attachments and their limits,
oversized mails, verified senders, TLS with the inbox's own CA, and refused destinations."""

from __future__ import annotations

import hashlib
from pathlib import Path

import email_support
from conftest import Org
from email_servers import Dovecot
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
from relaydesk.customers.models import CustomerIdentity
from relaydesk.kit.db import Database

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200

# the shared fixtures
dovecot = email_support.dovecot
mailbox = email_support.mailbox
runtime = email_support.runtime


async def test_html_mail_is_sanitised_and_its_text_and_quote_are_split(
    db: Database, org_a: Org, dovecot: Dovecot, runtime: EmailRuntime, mailbox: str
) -> None:
    inbox = await make_email_inbox(db, org_a, email_settings(dovecot, None, mailbox))
    mail = customer_mail(mailbox, "")
    mail.set_content(
        '<html><head><style>p{color:red}</style><script>steal()</script></head><body>'
        '<p onclick="steal()">Hello, <b>my parcel</b> is late.</p>'
        '<img src="https://tracker.example/open.gif"><img src="cid:logo@x">'
        '<a href="javascript:steal()">click</a> <a href="https://shop.example/o/1">order</a>'
        '<div class="gmail_quote">On Fri, 20 Nov 2026 Acme wrote:<br>'
        '<blockquote>&gt; Your parcel has shipped.</blockquote></div></body></html>',
        subtype="html",
    )  # fmt: skip
    dovecot.deliver(mailbox, mail)
    await poll_inbox(db, org_a.id, inbox)
    [conversation] = await conversations(db, org_a, inbox)
    [message] = await messages(db, org_a, conversation.id)
    html = message.content["html"]
    for bad in ("<script", "steal()", "onclick", "<style", "tracker.example", "javascript:"):
        assert bad not in html, bad
    assert "<b>my parcel</b>" in html and 'src="cid:logo@x"' in html
    assert 'href="https://shop.example/o/1"' in html and "nofollow" in html
    assert message.body == "Hello, my parcel is late.\n\nclick order"
    assert message.content["quoted"].startswith("On Fri, 20 Nov 2026 Acme wrote:")
    assert "<" not in message.body


async def test_attachments_are_stored_or_refused_with_a_reason(
    db: Database, org_a: Org, dovecot: Dovecot, runtime: EmailRuntime, mailbox: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    settings = email_settings(dovecot, None, mailbox, max_attachment_bytes=2048)
    inbox = await make_email_inbox(db, org_a, settings)
    mail = customer_mail(mailbox, "照片和发票见附件")
    mail.add_attachment(PNG, maintype="image", subtype="png", filename="破损照片.png")
    mail.add_attachment(b"%PDF-1.7\n" + b"x" * 3000, maintype="application", subtype="pdf",
                        filename="invoice.pdf")  # fmt: skip
    mail.add_attachment(b"MZ\x90\x00", maintype="application", subtype="octet-stream",
                        filename="tool.exe")  # fmt: skip
    dovecot.deliver(mailbox, mail)
    await poll_inbox(db, org_a.id, inbox)
    [conversation] = await conversations(db, org_a, inbox)
    [message] = await messages(db, org_a, conversation.id)
    photo, invoice, tool = message.attachments
    digest = hashlib.sha256(PNG).hexdigest()
    assert photo == {
        "filename": "破损照片.png", "content_type": "image/png", "size": len(PNG),
        "sha256": digest, "storage_key": f"attachments/{org_a.id}/{digest[:2]}/{digest}",
    }  # fmt: skip
    assert (tmp_path / "files" / photo["storage_key"]).read_bytes() == PNG
    assert invoice["refused"] == "too large: 3009 bytes, the limit is 2048 bytes"
    assert "storage_key" not in invoice and invoice["size"] == 3009
    assert tool["refused"] == "file type .exe is not accepted"
    assert message.body == "照片和发票见附件"


async def test_an_oversized_mail_is_recorded_without_its_body(
    db: Database, org_a: Org, dovecot: Dovecot, runtime: EmailRuntime, mailbox: str
) -> None:
    inbox = await make_email_inbox(
        db, org_a, email_settings(dovecot, None, mailbox, max_message_bytes=64 * 1024)
    )
    mail = customer_mail(mailbox, "大附件", subject="扫描件")
    mail.add_attachment(b"\xff" * 100_000, maintype="application", subtype="pdf",
                        filename="scan.pdf")  # fmt: skip
    dovecot.deliver(mailbox, mail)
    await poll_inbox(db, org_a.id, inbox)
    [conversation] = await conversations(db, org_a, inbox)
    [message] = await messages(db, org_a, conversation.id)
    assert conversation.subject == "扫描件" and message.attachments == []
    assert "larger than the inbox's limit of 65536 bytes" in message.content["refused"]
    assert message.body.startswith("[This e-mail was not accepted: the message is ")


async def test_a_sender_is_verified_only_by_our_own_servers_dmarc_result(
    db: Database, org_a: Org, dovecot: Dovecot, runtime: EmailRuntime, mailbox: str
) -> None:
    settings = email_settings(dovecot, None, mailbox, trusted_authserv_id="mx.acme.example")
    inbox = await make_email_inbox(db, org_a, settings)
    forged_result = "evil.example; dmarc=pass header.from=bank.example"
    forged = customer_mail(
        mailbox, "我是 VIP", sender="vip@bank.example", Authentication_Results=forged_result
    )
    dovecot.deliver(mailbox, forged)
    ours = "mx.acme.example; spf=pass smtp.mailfrom=shop.example; dmarc=pass (p=reject) " \
        "header.from=shop.example"  # fmt: skip
    genuine = customer_mail(
        mailbox, "我是 VIP", sender="real@shop.example", Authentication_Results=ours
    )
    dovecot.deliver(mailbox, genuine)
    await poll_inbox(db, org_a.id, inbox)
    async with db.job(org_a.id) as session:
        rows = await session.scalars(
            select(CustomerIdentity).where(CustomerIdentity.kind == "email")
        )
        verified = {i.value: i.verified for i in rows}
    assert verified == {"vip@bank.example": False, "real@shop.example": True}


async def test_implicit_tls_with_the_inboxs_own_ca(
    db: Database, org_a: Org, dovecot: Dovecot, runtime: EmailRuntime, mailbox: str
) -> None:
    settings = email_settings(
        dovecot, None, mailbox, allow_private=["localhost"], ca_pem=dovecot.ca_pem,
        imap={"host": "localhost", "port": dovecot.tls_port, "tls": "tls"},
    )  # fmt: skip
    inbox = await make_email_inbox(db, org_a, settings)
    dovecot.deliver(mailbox, customer_mail(mailbox, "加密连接"))
    result = await poll_inbox(db, org_a.id, inbox)
    assert result.error is None and [r.outcome for r in result.received] == ["message"]

    untrusted = email_settings(
        dovecot, None, mailbox, allow_private=["localhost"],
        imap={"host": "localhost", "port": dovecot.tls_port, "tls": "tls"},
    )  # fmt: skip
    other = await make_email_inbox(db, org_a, untrusted, name="未配置 CA")
    failed = await poll_inbox(db, org_a.id, other)
    assert failed.error is not None and "CERTIFICATE_VERIFY_FAILED" in failed.error


async def test_metadata_and_unlisted_private_hosts_are_refused(
    db: Database, org_a: Org, dovecot: Dovecot, runtime: EmailRuntime, mailbox: str
) -> None:
    metadata = await make_email_inbox(db, org_a, email_settings(
        dovecot, None, mailbox, allow_private=["169.254.0.0/16"],
        imap={"host": "169.254.169.254"}), name="metadata")  # fmt: skip
    result = await poll_inbox(db, org_a.id, metadata)
    assert result.error is not None and "always blocked" in result.error
    state = await inbox_state(db, org_a, metadata)
    assert "169.254.169.254" in state["last_error"]

    private = await make_email_inbox(
        db, org_a, email_settings(dovecot, None, mailbox, allow_private=[]), name="loopback"
    )
    refused = await poll_inbox(db, org_a.id, private)
    assert refused.error is not None and "allow-list" in refused.error
