"""Agents download the files of a conversation's messages.

``GET /api/v1/conversations/{conversation_id}/messages/{message_id}/attachments/{index}``:
``index`` is the attachment's position in ``message.attachments`` (0-based; entries never
move once the message is stored). The caller needs ``conversations.read`` and must be able to
read the conversation: another tenant's ids, a conversation outside the caller's departments,
a message of another conversation, an index out of range, a refused attachment (never stored)
and a file no longer in the store all answer **404**.

What the browser gets:

* ``Content-Type`` is the stored type only for raster images and PDF (:data:`SAFE_TYPES`);
  anything else (HTML, SVG, scripts, Office files ...) is ``application/octet-stream``, so
  nothing a customer sent is ever rendered as a page of our origin;
* ``Content-Disposition: attachment`` with an ASCII fallback name and the real one in RFC 5987
  form (``filename*=UTF-8''%E5%8F%91%E7%A5%A8.pdf``); ``inline`` only when asked for and only
  for raster images (a preview in the workbench);
* ``X-Content-Type-Options: nosniff`` (as on every response), a sandboxing CSP,
  ``Cache-Control: private, no-store`` and the file's SHA-256 as ``ETag``.

Every download is audited (``conversation.attachment_downloaded``: who, which message and
file, never the bytes) in its own short transaction, committed before the first byte is sent.

Files are read from the attachment stores of ``relaydesk/channels/email/storage.py``: local
files are streamed in chunks; other stores (S3-compatible buckets) go through the same
:class:`~relaydesk.channels.email.storage.BlobStorage` interface, whose ``get`` returns the
whole object (bounded by the channels' attachment limit), which is then sent in chunks.
"""

from __future__ import annotations

import asyncio
import re
import unicodedata
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

import httpx
import structlog
from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.audit import service as audit
from relaydesk.auth.principal import Principal
from relaydesk.conversations.repository import ConversationRepository, MessageRepository
from relaydesk.errors import NotFound, ServiceUnavailable
from relaydesk.kit.db import Database, database_of

if TYPE_CHECKING:
    from relaydesk.channels.email.storage import BlobStorage

__all__ = [
    "AUDIT_ACTION",
    "OPENAPI_200",
    "SAFE_TYPES",
    "Blob",
    "Located",
    "attachment_stores",
    "content_disposition",
    "download",
    "locate",
    "open_blob",
    "served_type",
]

AUDIT_ACTION: Final = "conversation.attachment_downloaded"
#: types served as themselves; everything else is application/octet-stream
SAFE_TYPES: Final = frozenset(
    {"image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp", "application/pdf"}
)
#: types that may be shown inline when asked for (PDF viewers run scripts: never inline)
INLINE_TYPES: Final = SAFE_TYPES - {"application/pdf"}
CHUNK: Final = 64 * 1024
log = structlog.get_logger(__name__)
#: what attachment_key() writes: attachments/<tenant>/<sha256[:2]>/<sha256>
_KEY: Final = re.compile(
    r"^attachments/(?P<tenant>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
    r"/(?P<fan>[0-9a-f]{2})/(?P<sha>[0-9a-f]{64})$"
)
#: the OpenAPI description of the route's 200 answer
OPENAPI_200: Final[dict[str, Any]] = {
    "description": "The file's bytes (Content-Disposition names the file)",
    "content": {t: {"schema": {"type": "string", "format": "binary"}}
                for t in ("application/octet-stream", *sorted(SAFE_TYPES))},
}
_UNSAFE_NAME: Final = re.compile(r"[\x00-\x1f\x7f/\\\"]+")
_NOT_TOKEN: Final = re.compile(r"[^A-Za-z0-9._ ()\-+]+")


def served_type(stored: str | None) -> str:
    """The Content-Type a stored type is served with."""
    base = (stored or "").split(";")[0].strip().lower()
    return base if base in SAFE_TYPES else "application/octet-stream"


def _clean_name(name: str | None) -> str:
    cleaned = _UNSAFE_NAME.sub("_", name or "").strip(" .")[:200]
    return cleaned or "file"


def _ascii_fallback(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    fallback = _NOT_TOKEN.sub("_", decomposed).strip(" ._")
    _, dot, ext = name.rpartition(".")
    ext_ascii = _NOT_TOKEN.sub("", ext) if dot else ""
    if not fallback or fallback.replace("_", "") == ext_ascii:
        return f"file.{ext_ascii}" if ext_ascii else "file"
    return fallback


def content_disposition(filename: str | None, *, inline: bool = False) -> str:
    """``attachment; filename="<ASCII>"; filename*=UTF-8''<RFC 5987>`` (or ``inline; ...``)."""
    name = _clean_name(filename)
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{_ascii_fallback(name)}\"; filename*=UTF-8''{quote(name, safe='')}"


@dataclass(frozen=True)
class Located:
    """One attachment the caller may read."""

    conversation_id: uuid.UUID
    message_id: uuid.UUID
    index: int
    entry: dict[str, Any]
    storage_key: str


async def locate(
    session: AsyncSession,
    principal: Principal,
    conversation_id: uuid.UUID,
    message_id: uuid.UUID,
    index: int,
) -> Located:
    """The attachment, read through the caller's tenant and department scope (else 404)."""
    conversation = await ConversationRepository(session).get_or_404(conversation_id)
    message = await MessageRepository(session).get(message_id)
    if message is None or message.conversation_id != conversation.id:
        raise NotFound(f"message {message_id} not found in conversation {conversation_id}")
    entries = message.attachments or []
    if not 0 <= index < len(entries) or not isinstance(entries[index], dict):
        raise NotFound(f"message {message_id} has no attachment {index} "
                       f"({len(entries)} attachment(s), numbered from 0)")  # fmt: skip
    entry = entries[index]
    key = entry.get("storage_key")
    if not isinstance(key, str) or not key:
        reason = entry.get("refused") or "it was sent as a link"
        raise NotFound(f"attachment {index} was not stored: {reason}",
                       code="attachment_not_stored")  # fmt: skip
    found = _KEY.match(key)
    if found is None or found["tenant"] != str(principal.tenant_id):
        raise NotFound(f"message {message_id} has no attachment {index}")
    return Located(conversation.id, message.id, index, entry, key)


# --- reading the bytes -----------------------------------------------------------------------


@dataclass
class Blob:
    size: int
    chunks: AsyncIterator[bytes]


async def _file_chunks(path: Path) -> AsyncIterator[bytes]:
    handle = await asyncio.to_thread(path.open, "rb")
    try:
        while chunk := await asyncio.to_thread(handle.read, CHUNK):
            yield chunk
    finally:
        await asyncio.to_thread(handle.close)


async def _memory_chunks(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), CHUNK):
        yield data[start : start + CHUNK]


