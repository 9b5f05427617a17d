"""Bounces: recognise a delivery failure report and the message it is about.

Standard reports (RFC 3464: ``multipart/report; report-type=delivery-status``) give the
original Message-ID in their ``message/rfc822`` or ``text/rfc822-headers`` part and the
per-recipient ``Action`` / ``Status`` / ``Diagnostic-Code``. Older servers send a plain mail
from ``MAILER-DAEMON`` or ``postmaster`` (often with an empty return path): for those, the
original is the first Message-ID of *our* domain quoted in the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email import message_from_string, policy
from email.message import Message

__all__ = ["Bounce", "detect_bounce"]

_DAEMON = re.compile(r"^(mailer-daemon|postmaster|mail-daemon|mailerdaemon)@", re.I)
_SUBJECT = re.compile(
    r"undeliver|delivery (status|failure|has failed)|returned mail|failure notice|"
    r"mail delivery failed|退信|未能送达|投递失败|无法投递",
    re.I,
)
_MSGID = re.compile(r"<[^<>\s]{1,300}>")


@dataclass
class Bounce:
    #: the Message-ID of our message that bounced (None: not found in the report)
    original_message_id: str | None
    #: "5.1.1 user unknown (to x@example.com)"
    reason: str
    #: False for "delayed" reports (the server keeps trying)
    permanent: bool = True
    recipients: list[str] = field(default_factory=list)


def _first_id(text: str, domain: str | None = None) -> str | None:
    for match in _MSGID.findall(text):
        if domain is None or match.lower().endswith(f"@{domain.lower()}>"):
            return str(match)
    return None


def _blocks(part: Message) -> list[Message]:
    payload = part.get_payload()
    if isinstance(payload, list):
        return [p for p in payload if isinstance(p, Message)]
    text = payload if isinstance(payload, str) else ""
    return [
        message_from_string(chunk, policy=policy.default)
        for chunk in re.split(r"\r?\n\r?\n", text)
        if chunk.strip()
    ]


def _report(msg: Message) -> Bounce | None:
    original: str | None = None
    actions: list[tuple[str, str, str, str]] = []
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype == "message/delivery-status":
            for block in _blocks(part)[1:]:  # the first block is per-message
                action = str(block.get("Action") or "").strip().lower()
                status = str(block.get("Status") or "").strip()
                diag = str(block.get("Diagnostic-Code") or "").partition(";")[2].strip()
                rcpt = str(block.get("Final-Recipient") or block.get("Original-Recipient") or "")
                actions.append((action, status, diag, rcpt.partition(";")[2].strip()))
        elif ctype == "message/rfc822" and original is None:
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                original = _first_id(str(inner[0].get("Message-ID") or ""))
        elif ctype == "text/rfc822-headers" and original is None:
            headers = message_from_string(str(part.get_payload()), policy=policy.default)
            original = _first_id(str(headers.get("Message-ID") or ""))
    failed = [a for a in actions if a[0] == "failed"]
    chosen = failed or [a for a in actions if a[0] == "delayed"]
    if not chosen:
        return None
    reasons = []
    for _action, status, diag, rcpt in chosen:
        text = " ".join(x for x in (status, diag) if x) or "delivery failed"
        reasons.append(f"{text} (to {rcpt})" if rcpt else text)
    return Bounce(
        original,
        "; ".join(reasons)[:400],
        permanent=bool(failed),
        recipients=[a[3] for a in chosen if a[3]],
    )


def detect_bounce(msg: Message, *, our_domain: str | None = None) -> Bounce | None:
    """The bounce this mail reports, or None if it is not a delivery failure report."""
    if msg.get_content_type() == "multipart/report":
        if str(msg.get_param("report-type") or "").lower() == "delivery-status":
            return _report(msg)
        return None
    sender = str(msg.get("From") or "")
    addresses = re.findall(r"[\w.+\-]+@[\w.\-]+", sender)
    return_path = str(msg.get("Return-Path") or "").strip()
    daemon = any(_DAEMON.match(a) for a in addresses) or return_path == "<>"
    if not daemon or not _SUBJECT.search(str(msg.get("Subject") or "")):
        return None
    text = ""
    for part in msg.walk():
        if part.get_content_type() == "text/plain" or part.get_content_maintype() == "message":
            payload = part.get_payload(decode=True)
            text += payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
            text += "\n" + "\n".join(f"{k}: {v}" for k, v in part.items())
    reason = next(
        (
            line.strip()
            for line in text.splitlines()
            if re.search(r"\b5\d\d\b|\b5\.\d+\.\d+\b|unknown|does not exist|rejected", line, re.I)
        ),
        None,
    )
    return Bounce(_first_id(text, our_domain), (reason or str(msg.get("Subject")))[:400])
