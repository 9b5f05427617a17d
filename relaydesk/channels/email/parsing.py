"""Parse a raw e-mail (stdlib ``email``, default policy) into what the channel stores.

Nothing here touches the database or the network; :mod:`.inbound` decides what to do with
the result. Headers that cannot be parsed are treated as absent, never as an error: a
malformed mail still reaches the agent.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.headerregistry import Address
from email.message import EmailMessage, Message
from typing import Any

from relaydesk.channels.email.bounces import Bounce, detect_bounce

__all__ = ["ParsedMail", "RawAttachment", "normalise_message_id", "parse_mail", "sender_verified"]

_MSGID = re.compile(r"<[^<>\s]{1,500}>")
MAX_ID = 300


@dataclass
class RawAttachment:
    filename: str
    content_type: str
    data: bytes
    inline: bool = False
    content_id: str | None = None


@dataclass
class ParsedMail:
    message_id: str
    subject: str
    from_address: str | None
    from_name: str | None
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    in_reply_to: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    date: str | None = None
    text: str = ""
    html: str | None = None
    attachments: list[RawAttachment] = field(default_factory=list)
    auto_submitted: bool = False
    bounce: Bounce | None = None
    message: EmailMessage | None = field(default=None, repr=False)

    @property
    def thread_ids(self) -> list[str]:
        """Every Message-ID this mail answers, nearest first (In-Reply-To, then References)."""
        seen: list[str] = []
        for mid in [*self.in_reply_to, *reversed(self.references)]:
            if mid not in seen:
                seen.append(mid)
        return seen


def normalise_message_id(value: str) -> str:
    """``<local@domain>`` as stored (ids longer than the column are hashed, stably)."""
    value = value.strip()
    if not value.startswith("<"):
        value = f"<{value.strip('<>')}>"
    if len(value) > MAX_ID:
        value = f"<sha256.{hashlib.sha256(value.encode()).hexdigest()}@long-id.invalid>"
    return value


def _header(msg: Message, name: str) -> Any:
    try:
        return msg.get(name)
    except Exception:  # a header the policy cannot parse counts as absent
        return None


def _ids(value: Any) -> list[str]:
    return [normalise_message_id(m) for m in _MSGID.findall(str(value or ""))]


def _addresses(value: Any) -> list[Address]:
    try:
        return [a for a in getattr(value, "addresses", ()) if a.addr_spec and "@" in a.addr_spec]
    except Exception:
        return []


def _text_of(part: Message) -> str:
    try:
        content = part.get_content()  # type: ignore[attr-defined]
        if isinstance(content, str):
            return content
    except (LookupError, ValueError, AssertionError, KeyError):
        pass
    payload = part.get_payload(decode=True)
    return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""


def _body_parts(msg: EmailMessage) -> tuple[str, str | None, set[int]]:
    plain = msg.get_body(preferencelist=("plain",))
    html = msg.get_body(preferencelist=("html",))
    used = {id(p) for p in (plain, html) if p is not None}
    return (
        _text_of(plain) if plain is not None else "",
        _text_of(html) if html is not None else None,
        used,
    )


def _leaves(part: Message) -> list[Message]:
    """The non-multipart parts, without descending into attached messages."""
    if part.get_content_type() == "message/rfc822" or not part.is_multipart():
        return [part]
    payload = part.get_payload()
    children = payload if isinstance(payload, list) else []
    return [leaf for child in children if isinstance(child, Message) for leaf in _leaves(child)]


def _attachments(msg: EmailMessage, used: set[int]) -> list[RawAttachment]:
    found: list[RawAttachment] = []
    for part in _leaves(msg):
        if id(part) in used or part is msg:
            continue
        ctype = part.get_content_type()
        disposition = part.get_content_disposition()
        filename = part.get_filename()
        if disposition is None and filename is None and ctype.startswith("text/"):
            continue  # an alternative body we did not pick
        if ctype in ("message/delivery-status", "text/rfc822-headers"):
            continue
        if ctype == "message/rfc822":
            inner = part.get_payload()
            first = inner[0] if isinstance(inner, list) and inner else None
            data = first.as_bytes() if isinstance(first, Message) else b""
        else:
            payload = part.get_payload(decode=True)
            data = payload if isinstance(payload, bytes) else b""
        cid = str(part.get("Content-ID") or "").strip() or None
        found.append(
            RawAttachment(
                filename=_safe_filename(filename, ctype, len(found) + 1),
                content_type=ctype,
                data=data,
                inline=disposition == "inline",
                content_id=cid,
            )
        )
    return found


def _safe_filename(name: str | None, ctype: str, index: int) -> str:
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = re.sub(r"[\x00-\x1f\x7f]", "", name).strip(" .")
    if not name:
        ext = {"text/plain": ".txt", "text/html": ".html", "message/rfc822": ".eml"}.get(ctype)
        ext = ext or ("." + ctype.split("/", 1)[1][:10] if "/" in ctype else "")
        name = f"attachment-{index}{ext}"
    return name[:200]


def _auto_submitted(msg: Message) -> bool:
    auto = str(_header(msg, "Auto-Submitted") or "no").strip().lower()
    precedence = str(_header(msg, "Precedence") or "").strip().lower()
    return (
        auto != "no"
        or precedence in ("bulk", "junk", "auto_reply", "list")
        or _header(msg, "X-Autoreply") is not None
    )


def parse_mail(raw: bytes, *, our_domain: str | None = None) -> ParsedMail:
    msg = message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    ids = _ids(_header(msg, "Message-ID"))
    message_id = ids[0] if ids else f"<sha256.{hashlib.sha256(raw).hexdigest()}@no-id.invalid>"
    sender = _addresses(_header(msg, "From"))
    text, html, used = _body_parts(msg)
    return ParsedMail(
        message_id=message_id,
        subject=" ".join(str(_header(msg, "Subject") or "").split())[:300],
        from_address=sender[0].addr_spec.lower() if sender else None,
        from_name=(sender[0].display_name or None) if sender else None,
        to=[a.addr_spec.lower() for a in _addresses(_header(msg, "To"))],
        cc=[a.addr_spec.lower() for a in _addresses(_header(msg, "Cc"))],
        in_reply_to=_ids(_header(msg, "In-Reply-To")),
        references=_ids(_header(msg, "References"))[-50:],
        date=str(_header(msg, "Date") or "") or None,
        text=text,
        html=html,
        attachments=_attachments(msg, used),
        auto_submitted=_auto_submitted(msg),
        bounce=detect_bounce(msg, our_domain=our_domain),
        message=msg,
    )


def sender_verified(mail: ParsedMail, authserv_id: str | None) -> bool:
    """True when YOUR mail server vouches for the sender: see docs/channels.md.

    Only the topmost ``Authentication-Results`` header counts (the one your server added last;
    RFC 8601 asks servers to remove look-alikes from outside), only if its authserv-id is the
    configured one, and only with ``dmarc=pass`` for the From address's own domain.
    """
    if not authserv_id or mail.message is None or not mail.from_address:
        return False
    headers = mail.message.get_all("Authentication-Results") or []
    if not headers:
        return False
    server, _, results = str(headers[0]).partition(";")
    if (server.split() or [""])[0].strip().lower() != authserv_id.strip().lower():
        return False
    domain = mail.from_address.rsplit("@", 1)[1]
    for clause in results.split(";"):
        words = clause.strip().lower().split()
        if words and words[0] == "dmarc=pass" and f"header.from={domain}" in words:
            return True
    return False
