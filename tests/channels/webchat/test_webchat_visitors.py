"""Who a visitor is and what they may do: identity verification, origins, limits, offline."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
import websockets
from conftest import Org, login
from fastapi import FastAPI
from sqlalchemy import select
from webchat_support import (
    SITE,
    conversations,
    go_online,
    make_web_inbox,
    messages,
    say,
    serve,
    start,
    token_for,
    visitor,
    wapp,
    wclient,
)

from relaydesk.channels.webchat import user_hash
from relaydesk.customers.models import CustomerIdentity
from relaydesk.kit.db import Database

__all__ = ["wapp", "wclient"]

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


async def _secret(client: httpx.AsyncClient, org: Org, inbox: uuid.UUID) -> str:
    owner = await login(client, org, "owner")
    r = await client.post(f"/api/v1/channels/web-chat/{inbox}/identity-secret", headers=owner)
    assert r.status_code == 201, r.text
    return str(r.json()["secret"])


async def test_a_verified_user_joins_their_customer_and_forged_hashes_are_refused(
    wapp: FastAPI, wclient: httpx.AsyncClient, db: Database, org_a: Org
) -> None:
    owner = await login(wclient, org_a, "owner")
    inbox = await make_web_inbox(db, org_a, wapp, identity_verification=True)
    secret = await _secret(wclient, org_a, inbox)
    r = await wclient.post("/api/v1/customers", headers=owner, json={"name": "韩梅梅"})
    customer = r.json()["id"]
    r = await wclient.post(
        f"/api/v1/customers/{customer}/identities",
        headers=owner,
        json={"kind": "app_user", "namespace": "website", "value": "u-1001"},
    )
    assert r.status_code == 201, r.text

    forged = await start(wclient, inbox, user_id="u-1001", user_hash=user_hash("guess", "u-1001"))
    assert forged.status_code == 401 and forged.json()["error"]["code"] == "identity_forged"
    # a hash of another user id does not fit either
    other = await start(wclient, inbox, user_id="u-1001", user_hash=user_hash(secret, "u-1002"))
    assert other.json()["error"]["code"] == "identity_forged"
    missing = await start(wclient, inbox, user_id="u-1001")
    assert missing.status_code == 401 and "user_hash is required" in missing.text

    good = await start(wclient, inbox, user_id="u-1001", user_hash=user_hash(secret, "u-1001"))
    assert good.status_code == 200 and good.json()["verified"] is True
    async with serve(wapp) as base:
        ws, _ = await visitor(base, inbox, good.json()["token"])
        ack = await say(ws, "我是老客户", "c-1")
        await ws.close()
    [conversation] = await conversations(db, org_a, inbox)
    assert str(conversation.customer_id) == customer  # joined, not a new customer
    assert ack["message"]["text"] == "我是老客户"


async def test_without_verification_a_user_id_is_only_an_unverified_claim(
    wapp: FastAPI, wclient: httpx.AsyncClient, db: Database, org_a: Org
) -> None:
    owner = await login(wclient, org_a, "owner")
    inbox = await make_web_inbox(db, org_a, wapp)
    r = await wclient.post("/api/v1/customers", headers=owner, json={"name": "韩梅梅"})
    customer = r.json()["id"]
    await wclient.post(
        f"/api/v1/customers/{customer}/identities",
        headers=owner,
        json={"kind": "app_user", "namespace": "website", "value": "u-1001"},
    )
    token = await token_for(wclient, inbox, user_id="u-1001")  # anyone could type this
    async with serve(wapp) as base:
        ws, _ = await visitor(base, inbox, token)
        await say(ws, "我是韩梅梅", "c-1")
        await ws.close()
    [conversation] = await conversations(db, org_a, inbox)
    assert str(conversation.customer_id) != customer  # never impersonated


async def test_pages_of_other_sites_are_refused(
    wapp: FastAPI, wclient: httpx.AsyncClient, db: Database, org_a: Org
) -> None:
    inbox = await make_web_inbox(db, org_a, wapp, allowed_origins=["https://*.example.com"])
    token = await token_for(wclient, inbox, origin="https://m.example.com")
    evil = await start(wclient, inbox, origin="https://evil.example.net")
    assert evil.status_code == 403 and evil.json()["error"]["code"] == "origin_not_allowed"
    assert evil.headers["access-control-allow-origin"] == "*"  # the widget can read why
    async with serve(wapp) as base:
        with pytest.raises(websockets.InvalidStatus) as refused:
            await websockets.connect(f"{base}/widget/ws/{inbox}", origin="https://evil.example.net")  # type: ignore[arg-type]
        assert refused.value.response.status_code == 403
        ws, _ = await visitor(base, inbox, token, origin="https://www.example.com")
        await ws.close()
        # Relaydesk's own pages (the demo page) may always use the chat
        own = base.replace("ws://", "http://")
        ws, _ = await visitor(base, inbox, token, origin=own)
        await ws.close()


async def test_oversized_messages_and_files_are_refused_clearly(
    wapp: FastAPI, wclient: httpx.AsyncClient, db: Database, org_a: Org
) -> None:
    inbox = await make_web_inbox(db, org_a, wapp, max_message_chars=100, max_attachment_bytes=4096)
    token = await token_for(wclient, inbox)
    headers = {"Origin": SITE, "X-Visitor-Token": token, "X-Filename": "%E5%8F%91%E7%A5%A8.png"}
    url = f"/widget/api/{inbox}/uploads"
    big = await wclient.post(
        url, content=PNG + b"\x00" * 5000, headers={**headers, "Content-Type": "image/png"}
    )
    assert big.status_code == 413 and "at most 4096" in big.json()["error"]["message"]
    html = await wclient.post(
        url, content=b"<script>", headers={**headers, "Content-Type": "text/html"}
    )
    assert html.status_code == 415
    fake = await wclient.post(
        url, content=b"MZ\x90\x00", headers={**headers, "Content-Type": "image/png"}
    )
    assert fake.status_code == 415 and "not image/png" in fake.text
    ok = await wclient.post(url, content=PNG, headers={**headers, "Content-Type": "image/png"})
    assert ok.status_code == 201, ok.text
    assert ok.json()["filename"] == "发票.png"

    async with serve(wapp) as base:
        ws, _ = await visitor(base, inbox, token)
        long = await say(ws, "长" * 101, "c-1")
        assert long["type"] == "error" and long["code"] == "message_too_long"
        assert "at most 100" in long["message"]
        assert await conversations(db, org_a, inbox) == []  # nothing stored
        sent = await say(ws, "", "c-2", attachments=[ok.json()["upload"]])
        assert sent["type"] == "ack" and sent["message"]["content_type"] == "image"
        stolen = await say(ws, "再发一次", "c-3", attachments=["forged.token"])
        assert stolen["code"] == "validation_error" and "upload refused" in stolen["message"]
        await ws.close()
    link = sent["message"]["attachments"][0]["url"]
    image = await wclient.get(link)
    assert image.status_code == 200 and image.content == PNG
    assert image.headers["content-type"] == "image/png"
    assert (await wclient.get("/widget/files/not-a-link")).status_code == 404


async def test_offline_messages_wait_as_pending_and_the_prechat_form_is_enforced(
    wapp: FastAPI, wclient: httpx.AsyncClient, db: Database, org_a: Org
) -> None:
    prechat = {"enabled": True, "name": "required", "phone": "required", "email": "hidden"}
    inbox = await make_web_inbox(db, org_a, wapp, prechat=prechat)
    config = (await wclient.get(f"/widget/api/{inbox}/config")).json()
    assert config["online"] is False and config["offline_message"]["en"].startswith("We are away")
    token = await token_for(wclient, inbox)
    async with serve(wapp) as base:
        ws, ready = await visitor(base, inbox, token)
        assert ready["online"] is False
        early = await say(ws, "有人吗", "c-1")
        assert early["code"] == "prechat_required"
        await ws.close()
    r = await start(wclient, inbox, token=token, name="王先生")
    assert r.status_code == 422 and r.json()["error"]["details"][0]["loc"] == ["body", "phone"]
    r = await start(wclient, inbox, token=token, name="王先生", phone="not a phone")
    assert r.status_code == 422 and r.json()["error"]["details"][0]["loc"] == ["body", "phone"]
    r = await start(wclient, inbox, token=token, name="王先生", phone="139 1234 5678")
    assert r.status_code == 200 and r.json()["prechat_required"] is False
    async with serve(wapp) as base:
        ws, _ = await visitor(base, inbox, r.json()["token"])
        left = await say(ws, "请尽快回电", "c-2")
        assert left["type"] == "ack" and left["offline"] is True
        await ws.close()
    [conversation] = await conversations(db, org_a, inbox)
    assert conversation.status == "pending"
    async with db.job(org_a.id) as session:
        rows = await session.scalars(
            select(CustomerIdentity).where(CustomerIdentity.customer_id == conversation.customer_id)
        )
        kinds = {(i.kind, i.value, i.verified) for i in rows}
    assert ("phone", "+8613912345678", False) in kinds  # typed in: unverified
    assert any(kind == "visitor" and verified for kind, _, verified in kinds)
    # an agent coming online later sees it waiting
    agent = await login(wclient, org_a, "agent")
    await go_online(wclient, agent)
    assert (await wclient.get(f"/widget/api/{inbox}/config")).json()["online"] is True
    [message] = await messages(db, org_a, conversation.id)
    assert message.body == "请尽快回电"


async def test_widget_endpoints_config_cors_and_admin_snippet(
    wapp: FastAPI, wclient: httpx.AsyncClient, db: Database, org_a: Org, org_b: Org
) -> None:
    inbox = await make_web_inbox(db, org_a, wapp, title={"zh-CN": "售后客服", "en": "Support"})
    r = await wclient.get(f"/widget/api/{inbox}/config", headers={"Origin": SITE})
    assert r.json()["title"] == {"zh-CN": "售后客服", "en": "Support"}
    assert r.headers["access-control-allow-origin"] == "*"
    pre = await wclient.options(
        f"/widget/api/{inbox}/session",
        headers={
            "Origin": SITE,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert pre.status_code == 204 and "content-type" in pre.headers["access-control-allow-headers"]
    assert (await wclient.get(f"/widget/api/{uuid.uuid4()}/config")).status_code == 404
    assert (await wclient.get("/widget/api/nope/config")).status_code == 404

    agent = await login(wclient, org_a, "agent")
    admin = await login(wclient, org_a, "admin")
    snippet_url = f"/api/v1/channels/web-chat/{inbox}/snippet"
    assert (await wclient.get(snippet_url, headers=agent)).status_code == 403
    snip = (await wclient.get(snippet_url, headers=admin)).json()
    assert snip["html"] == (
        f'<script src="http://testserver/widget/widget.js" data-inbox="{inbox}" async></script>'
    )
    assert snip["secret_set"] is False
    outsider = await login(wclient, org_b, "owner")
    for method, path in (
        ("GET", snippet_url),
        ("POST", snippet_url.replace("snippet", "identity-secret")),
    ):
        r = await wclient.request(method, path, headers=outsider)
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    first = await _secret(wclient, org_a, inbox)
    second = await _secret(wclient, org_a, inbox)
    assert first != second and len(second) >= 40
    assert (await wclient.get(snippet_url, headers=admin)).json()["secret_set"] is True
    inbox_out = (await wclient.get(f"/api/v1/inboxes/{inbox}", headers=admin)).json()
    assert second not in json.dumps(inbox_out)  # never shown again

    page = await wclient.get(f"/widget/demo/{inbox}?user_id=%22%3E%3Cscript%3E")
    assert page.status_code == 200 and "<script>" not in page.text.replace(
        '<script src="/widget/widget.js"', ""
    )
    assert f'data-inbox="{inbox}"' in page.text


async def test_inbox_settings_are_validated_with_the_field_named(
    wapp: FastAPI, wclient: httpx.AsyncClient, db: Database, org_a: Org
) -> None:
    admin = await login(wclient, org_a, "admin")
    bad = {"allowed_origins": ["https://shop.example.com/path"], "color": "blue"}
    r = await wclient.post(
        "/api/v1/inboxes",
        headers=admin,
        json={"name": "官网", "channel": "web_chat", "settings": bad},
    )
    assert r.status_code == 422, r.text
    locs = [d["loc"] for d in r.json()["error"]["details"]]
    assert ["body", "settings", "allowed_origins"] in locs and ["body", "settings", "color"] in locs
    hours = {"timezone": "Mars/Olympus", "start": "18:00", "end": "09:00"}
    r = await wclient.post(
        "/api/v1/inboxes",
        headers=admin,
        json={"name": "官网", "channel": "web_chat", "settings": {"business_hours": hours}},
    )
    assert r.status_code == 422 and "business_hours" in r.text
    good = {
        "allowed_origins": ["https://*.example.com"],
        "greeting": {"zh-CN": "欢迎光临"},
        "prechat": {"enabled": True, "phone": "required"},
    }
    r = await wclient.post(
        "/api/v1/inboxes",
        headers=admin,
        json={"name": "官网", "channel": "web_chat", "settings": good},
    )
    assert r.status_code == 201, r.text
    stored = r.json()["settings"]
    assert stored["greeting"] == {"zh-CN": "欢迎光临", "en": ""}
    assert stored["max_message_chars"] == 5000 and stored["identity_verification"] is False