def _stat_file(path: Path) -> int | None:
    try:
        return path.stat().st_size if path.is_file() else None
    except OSError:
        return None


async def open_blob(stores: Sequence[BlobStorage], key: str) -> Blob | None:
    """The stored bytes of ``key`` from the first store that has them (None: none has).

    A store that cannot be read (S3 answering an error or not answering) is skipped; if no
    other store has the file, that is a 503 naming the failure, not a 404 or a 500."""
    from relaydesk.channels.email.storage import LocalStorage

    if _KEY.match(key) is None:
        return None
    failure: str | None = None
    for store in stores:
        if isinstance(store, LocalStorage):
            path = store.root / key
            size = await asyncio.to_thread(_stat_file, path)
            if size is not None:
                return Blob(size, _file_chunks(path))
            continue
        try:
            data = await store.get(key)
        except (FileNotFoundError, ValueError):
            continue
        except (OSError, httpx.HTTPError) as exc:
            failure = type(exc).__name__
            log.warning("attachments.store_unreadable", error=failure, detail=str(exc)[:200])
            continue
        return Blob(len(data), _memory_chunks(data))
    if failure is not None:
        raise ServiceUnavailable(
            "the attachment store cannot be read now; try again later",
            details={"store_error": failure},
        )
    return None


def attachment_stores(db: Database) -> list[BlobStorage]:
    """The stores attachments may be in: the configured one (an S3 bucket or data_dir/files),
    then the web chat's (it keeps its uploads under data_dir/files), without duplicates."""
    from relaydesk.channels.email.runtime import email_runtime
    from relaydesk.channels.email.storage import LocalStorage
    from relaydesk.channels.webchat.runtime import webchat_runtime

    stores: list[BlobStorage] = []
    seen: set[Any] = set()
    for store in (email_runtime(db).storage, webchat_runtime(db).storage):
        ident = ("local", store.root.resolve()) if isinstance(store, LocalStorage) else id(store)
        if ident not in seen:
            seen.add(ident)
            stores.append(store)
    return stores


# --- the response ----------------------------------------------------------------------------


async def download(
    session: AsyncSession,
    principal: Principal,
    conversation_id: uuid.UUID,
    message_id: uuid.UUID,
    index: int,
    *,
    inline: bool = False,
    stores: Sequence[BlobStorage] | None = None,
) -> StreamingResponse:
    """Locate, read, audit, then stream the attachment (see the module docstring)."""
    db = database_of(session)
    if db is None:  # pragma: no cover - request sessions always know their database
        raise RuntimeError("the session has no database")
    found = await locate(session, principal, conversation_id, message_id, index)
    blob = await open_blob(stores if stores is not None else attachment_stores(db),
                           found.storage_key)  # fmt: skip
    if blob is None:
        raise NotFound(f"the file of attachment {index} is no longer stored",
                       code="attachment_missing")  # fmt: skip
    entry = found.entry
    ctype = served_type(entry.get("content_type"))
    details = {
        "conversation_id": str(found.conversation_id), "index": index,
        "filename": entry.get("filename"), "content_type": entry.get("content_type"),
        "size": blob.size, "sha256": entry.get("sha256"),
    }  # fmt: skip
    async with db.job(principal.tenant_id) as own:  # committed before any byte leaves
        await audit.record(own, tenant_id=principal.tenant_id, action=AUDIT_ACTION,
                           actor=principal.actor, target_type="message",
                           target_id=found.message_id, details=details)  # fmt: skip
    headers = {
        "Content-Disposition": content_disposition(
            entry.get("filename"), inline=inline and ctype in INLINE_TYPES
        ),
        "Content-Length": str(blob.size),
        # X-Content-Type-Options: nosniff is on every response (kit/middleware.py)
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "private, no-store",
        "Cross-Origin-Resource-Policy": "same-origin",
    }
    sha = entry.get("sha256")
    if isinstance(sha, str) and re.fullmatch(r"[0-9a-f]{64}", sha):
        headers["ETag"] = f'"{sha}"'
    return StreamingResponse(blob.chunks, media_type=ctype, headers=headers)
