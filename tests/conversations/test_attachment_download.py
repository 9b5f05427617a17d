"""Agents download the files customers sent (``.../messages/{mid}/attachments/{index}``), and
the web chat's upload route takes files up to the attachment limit, not ``max_body_bytes``."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote, unquote

import httpx
import pytest
from admin.admin_helpers import create_role, create_user, login_as
from conftest import PASSWORD, Org, login
from conversations.conversations_support import customer_says, make_customer, make_inbox
from fastapi import FastAPI
from sqlalchemy import select, update

from relaydesk.app import create_app
from relaydesk.audit.models import AuditEntry
from relaydesk.channels import apply_settings
from relaydesk.channels.email.runtime import EmailRuntime, bind_email_runtime, email_runtime
from relaydesk.channels.email.storage import S3Storage, attachment_key
from relaydesk.channels.webchat import service as webchat
from relaydesk.channels.webchat.runtime import webchat_runtime
from relaydesk.config import HttpSettings, Settings
from relaydesk.conversations.attachments import AUDIT_ACTION, content_disposition
from relaydesk.conversations.models import Conversation, Inbox
from relaydesk.kit.db import Database
from relaydesk.tenancy.models import Department

API = "/api/v1"
SITE = "https://shop.example.com"
PDF = b"%PDF-1.7\n" + bytes(range(256)) * 40 + b"\n%%EOF"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
NAME = "发票 2026年11月(张三).pdf"
MiB = 1_048_576


async def web_inbox(db: Database, org: Org, app: FastAPI, **settings: Any) -> uuid.UUID:
    async with db.job(org.id) as session:
        inbox = Inbox(tenant_id=org.id, name=f"官网 {uuid.uuid4().hex[:6]}", channel="web_chat")
        apply_settings(inbox, {"allowed_origins": [SITE], **settings}, app.state.keyring)
        session.add(inbox)
        await session.flush()
        return inbox.id


async def visitor_token(client: httpx.AsyncClient, inbox: uuid.UUID) -> str:
    r = await client.post(f"/widget/api/{inbox}/session", json={}, headers={"Origin": SITE})
    assert r.status_code == 200, r.text
    return str(r.json()["token"])


async def upload(client: httpx.AsyncClient, inbox: uuid.UUID, token: str, data: Any,
                 ctype: str = "application/pdf", name: str = NAME) -> httpx.Response:  # fmt: skip
    headers = {"Origin": SITE, "X-Visitor-Token": token, "X-Filename": quote(name),
               "Content-Type": ctype}  # fmt: skip
    return await client.post(f"/widget/api/{inbox}/uploads", content=data, headers=headers)


async def widget_message_with_file(
    client: httpx.AsyncClient, db: Database, app: FastAPI, org: Org
) -> tuple[uuid.UUID, uuid.UUID]:
    """A visitor uploads a PDF and sends it (what the widget's socket does)."""
    inbox_id = await web_inbox(db, org, app)
    token = await visitor_token(client, inbox_id)
    up = await upload(client, inbox_id, token, PDF)
    assert up.status_code == 201, up.text
    runtime = webchat_runtime(db)
    inbox = await webchat.load_inbox(db, inbox_id)
    visitor = runtime.signer.visitor(token, inbox_id)
    uploads = [up.json()["upload"]]
    posted = await webchat.post_message(db, runtime, inbox, visitor, "请看发票", uploads)
    return posted.conversation_id, uuid.UUID(posted.message["id"])


def url(conversation: uuid.UUID, message: uuid.UUID, index: int = 0) -> str:
    return f"{API}/conversations/{conversation}/messages/{message}/attachments/{index}"


async def audit_rows(db: Database, org: Org) -> list[AuditEntry]:
    async with db.job(org.id) as session:
        stmt = select(AuditEntry).where(AuditEntry.action == AUDIT_ACTION)
        return list((await session.scalars(stmt)).all())


async def test_an_agent_downloads_a_widget_upload_byte_identical_and_audited(
    client: httpx.AsyncClient, app: FastAPI, db: Database, org_a: Org
) -> None:
    conversation, message = await widget_message_with_file(client, db, app, org_a)
    agent = await login(client, org_a, "agent")
    r = await client.get(url(conversation, message), headers=agent)
    assert r.status_code == 200, r.text
    assert r.content == PDF
    assert r.headers["content-type"] == "application/pdf"
    assert r.headers["content-length"] == str(len(PDF))
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in r.headers["content-security-policy"]
    assert r.headers["cache-control"] == "private, no-store"
    disposition = r.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="')
    encoded = disposition.split("filename*=UTF-8''", 1)[1]
    assert unquote(encoded) == NAME, "the Chinese file name survives the header"
    assert encoded.isascii() and "%E5%8F%91%E7%A5%A8" in encoded
    [row] = await audit_rows(db, org_a)
    assert row.target_id == str(message) and row.actor_id == str(org_a.users["agent"])
    assert row.details["filename"] == NAME and row.details["size"] == len(PDF)
    assert row.details["conversation_id"] == str(conversation) and row.details["index"] == 0


def test_content_disposition_has_an_ascii_fallback_and_the_rfc5987_name() -> None:
    assert content_disposition("发票.pdf") == (
        "attachment; filename=\"file.pdf\"; filename*=UTF-8''%E5%8F%91%E7%A5%A8.pdf"
    )
    assert content_disposition("résumé v2.pdf", inline=True) == (
        "inline; filename=\"resume v2.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9%20v2.pdf"
    )
    hostile = content_disposition('a"; filename=evil.exe\r\n/../x.txt')
    assert "\r" not in hostile and "\n" not in hostile and "/" not in hostile.split("''")[1]
    assert hostile.count('"') == 2, hostile


async def stored_message(db: Database, org: Org, files: list[tuple[str, str, bytes]],
                         ) -> tuple[uuid.UUID, uuid.UUID]:  # fmt: skip
    """A customer message whose attachments were stored as the e-mail channel stores them."""
    storage = email_runtime(db).storage
    entries: list[dict[str, Any]] = []
    for name, ctype, data in files:
        key, digest = attachment_key(org.id, data)
        await storage.put(key, data, ctype)
        entries.append({"filename": name, "content_type": ctype, "size": len(data),
                        "sha256": digest, "storage_key": key})  # fmt: skip
    entries.append({"filename": "big.zip", "content_type": "application/zip", "size": 9 * MiB,
                    "refused": "too large: 9437184 bytes, the limit is 2048 bytes"})  # fmt: skip
    inbox = await make_inbox(db, org, f"客服邮箱 {uuid.uuid4().hex[:6]}", channel="email")
    customer = await make_customer(db, org)
    conversation, message, _ = await customer_says(db, org, inbox, customer, "附件",
                                                   attachments=entries)  # fmt: skip
    return conversation, message


async def test_html_and_svg_are_downloads_never_pages_of_our_origin(
    client: httpx.AsyncClient, db: Database, org_a: Org
) -> None:
    html = b"<html><script>alert(document.cookie)</script></html>"
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    conversation, message = await stored_message(db, org_a, [
        ("页面.html", "text/html", html), ("logo.svg", "image/svg+xml", svg),
        ("photo.png", "image/png", PNG),
    ])  # fmt: skip
    agent = await login(client, org_a, "agent")
    for index, body in ((0, html), (1, svg)):
        r = await client.get(url(conversation, message, index), headers=agent,
                             params={"inline": "true"})  # fmt: skip
        assert r.status_code == 200 and r.content == body
        assert r.headers["content-type"] == "application/octet-stream"
        assert r.headers["content-disposition"].startswith("attachment;"), "never inline"
        assert r.headers["x-content-type-options"] == "nosniff"
    photo = await client.get(url(conversation, message, 2), headers=agent, params={"inline": "1"})
    assert photo.headers["content-type"] == "image/png"
    assert photo.headers["content-disposition"].startswith("inline;"), "a preview was asked for"
    plain = await client.get(url(conversation, message, 2), headers=agent)
    assert plain.headers["content-disposition"].startswith("attachment;")
    refused = await client.get(url(conversation, message, 3), headers=agent)
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "attachment_not_stored"
    assert "too large" in refused.json()["error"]["message"]
    beyond = await client.get(url(conversation, message, 4), headers=agent)
    assert beyond.status_code == 404 and "4 attachment(s)" in beyond.json()["error"]["message"]
    assert (await client.get(url(conversation, message, -1), headers=agent)).status_code == 422
    assert len(await audit_rows(db, org_a)) == 4, "every download audited, refusals not"


async def test_another_tenant_and_other_conversations_get_404(
    client: httpx.AsyncClient, db: Database, org_a: Org, org_b: Org
) -> None:
    conversation, message = await stored_message(db, org_a, [("a.pdf", "application/pdf", PDF)])
    other_conversation, _ = await stored_message(db, org_a, [("b.pdf", "application/pdf", PNG)])
    owner_b = await login(client, org_b, "owner")
    r = await client.get(url(conversation, message), headers=owner_b)
    assert r.status_code == 404 and PDF[:20] not in r.content
    own_b, _ = await stored_message(db, org_b, [("c.pdf", "application/pdf", PNG)])
    assert (await client.get(url(own_b, message), headers=owner_b)).status_code == 404
    agent = await login(client, org_a, "agent")
    mixed = await client.get(url(other_conversation, message), headers=agent)
    assert mixed.status_code == 404, "a message of another conversation"
    assert (await client.get(url(conversation, message), headers=agent)).status_code == 200
    assert await audit_rows(db, org_b) == []


async def test_conversations_read_and_department_scope_are_required(
    client: httpx.AsyncClient, db: Database, org_a: Org
) -> None:
    conversation, message = await stored_message(db, org_a, [("a.pdf", "application/pdf", PDF)])
    owner = await login(client, org_a, "owner")
    await create_role(client, owner, "customer-viewer", ["customers.read", "users.read"])
    await create_user(client, owner, "viewer@acme.example.com", PASSWORD, ["customer-viewer"])
    viewer = await login_as(client, org_a.slug, "viewer@acme.example.com", PASSWORD)
    r = await client.get(url(conversation, message), headers=viewer)
    assert r.status_code == 403 and "conversations.read" in r.text
    read_only = await login(client, org_a, "read-only")  # the built-in role reads conversations
    assert (await client.get(url(conversation, message), headers=read_only)).status_code == 200

    async with db.job(org_a.id) as session:
        north, south = Department(tenant_id=org_a.id, name="北区"), Department(
            tenant_id=org_a.id, name="南区")  # fmt: skip
        session.add_all([north, south])
        await session.flush()
        north_id, south_id = north.id, south.id
        await session.execute(update(Conversation).where(Conversation.id == conversation)
                              .values(department_id=south_id))  # fmt: skip
    await create_role(client, owner, "north-agent", ["conversations.read"], scope="department")
    await create_user(client, owner, "north@acme.example.com", PASSWORD, ["north-agent"],
                      department_id=str(north_id))  # fmt: skip
    north_agent = await login_as(client, org_a.slug, "north@acme.example.com", PASSWORD)
    r = await client.get(url(conversation, message), headers=north_agent)
    assert r.status_code == 404, "a conversation of another department"
    async with db.job(org_a.id) as session:
        await session.execute(update(Conversation).where(Conversation.id == conversation)
                              .values(department_id=north_id))  # fmt: skip
    assert (await client.get(url(conversation, message), headers=north_agent)).status_code == 200


class FakeBucket:
    """An S3-compatible bucket in memory (the signing is tested in test_email_storage.py)."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.gets = 0
        self.down = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"].startswith("AWS4-HMAC-SHA256 ")
        if self.down:
            return httpx.Response(503, text="<Error><Code>SlowDown</Code></Error>")
        path = request.url.path
        if request.method == "PUT":
            self.objects[path] = request.content
            return httpx.Response(200)
        if path not in self.objects:
            return httpx.Response(404)
        self.gets += request.method == "GET"
        return httpx.Response(200, content=self.objects[path] if request.method == "GET" else b"")


@pytest.fixture
async def s3_store(app: FastAPI, db: Database) -> AsyncIterator[tuple[S3Storage, FakeBucket]]:
    bucket = FakeBucket()
    store = S3Storage("http://s3.intranet:9000", "relaydesk", "AKID", "SECRET", prefix="t/",
                      client=httpx.AsyncClient(transport=httpx.MockTransport(bucket)))  # fmt: skip
    bind_email_runtime(db, EmailRuntime(app.state.keyring, store))
    yield store, bucket
    await store.aclose()


async def test_files_in_an_s3_bucket_download_the_same_way(
    client: httpx.AsyncClient, db: Database, org_a: Org, s3_store: tuple[S3Storage, FakeBucket]
) -> None:
    _, bucket = s3_store
    conversation, message = await stored_message(db, org_a, [(NAME, "application/pdf", PDF)])
    assert len(bucket.objects) == 1, "stored in the bucket, not on disk"
    agent = await login(client, org_a, "agent")
    r = await client.get(url(conversation, message), headers=agent)
    assert r.status_code == 200 and r.content == PDF and bucket.gets == 1
    assert unquote(r.headers["content-disposition"].split("''", 1)[1]) == NAME
    bucket.down = True  # the bucket answers errors: unavailable for now, not missing, no 500
    down = await client.get(url(conversation, message), headers=agent)
    assert down.status_code == 503 and down.json()["error"]["code"] == "unavailable"
    assert "SlowDown" not in down.text  # the store's own answer stays in the log
    bucket.down = False
    bucket.objects.clear()  # the object was deleted behind our back
    gone = await client.get(url(conversation, message), headers=agent)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "attachment_missing"


# --- uploads larger than http.max_body_bytes ---------------------------------------------------


async def test_widget_uploads_take_files_up_to_the_inbox_limit_above_max_body_bytes(
    client: httpx.AsyncClient, app: FastAPI, db: Database, org_a: Org
) -> None:
    assert app.state.settings.http.max_body_bytes == MiB
    inbox = await web_inbox(db, org_a, app, max_attachment_bytes=3 * MiB)
    config = (await client.get(f"/widget/api/{inbox}/config")).json()
    assert config["max_attachment_bytes"] == 3 * MiB, "the widget is told the real limit"
    token = await visitor_token(client, inbox)
    big = PNG + b"\x00" * (2 * MiB)
    ok = await upload(client, inbox, token, big, "image/png", "截图.png")
    assert ok.status_code == 201, ok.text
    assert ok.json()["size"] == len(big)
    over = await upload(client, inbox, token, PNG + b"\x00" * (3 * MiB), "image/png")
    assert over.status_code == 413
    assert over.json()["error"]["message"].endswith(f"at most {3 * MiB})")
    assert over.json()["error"]["details"] == {"limit_bytes": 3 * MiB}

    async def streamed() -> AsyncIterator[bytes]:  # no Content-Length: chunked
        yield PNG
        for _ in range(4):
            yield b"\x00" * MiB

    chunked = await upload(client, inbox, token, streamed(), "image/png")
    assert chunked.status_code == 413 and f"at most {3 * MiB} bytes" in chunked.text
    other = await client.post(f"{API}/auth/login", content=b"{" + b" " * (2 * MiB) + b"}",
                              headers={"Content-Type": "application/json"})  # fmt: skip
    assert other.status_code == 413, "every other route keeps max_body_bytes"
    assert other.json()["error"]["details"] == {"limit_bytes": MiB}


async def test_the_upload_ceiling_refuses_with_its_limit(
    settings: Settings, db: Database, org_a: Org
) -> None:
    http = HttpSettings(max_upload_bytes=2 * MiB)
    app = create_app(settings.model_copy(update={"http": http}), db=db)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        inbox = await web_inbox(db, org_a, app, max_attachment_bytes=10 * MiB)
        config = (await client.get(f"/widget/api/{inbox}/config")).json()
        assert config["max_attachment_bytes"] == 2 * MiB
        token = await visitor_token(client, inbox)
        r = await upload(client, inbox, token, PNG + b"\x00" * (3 * MiB), "image/png")
    assert r.status_code == 413
    assert r.json()["error"]["message"] == (
        f"Request body is larger than the upload limit of {2 * MiB} bytes"
    )
