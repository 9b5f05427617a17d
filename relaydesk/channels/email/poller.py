"""Reading e-mail inboxes: an ``email.poll`` job per inbox and tick, through the job queue.

Ticks sit on a grid (multiples of the inbox's ``poll_seconds`` since the epoch) and a tick's
job has the dedupe key ``email.poll:<inbox id>:<tick>``. A running poll first enqueues the
next tick after *now*, then reads the mailbox; so whichever processes enqueue (saving the
inbox, a worker starting, the previous tick), there is one job per inbox and tick, the job
queue's lease gives it to one worker, and two chains started on different grids merge at
their next tick. With ``idle`` the job stays in IMAP IDLE until shortly before the next tick,
so new mail arrives within seconds; without it the mailbox is read once a tick.

State (``settings.state``): ``uidvalidity``, ``last_uid`` (the highest UID handled; each mail
commits together with it), ``last_poll_at``, ``last_error`` (shown to admins). A new
UIDVALIDITY or a first poll reads the last ``backfill_days`` days; Message-ID de-duplication
makes re-reading harmless.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import structlog
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.channels import inbox_secrets
from relaydesk.channels.email.imap import ImapParams, MailboxError, MailboxSession
from relaydesk.channels.email.inbound import Received, process_mail, store_attachments
from relaydesk.channels.email.parsing import parse_mail
from relaydesk.channels.email.runtime import email_runtime
from relaydesk.channels.email.settings import (
    EmailSettings,
    load_settings,
    outbound_policy,
    ssl_context,
)
from relaydesk.conversations.models import Inbox
from relaydesk.jobs import JobContext, enqueue, job_handler
from relaydesk.kit.crypto import DecryptionFailed
from relaydesk.kit.db import Database, utcnow
from relaydesk.kit.safehttp import resolve_checked

log = structlog.get_logger(__name__)

__all__ = ["POLL_JOB", "PollResult", "ensure_polling", "poll_inbox", "schedule_poll"]

POLL_JOB = "email.poll"
#: at most this many mails are read per poll (the rest at the next tick)
BATCH = 200
#: IDLE ends this long before the next tick so that ticks never overlap
IDLE_MARGIN = 3.0


def _configured(inbox: Inbox) -> bool:
    return inbox.channel == "email" and inbox.enabled and bool((inbox.settings or {}).get("imap"))


def next_tick(now: dt.datetime, seconds: int) -> dt.datetime:
    stamp = (int(now.timestamp()) // seconds + 1) * seconds
    return dt.datetime.fromtimestamp(stamp, dt.UTC)


def poll_key(inbox_id: uuid.UUID, tick: dt.datetime) -> str:
    return f"{POLL_JOB}:{inbox_id}:{tick.astimezone(dt.UTC).isoformat()}"


async def schedule_poll(session: AsyncSession, inbox: Inbox, *, now: bool = False) -> None:
    """Enqueue the inbox's next poll on its grid, or (``now``) one right away.

    A poll "now" (after an admin saved the inbox) is deduplicated per 10-second window, so
    saving twice quickly reads the mailbox once.
    """
    if not _configured(inbox):
        return
    seconds = int((inbox.settings or {}).get("poll_seconds") or 60)
    current = utcnow()
    if now:
        run_at = current
        key = f"{POLL_JOB}:{inbox.id}:now:{int(current.timestamp()) // 10}"
    else:
        run_at = next_tick(current, seconds)
        key = poll_key(inbox.id, run_at)
    await enqueue(
        session,
        POLL_JOB,
        {"inbox_id": str(inbox.id)},
        tenant_id=inbox.tenant_id,
        run_at=run_at,
        dedupe_key=key,
        max_attempts=3,
    )


async def on_inbox_saved(session: AsyncSession, inbox: Inbox) -> None:
    await schedule_poll(session, inbox, now=True)


async def ensure_polling(db: Database) -> int:
    """Enqueue the next poll of every enabled e-mail inbox (a worker calls it at start-up)."""
    async with db.job(system=True) as session:
        inboxes = list(
            await session.scalars(
                select(Inbox).where(Inbox.channel == "email", Inbox.enabled.is_(True))
            )
        )
        for inbox in inboxes:
            await schedule_poll(session, inbox)
    return len(inboxes)


@dataclass
class PollResult:
    received: list[Received] = field(default_factory=list)
    error: str | None = None


@dataclass(frozen=True)
class _Snapshot:
    settings: EmailSettings
    password: str
    state: dict[str, Any]


async def _snapshot(db: Database, tenant_id: uuid.UUID, inbox_id: uuid.UUID) -> _Snapshot | None:
    async with db.job(tenant_id) as session:
        inbox = await session.get(Inbox, inbox_id)
        if inbox is None or inbox.channel != "email" or not inbox.enabled:
            return None
        try:
            settings = load_settings(dict(inbox.settings or {}))
            secrets = inbox_secrets(email_runtime(db).keyring, inbox)
        except (ValidationError, DecryptionFailed) as exc:
            error = f"the inbox's settings cannot be used: {exc}"[:500]
            log.warning("email.poll_failed", inbox_id=str(inbox_id), error=error)
            _with_state(inbox, last_poll_at=utcnow().isoformat(), last_error=error)
            return None
        return _Snapshot(
            settings,
            str(secrets.get("imap.password") or ""),
            dict((inbox.settings or {}).get("state") or {}),
        )


def _with_state(inbox: Inbox, **changes: Any) -> None:
    settings = dict(inbox.settings or {})
    state = dict(settings.get("state") or {})
    state.update(changes)
    settings["state"] = state
    inbox.settings = settings  # a new dict: the JSON column sees the change


async def _record(db: Database, tenant_id: uuid.UUID, inbox_id: uuid.UUID, **changes: Any) -> None:
    async with db.job(tenant_id) as session:
        inbox = await session.get(Inbox, inbox_id)
        if inbox is not None:
            _with_state(inbox, **changes)


async def _handle(
    db: Database,
    tenant_id: uuid.UUID,
    inbox_id: uuid.UUID,
    mailbox: MailboxSession,
    uid: int,
    size: int | None,
    snap: _Snapshot,
) -> Received:
    settings = snap.settings
    runtime = email_runtime(db)
    refused = None
    if size is not None and size > settings.max_message_bytes:
        refused = (
            f"the message is {size} bytes, larger than the inbox's limit of "
            f"{settings.max_message_bytes} bytes"
        )
    raw = await asyncio.to_thread(mailbox.fetch, uid, headers_only=refused is not None)
    try:
        mail = parse_mail(raw, our_domain=settings.domain)
    except Exception as exc:  # a mail the parser cannot read: skip it, and say so
        note = f"UID {uid} skipped: cannot parse it: {exc}"[:300]
        log.warning("email.mail_skipped", inbox_id=str(inbox_id), uid=uid, error=str(exc))
        await _record(db, tenant_id, inbox_id, last_uid=uid, last_error=note)
        return Received("ignored", note=note)
    attachments = (
        [] if refused else await store_attachments(runtime.storage, tenant_id, mail, settings)
    )
    async with db.job(tenant_id) as session:
        inbox = await session.get(Inbox, inbox_id)
        if inbox is None or not inbox.enabled:  # read again once it is enabled
            return Received("ignored", note="inbox deleted or disabled")
        try:
            async with session.begin_nested():
                result = await process_mail(
                    session, inbox, settings, mail, attachments, refused=refused
                )
        except SQLAlchemyError:
            raise
        except Exception as exc:  # one bad mail must not block the mailbox
            log.warning("email.mail_skipped", inbox_id=str(inbox_id), uid=uid, error=str(exc))
            result = Received("ignored", note=f"UID {uid} skipped: {exc}"[:300])
            _with_state(inbox, last_uid=uid, last_error=result.note)
            return result
        _with_state(inbox, last_uid=uid)
    return result


async def poll_inbox(
    db: Database, tenant_id: uuid.UUID, inbox_id: uuid.UUID, *, idle_seconds: float = 0.0
) -> PollResult:
    """Read the inbox's new mail (then IDLE up to ``idle_seconds``, reading what arrives)."""
    result = PollResult()
    snap = await _snapshot(db, tenant_id, inbox_id)
    if snap is None:
        return result
    settings, imap = snap.settings, snap.settings.imap
    deadline = time.monotonic() + idle_seconds
    try:
        addresses = await resolve_checked(
            imap.host, imap.effective_port(), outbound_policy(settings), resolve_timeout=10.0
        )
        params = ImapParams(
            imap.host,
            imap.effective_port(),
            imap.tls,
            imap.user,
            snap.password,
            imap.mailbox,
            tuple(addresses),
            ssl_context(settings),
            email_runtime(db).timeout,
        )
        mailbox = await asyncio.to_thread(MailboxSession, params)
    except Exception as exc:  # blocked destination, DNS, connection, TLS, login
        result.error = str(exc) or type(exc).__name__
        log.warning("email.poll_failed", inbox_id=str(inbox_id), error=result.error)
        await _record(
            db,
            tenant_id,
            inbox_id,
            last_poll_at=utcnow().isoformat(),
            last_error=result.error[:500],
        )
        return result
    try:
        state = snap.state
        while True:
            result.received += await _read_new(db, tenant_id, inbox_id, mailbox, snap, state)
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not await asyncio.to_thread(mailbox.idle, remaining):
                break
            fresh = await _snapshot(db, tenant_id, inbox_id)
            if fresh is None:
                break
            state = fresh.state
        await _record(db, tenant_id, inbox_id, last_poll_at=utcnow().isoformat(), last_error=None)
    except (MailboxError, OSError) as exc:
        result.error = str(exc)
        await _record(
            db,
            tenant_id,
            inbox_id,
            last_poll_at=utcnow().isoformat(),
            last_error=result.error[:500],
        )
    finally:
        await asyncio.to_thread(mailbox.close)
    return result


