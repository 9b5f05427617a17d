"""Compose an agent's reply and hand it to the inbox's SMTP server (aiosmtplib).

The connection goes to an address checked against the inbox's outbound policy (the socket is
connected here, then given to aiosmtplib with the configured host name for TLS). Failures are
sorted for the delivery job: the server unreachable, busy (4xx) or refusing our login →
:class:`TransientFailure` (the reply stays queued and is retried, the error shown to the
agent); the recipient or the message refused (5xx) → a permanent failure.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate

import aiosmtplib

from relaydesk.channels.email.html import text_to_html
from relaydesk.channels.email.settings import EmailSettings, outbound_policy
from relaydesk.conversations.delivery import TransientFailure
from relaydesk.kit.safehttp import BlockedDestination, resolve_checked

__all__ = ["Attachment", "Composed", "SendRefused", "compose", "send"]


class SendRefused(Exception):
    """The server refused the message or its recipient for good (a 5xx answer)."""


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes


@dataclass
class Composed:
    message_id: str
    to: str
    subject: str
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)


def compose(
    settings: EmailSettings,
    c: Composed,
    text: str,
    *,
    to_name: str | None = None,
    attachments: list[Attachment] | None = None,
) -> EmailMessage:
    """A multipart/alternative (plain + HTML) reply, threaded with In-Reply-To/References."""
    msg = EmailMessage()
    local, _, domain = settings.from_address.partition("@")
    msg["From"] = Address(display_name=settings.from_name or "", username=local, domain=domain)
    to_local, _, to_domain = c.to.partition("@")
    msg["To"] = Address(display_name=to_name or "", username=to_local, domain=to_domain)
    msg["Subject"] = c.subject
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = c.message_id
    if c.in_reply_to:
        msg["In-Reply-To"] = c.in_reply_to
    if c.references:
        msg["References"] = " ".join(c.references)
    msg.set_content(text)
    msg.add_alternative(text_to_html(text), subtype="html")
    for att in attachments or []:
        maintype, _, subtype = att.content_type.partition("/")
        msg.add_attachment(
            att.data,
            maintype=maintype or "application",
            subtype=subtype or "octet-stream",
            filename=att.filename,
        )
    return msg


async def _connect(
    addresses: list[str],
    port: int,
    timeout: float,  # noqa: ASYNC109 (per attempt)
) -> socket.socket:
    loop = asyncio.get_running_loop()
    last: Exception | None = None
    for address in addresses:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            await asyncio.wait_for(loop.sock_connect(sock, (address, port)), timeout)
            return sock
        except (OSError, TimeoutError) as exc:
            sock.close()
            last = exc
    raise TransientFailure(
        f"cannot connect to the SMTP server port {port}: {type(last).__name__}: {last}"
    )


async def send(
    settings: EmailSettings,
    password: str | None,
    message: EmailMessage,
    *,
    timeout: float = 30.0,  # noqa: ASYNC109 (aiosmtplib's per-command timeout)
    ssl_context: ssl.SSLContext | None = None,
) -> None:
    """Send ``message`` through the inbox's SMTP server (see the module docstring)."""
    smtp = settings.smtp
    port = smtp.effective_port()
    try:
        addresses = await resolve_checked(
            smtp.host, port, outbound_policy(settings), resolve_timeout=10.0
        )
    except BlockedDestination:
        raise
    except Exception as exc:  # DNS failure: may be temporary
        raise TransientFailure(f"SMTP {smtp.host}: {exc}") from None
    sock = await _connect(addresses, port, timeout)
    try:
        client = aiosmtplib.SMTP(
            hostname=smtp.host,
            sock=sock,
            timeout=timeout,
            use_tls=smtp.tls == "tls",
            start_tls=smtp.tls == "starttls",
            tls_context=ssl_context,
        )
    except Exception:
        sock.close()
        raise
    # From connect() on, the socket belongs to the asyncio transport made around it, which
    # closes it, also when connecting fails. Never close it here: after STARTTLS the transport
    # under the TLS one closes only once the TLS shutdown is over, and a socket closed under a
    # live transport lets its file descriptor be reused while the event loop still maps it to
    # that transport ("File descriptor N is used by transport" in whatever connects next).
    try:
        await client.connect()
        if smtp.user:
            await client.login(smtp.user, password or "")
        await client.send_message(message)
    except aiosmtplib.SMTPAuthenticationError as exc:
        raise TransientFailure(
            f"SMTP login refused ({exc.code} {exc.message}): check the "
            "inbox's smtp.user and smtp.password"
        ) from None
    except aiosmtplib.SMTPRecipientsRefused as exc:
        reasons = "; ".join(f"{e.recipient}: {e.code} {e.message}" for e in exc.recipients)
        raise SendRefused(f"SMTP refused the recipient: {reasons}") from None
    except aiosmtplib.SMTPResponseException as exc:
        if 400 <= exc.code < 500:
            raise TransientFailure(f"SMTP busy: {exc.code} {exc.message}") from None
        raise SendRefused(f"SMTP refused the message: {exc.code} {exc.message}") from None
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        raise TransientFailure(f"SMTP {smtp.host}:{port}: {type(exc).__name__}: {exc}") from None
    finally:
        if client.is_connected:
            try:
                await client.quit()
            except Exception:
                client.close()
