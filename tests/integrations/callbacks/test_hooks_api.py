"""POST /hooks/{tenant}/{instance}/{callback}: verify, store once, answer fast (both backends)."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import hmac
import json
import time
from typing import Any

import httpx
import pytest
from conftest import Org
from fastapi import FastAPI
from hooks_support import (
    APP_KEY,
    APP_SECRET,
    HMAC_SECRET,
    SW_SECRET,
    compact,
    inbox_count,
    inbox_rows,
    make_instance,
    mount_hooks,
    ticket_event,
    ticket_headers,
)
from standardwebhooks.webhooks import Webhook

from relaydesk.config import Settings
from relaydesk.integrations.hooks_api import HookTargets
from relaydesk.integrations.models import ConnectorInstance
from relaydesk.kit.crypto import Keyring
from relaydesk.kit.db import Database

HOOK = "/hooks/acme/tickets/ticket_status_changed"
NOT_FOUND = "No callback endpoint here (unknown tenant, connector instance or callback)"


@pytest.fixture(autouse=True)
def _hooks(app: FastAPI) -> None:
    mount_hooks(app)


@pytest.fixture
async def tickets(db: Database, settings: Settings, org_a: Org) -> Org:
    await make_instance(db, settings, org_a.id)
    return org_a


async def post(client: httpx.AsyncClient, body: bytes, headers: dict[str, str],
               path: str = HOOK) -> httpx.Response:  # fmt: skip
    return await client.post(path, content=body, headers=headers)


def error(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()["error"]
    return body


async def test_a_signed_callback_is_stored_once_and_answered_202(
    client: httpx.AsyncClient, db: Database, tickets: Org
) -> None:
    event = ticket_event(version=2)
    body = compact(event)
    started = time.perf_counter()
    r = await post(client, body, ticket_headers(body))
    assert r.status_code == 202, r.text
    assert time.perf_counter() - started < 1.0
    assert r.json()["status"] == "accepted"
    assert r.json()["event_id"] == event["eventId"]
    (row,) = await inbox_rows(db, tickets.id)
    assert str(row.id) == r.json()["id"]
    assert (row.callback, row.event_id, row.event_type) == (
        "ticket_status_changed", event["eventId"], "ticket.status_changed")
    assert (row.entity_key, row.entity_version) == ("GD202611210001", "2")
    assert row.payload == event
    assert (row.status, row.attempts) == ("pending", 0)

    # the sender retries (new timestamp, new signature, same event): a duplicate, not a new row
    r = await post(client, body, ticket_headers(body, at=time.time() + 5))
    assert r.status_code == 200
    assert r.json() == {"status": "duplicate", "event_id": event["eventId"]}
    assert await inbox_count(db, tickets.id) == 1


async def test_an_invalid_signature_is_401_and_nothing_is_stored(
    client: httpx.AsyncClient, db: Database, tickets: Org
) -> None:
    body = compact(ticket_event())
    r = await post(client, body, ticket_headers(body, secret="guessed-secret"))
    assert r.status_code == 401
    assert error(r)["code"] == "invalid_signature"
    assert "www-authenticate" not in r.headers
    headers = ticket_headers(body)
    del headers["X-Ticket-Signature"]
    r = await post(client, body, headers)
    assert r.status_code == 401
    assert error(r)["message"] == "The callback has no X-Ticket-Signature header"
    assert await inbox_count(db, tickets.id) == 0


async def test_a_replayed_old_timestamp_is_401_and_nothing_is_stored(
    client: httpx.AsyncClient, db: Database, tickets: Org
) -> None:
    body = compact(ticket_event())
    r = await post(client, body, ticket_headers(body, at=time.time() - 301))
    assert r.status_code == 401
    assert error(r)["code"] == "timestamp_out_of_tolerance"
    r = await post(client, body, ticket_headers(body, at=time.time() + 3600))
    assert r.status_code == 401
    assert "in the future" in error(r)["message"]
    assert await inbox_count(db, tickets.id) == 0


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"eventId": "e1", "version": 2,', "not valid JSON at line 1, column 32: Expecting"),
        (b'[{"eventId": "e1"}]', "must be a JSON object or XML document, got a JSON list"),
        (b"", "got empty"),
        (b'{"eventId": NaN}', "not valid JSON"),
    ],
)
async def test_a_malformed_body_is_400_with_the_reason(
    client: httpx.AsyncClient, db: Database, tickets: Org, body: bytes, reason: str
) -> None:
    r = await post(client, body, ticket_headers(body))  # correctly signed garbage
    assert r.status_code == 400
    assert error(r)["code"] == "malformed_body"
    assert reason in error(r)["message"]
    assert await inbox_count(db, tickets.id) == 0


async def test_a_missing_event_id_is_400(
    client: httpx.AsyncClient, db: Database, tickets: Org
) -> None:
    event = ticket_event()
    del event["eventId"]
    body = compact(event)
    r = await post(client, body, ticket_headers(body))
    assert r.status_code == 400
    assert error(r)["code"] == "missing_event_id"
    assert error(r)["message"] == "the callback has no event id at 'eventId'"
    assert await inbox_count(db, tickets.id) == 0


async def test_an_unreadable_entity_version_is_400(
    client: httpx.AsyncClient, db: Database, tickets: Org
) -> None:
    body = compact(ticket_event(version="v2-final"))
    r = await post(client, body, ticket_headers(body))
    assert r.status_code == 400
    assert "neither a number nor an ISO 8601 timestamp" in error(r)["message"]


async def test_an_xml_callback_is_parsed(
    client: httpx.AsyncClient, db: Database, tickets: Org
) -> None:
    xml = ('<?xml version="1.0" encoding="UTF-8"?><trackingEvent><eventId>TE-88</eventId>'
           "<waybillNo>SF1234567890</waybillNo><updatedAt>2026-11-21 10:30:00</updatedAt>"
           "<location>上海市浦东新区</location></trackingEvent>").encode()  # fmt: skip
    digest = hmac.new(HMAC_SECRET.encode(), b"TE-88:" + xml, hashlib.sha256).digest()
    headers = {"Content-Type": "text/xml; charset=utf-8",
               "X-Signature": base64.b64encode(digest).decode()}  # fmt: skip
    r = await post(client, xml, headers, "/hooks/acme/tickets/tracking_xml")
    assert r.status_code == 202, r.text
    (row,) = await inbox_rows(db, tickets.id)
    assert row.event_type == "custom.tracking_updated"
    assert (row.event_id, row.entity_key, row.entity_version) == (
        "TE-88", "SF1234567890", "2026-11-21 10:30:00")
    assert row.payload == {"eventId": "TE-88", "waybillNo": "SF1234567890",
                           "updatedAt": "2026-11-21 10:30:00", "location": "上海市浦东新区"}
    evil = b'<!DOCTYPE x [<!ENTITY a "b">]><x><eventId>&a;</eventId></x>'
    digest = hmac.new(HMAC_SECRET.encode(), b":" + evil, hashlib.sha256).digest()
    r = await post(client, evil, {**headers, "X-Signature": base64.b64encode(digest).decode()},
                   "/hooks/acme/tickets/tracking_xml")  # fmt: skip
    assert r.status_code == 400
    assert "not allowed" in error(r)["message"]


async def test_standard_webhooks_end_to_end_with_the_webhook_id_as_event_id(
    client: httpx.AsyncClient, db: Database, tickets: Org
) -> None:
    body = b'{"type":"call.ended","data":{"duration":42}}'  # no data.id in this body
    at = dt.datetime.now(dt.UTC)
    headers = {"webhook-id": "msg_7", "webhook-timestamp": str(int(at.timestamp())),
               "webhook-signature": Webhook(SW_SECRET).sign("msg_7", at, body.decode()),
               "Content-Type": "application/json"}  # fmt: skip
    r = await post(client, body, headers, "/hooks/acme/tickets/sw_event")
    assert r.status_code == 202, r.text
    assert r.json()["event_id"] == "msg_7"
    r = await post(client, body, headers, "/hooks/acme/tickets/sw_event")
    assert r.json()["status"] == "duplicate"


async def test_app_key_signed_notification(
    client: httpx.AsyncClient, db: Database, tickets: Org
) -> None:
    body = '{"notifyId":"N-1","orderNo":"YQ20261121000001","status":"PAID"}'
    params = {"appKey": APP_KEY, "timestamp": str(int(time.time() * 1000)), "nonce": "n1"}
    keys = sorted(params)
    text = APP_SECRET + "".join(k + params[k] for k in keys) + body + APP_SECRET
    params["sign"] = hashlib.md5(text.encode()).hexdigest().upper()
    r = await client.post("/hooks/acme/tickets/open_notify", params=params, content=body)
    assert r.status_code == 202, r.text
    params["sign"] = "0" * 32
    r = await client.post("/hooks/acme/tickets/open_notify", params=params, content=body)
    assert r.status_code == 401


async def test_an_unmapped_event_type_is_acknowledged_and_not_stored(
    client: httpx.AsyncClient, db: Database, tickets: Org
) -> None:
    body = b'{"id":"evt_9","type":"customer.updated"}'
    t = int(time.time())
    sig = hmac.new(b"whsec_stripe_test_secret", f"{t}.".encode() + body, hashlib.sha256)
    headers = {"Stripe-Signature": f"t={t},v1={sig.hexdigest()}"}
    r = await post(client, body, headers, "/hooks/acme/tickets/stripe_event")
    assert r.status_code == 200
    assert r.json() == {"status": "ignored", "event_id": "evt_9"}
    assert await inbox_count(db, tickets.id) == 0


async def test_unknown_or_disabled_targets_are_404(
    client: httpx.AsyncClient, db: Database, settings: Settings, tickets: Org, org_b: Org
) -> None:
    await make_instance(db, settings, org_b.id, name="legacy", enabled=False)
    body = compact(ticket_event())
    for path in (
        "/hooks/nobody/tickets/ticket_status_changed",     # unknown tenant
        "/hooks/acme/crm/ticket_status_changed",           # unknown instance
        "/hooks/acme/tickets/no_such_callback",            # unknown callback
        "/hooks/globex/legacy/ticket_status_changed",      # disabled instance
        "/hooks/globex/tickets/ticket_status_changed",     # acme's instance, globex's URL
    ):  # fmt: skip
        r = await post(client, body, ticket_headers(body), path)
        assert r.status_code == 404, path
        assert error(r)["message"] == NOT_FOUND
    assert await inbox_count(db, tickets.id) == 0
    assert await inbox_count(db, org_b.id) == 0


async def test_an_oversize_body_is_413(
    client: httpx.AsyncClient, db: Database, settings: Settings, tickets: Org
) -> None:
    event = ticket_event(remark="很" * (settings.http.max_body_bytes // 3 + 10))
    body = compact(event)
    r = await post(client, body, ticket_headers(body))
    assert r.status_code == 413
    assert error(r)["code"] == "payload_too_large"
    assert await inbox_count(db, tickets.id) == 0


async def test_the_route_is_documented_in_openapi(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/api/v1/openapi.json")).json()
    operation = schema["paths"]["/hooks/{tenant_slug}/{instance_name}/{callback}"]["post"]
    for scheme in ("hmac_sha256_hex", "github", "stripe", "standard_webhooks", "app_key_sign"):
        assert scheme in operation["description"]
    assert {"200", "202", "400", "401", "404", "413"} <= set(operation["responses"])
    assert "application/xml" in operation["requestBody"]["content"]
    assert json.dumps(operation)  # serialisable


async def test_disabling_an_instance_here_takes_effect_on_the_next_callback(
    client: httpx.AsyncClient, app: FastAPI, db: Database, settings: Settings, org_a: Org
) -> None:
    instance = await make_instance(db, settings, org_a.id)
    app.state.hook_targets = HookTargets(db, Keyring.from_settings(settings), ttl=60)
    body = compact(ticket_event())
    assert (await post(client, body, ticket_headers(body))).status_code == 202  # now cached
    async with db.job(org_a.id) as session:
        row = await session.get(ConnectorInstance, instance.id)
        assert row is not None
        row.enabled = False
    body = compact(ticket_event())
    r = await post(client, body, ticket_headers(body))
    assert r.status_code == 404  # the commit cleared the cache, long before its ttl
    assert await inbox_count(db, org_a.id) == 1


async def test_a_change_made_by_another_process_takes_effect_within_the_cache_ttl(
    client: httpx.AsyncClient, app: FastAPI, db: Database, settings: Settings, org_a: Org
) -> None:
    instance = await make_instance(db, settings, org_a.id)
    app.state.hook_targets = HookTargets(db, Keyring.from_settings(settings), ttl=0.2)
    body = compact(ticket_event())
    assert (await post(client, body, ticket_headers(body))).status_code == 202
    # an UPDATE on the connection, not through the session: like a change another process
    # commits, this process hears nothing of it
    table = ConnectorInstance.__table__
    async with db.job(org_a.id) as session:
        conn = await session.connection()
        await conn.execute(table.update().where(table.c.id == instance.id).values(enabled=False))
    body = compact(ticket_event())
    assert (await post(client, body, ticket_headers(body))).status_code == 202  # cached
    await asyncio.sleep(0.25)  # the ttl itself is what is tested
    body = compact(ticket_event())
    assert (await post(client, body, ticket_headers(body))).status_code == 404


async def test_an_instance_without_its_callback_secret_is_a_server_error(
    client: httpx.AsyncClient, db: Database, settings: Settings, org_a: Org
) -> None:
    await make_instance(db, settings, org_a.id, config={"app_key": "k"})
    body = compact(ticket_event())
    r = await post(client, body, ticket_headers(body))
    assert r.status_code == 500  # the sender retries until an administrator fixes it
    assert error(r)["code"] == "callback_misconfigured"
    assert await inbox_count(db, org_a.id) == 0


async def test_an_overlong_event_id_is_400(
    client: httpx.AsyncClient, db: Database, tickets: Org
) -> None:
    body = compact(ticket_event(eventId="e" * 201))
    r = await post(client, body, ticket_headers(body))
    assert r.status_code == 400
    assert error(r)["message"] == "event_id is longer than 200 characters"