async def _read_new(
    db: Database,
    tenant_id: uuid.UUID,
    inbox_id: uuid.UUID,
    mailbox: MailboxSession,
    snap: _Snapshot,
    state: dict[str, Any],
) -> list[Received]:
    first = state.get("uidvalidity") != mailbox.uidvalidity or state.get("last_uid") is None
    if first:
        days = snap.settings.backfill_days
        since = (utcnow() - dt.timedelta(days=days)).strftime("%d-%b-%Y")
        uids = await asyncio.to_thread(mailbox.uids_since, since) if days else []
        base = min(uids) - 1 if uids else max(mailbox.uidnext - 1, 0)
        await _record(db, tenant_id, inbox_id, uidvalidity=mailbox.uidvalidity, last_uid=base)
    else:
        uids = await asyncio.to_thread(mailbox.uids_after, int(state["last_uid"]))
    uids = uids[:BATCH]
    sizes = await asyncio.to_thread(mailbox.sizes, uids)
    out = []
    for uid in uids:
        out.append(await _handle(db, tenant_id, inbox_id, mailbox, uid, sizes.get(uid), snap))
    return out


@job_handler(POLL_JOB)
async def poll_job(ctx: JobContext, payload: dict[str, Any]) -> None:
    if ctx.tenant_id is None:
        return
    inbox_id = uuid.UUID(str(payload["inbox_id"]))
    async with ctx.db.job(ctx.tenant_id) as session:
        inbox = await session.get(Inbox, inbox_id)
        if inbox is None or not _configured(inbox):
            return  # the chain ends; saving the inbox again starts it
        seconds = int((inbox.settings or {}).get("poll_seconds") or 60)
        idle = bool((inbox.settings or {}).get("idle"))
        tick = next_tick(utcnow(), seconds)
        await enqueue(
            session,
            POLL_JOB,
            {"inbox_id": str(inbox_id)},
            tenant_id=ctx.tenant_id,
            run_at=tick,
            dedupe_key=poll_key(inbox_id, tick),
            max_attempts=3,
        )
    idle_seconds = (tick - utcnow()).total_seconds() - IDLE_MARGIN if idle else 0.0
    await poll_inbox(ctx.db, ctx.tenant_id, inbox_id, idle_seconds=max(0.0, idle_seconds))
