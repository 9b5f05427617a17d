"""Fixtures and helpers of the e-mail channel tests (import the fixtures into a test module)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from conftest import Org
from email_servers import (
    SMTP_PASSWORD,
    SMTP_USER,
    Dovecot,
    SmtpServer,
    run_dovecot,
)
from sqlalchemy import select

import relaydesk.conversations.delivery  # noqa: F401 - the message.deliver job
from relaydesk.channels import apply_settings, inbox_saved
from relaydesk.channels.email import EmailRuntime, LocalStorage, bind_email_runtime, email_runtime
from relaydesk.conversations.models import Conversation, Inbox, Message
from relaydesk.kit.crypto import Keyring, derive_key
from relaydesk.kit.db import Database

KEYRING = Keyring([derive_key("email-channel-tests")])


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    with run_dovecot() as server:
        yield server


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def smtp(smtp_server: SmtpServer) -> SmtpServer:
    """The SMTP server, running, with nothing received yet."""
    if smtp_server.controller is None:
        smtp_server.start()
    recorder = smtp_server.recorder
    recorder.received.clear()
    recorder.refuse.clear()
    recorder.logins.clear()
    return smtp_server


@pytest.fixture
def runtime(db: Database, tmp_path: Path) -> EmailRuntime:
    return bind_email_runtime(db, EmailRuntime(KEYRING, LocalStorage(tmp_path / "files"), 5.0))


@pytest.fixture
def mailbox() -> str:
    """A fresh mailbox (dovecot user) for the test."""
    return f"support-{uuid.uuid4().hex[:10]}@acme-support.example"


def email_settings(dovecot: Dovecot, outbox: SmtpServer | None, mailbox: str,
                   **overrides: Any) -> dict[str, Any]:  # fmt: skip
    settings: dict[str, Any] = {
        "imap": {"host": "127.0.0.1", "port": dovecot.port, "tls": "none", "user": mailbox,
                 "password": "imap-secret-42"},
        "smtp": {"host": "127.0.0.1", "port": outbox.port if outbox else 1, "tls": "none",
                 "user": SMTP_USER, "password": SMTP_PASSWORD},
        "from_address": mailbox, "from_name": "Acme 客服",
        "allow_private": ["127.0.0.1"],
    }  # fmt: skip
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(settings.get(key), dict):
            settings[key] = {**settings[key], **value}
        else:
            settings[key] = value
    return settings


async def make_email_inbox(db: Database, org: Org, settings: dict[str, Any],
                           name: str = "客服邮箱") -> uuid.UUID:  # fmt: skip
    """What InboxService.create does for an e-mail inbox once wired: validate, encrypt, poll."""
    async with db.job(org.id) as session:
        inbox = Inbox(tenant_id=org.id, name=name, channel="email")
        apply_settings(inbox, settings, email_runtime(db).keyring)  # the jobs' keyring
        session.add(inbox)
        await session.flush()
        await inbox_saved(session, inbox)
        return inbox.id


def customer_mail(mailbox: str, text: str, *, subject: str = "订单 SO20261121 还没到",
                  sender: str = "王小明 <xiaoming@customer.example>",
                  message_id: str | None = None, **headers: str) -> EmailMessage:  # fmt: skip
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = mailbox
    msg["Subject"] = subject
    msg["Message-ID"] = message_id or f"<{uuid.uuid4().hex}@customer.example>"
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(text)
    return msg


async def conversations(db: Database, org: Org, inbox_id: uuid.UUID) -> list[Conversation]:
    async with db.job(org.id) as session:
        rows = await session.scalars(
            select(Conversation).where(Conversation.inbox_id == inbox_id).order_by(Conversation.id)
        )
        return list(rows)


async def messages(db: Database, org: Org, conversation_id: uuid.UUID) -> list[Message]:
    async with db.job(org.id) as session:
        rows = await session.scalars(
            select(Message).where(Message.conversation_id == conversation_id).order_by(Message.id)
        )
        return list(rows)


async def inbox_state(db: Database, org: Org, inbox_id: uuid.UUID) -> dict[str, Any]:
    async with db.job(org.id) as session:
        inbox = await session.get(Inbox, inbox_id)
        assert inbox is not None
        return dict(inbox.settings.get("state") or {})
